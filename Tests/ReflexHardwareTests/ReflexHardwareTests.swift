// ReflexHardwareTests: mirrors Sources/ReflexHardware.
