// ReflexSimTests: mirrors Sources/ReflexSim.
