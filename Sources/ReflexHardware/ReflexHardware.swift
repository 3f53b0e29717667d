// ReflexHardware: Serial port, Feetech STS and Dynamixel 2.0 buses, the servo-bus emulator, arms on a bus.
// See docs/ARCHITECTURE.md for where this module sits.
