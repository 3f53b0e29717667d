import ReflexRobot

/// pybullet-style position control of a description's joints, with its buffers made once: the URDF joint indices,
/// the targets and the description's gains, force and velocity limits. Every simulated arm (the task environments,
/// `SimulatedRobot`, the emulator's Bullet servo model) drives its joints through one of these, so the gains and
/// the joint mapping have one home.
public final class PositionControl: @unchecked Sendable {
    /// Joints under control (the description's joints, in its order).
    public let count: Int
    /// URDF joint index of each controlled joint.
    public let jointIndices: UnsafeMutablePointer<Int32>
    /// Position targets (rad or m), in the description's joint order.
    public let targets: UnsafeMutablePointer<Double>
    public let kp: UnsafeMutablePointer<Double>
    public let kd: UnsafeMutablePointer<Double>
    /// Largest force or torque each motor may apply; `nominalForce` holds the description's values.
    public let maxForce: UnsafeMutablePointer<Double>
    public let maxVelocity: UnsafeMutablePointer<Double>
    /// Zero torques, for switching the motors off.
    private let zeros: UnsafeMutablePointer<Double>
    public let nominalForce: [Double]

    /// Targets start at the description's home pose.
    public init(description: RobotDescription) {
        count = description.joints.count
        let n = max(count, 1)
        jointIndices = .allocate(capacity: n)
        targets = .allocate(capacity: n)
        kp = .allocate(capacity: n)
        kd = .allocate(capacity: n)
        maxForce = .allocate(capacity: n)
        maxVelocity = .allocate(capacity: n)
        zeros = .allocate(capacity: n)
        zeros.initialize(repeating: 0, count: n)
        nominalForce = description.control.maxForce
        for (i, j) in description.joints.enumerated() {
            jointIndices[i] = Int32(j.urdfIndex)
            targets[i] = description.home[i]
            kp[i] = description.control.kp[i]
            kd[i] = description.control.kd[i]
            maxForce[i] = description.control.maxForce[i]
            maxVelocity[i] = description.control.maxVelocity[i]
        }
    }

    deinit {
        for p in [targets, kp, kd, maxForce, maxVelocity, zeros] { p.deallocate() }
        jointIndices.deallocate()
    }

    /// URDF joint index of controlled joint `i`.
    @inline(__always)
    public func urdfIndex(_ i: Int) -> Int { Int(jointIndices[i]) }

    /// Sends the targets to the motors of `body` (pybullet's POSITION_CONTROL, one physics step of `dt`).
    /// - Note: Real-time safe.
    public func apply(to world: BulletWorld, body: Int, dt: Double) {
        world.positionControl(body: body, joints: jointIndices, count: count, targets: targets, kp: kp, kd: kd,
                              maxForce: maxForce, maxVelocity: maxVelocity, dt: dt)
    }

    /// Switches the motors of `body` off (zero torque, position control released).
    /// - Note: Real-time safe.
    public func release(in world: BulletWorld, body: Int) {
        world.torqueControl(body: body, joints: jointIndices, count: count, torques: zeros)
    }

    /// Sets every target to the present position of its joint, read from `linkPositions` (indexed by URDF joint).
    /// - Note: Real-time safe.
    public func holdPresent(_ linkPositions: UnsafePointer<Double>) {
        for i in 0 ..< count { targets[i] = linkPositions[urdfIndex(i)] }
    }
}
