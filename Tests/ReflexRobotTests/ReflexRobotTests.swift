// ReflexRobotTests: mirrors Sources/ReflexRobot.
