import ReflexCore

extension RobotDescription {
    /// The limits of every controlled joint, in control order (arm joints, then the gripper).
    public var jointLimits: [JointLimits] {
        joints.map { JointLimits(lower: $0.lower, upper: $0.upper, velocity: $0.velocity, effort: $0.effort) }
    }
}

extension FakeRobot {
    /// A fake with `description`'s joints and limits, starting at its home pose (a dry run of `reflex run`).
    public convenience init(description: RobotDescription, now: @escaping @Sendable () -> UInt64 = monotonicNanoseconds) throws {
        try self.init(name: "\(description.name) (fake)", jointNames: description.jointNames, limits: description.jointLimits,
                      initialPositions: description.home.count == description.joints.count ? description.home : nil, now: now)
    }
}
