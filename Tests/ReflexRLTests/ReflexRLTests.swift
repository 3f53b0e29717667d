// ReflexRLTests: mirrors Sources/ReflexRL.
