// ReflexRobot: Robot descriptions (robots/*.yaml), URDF import, kinematics, the `Robot` protocol and its limits.
// See docs/ARCHITECTURE.md for where this module sits.
