import ReflexCore
import ReflexRobot

/// A `Robot` whose arm is simulated in Bullet: the control loop, the safety layer and `reflex serve` drive it
/// exactly as they drive hardware.
///
/// Physics advances with the injected clock: each `read` or `write` first steps the world (1/240 s steps) up to
/// `now()`, at most `maxCatchUp` seconds at a time, so a real-time loop sees real-time physics and a test with a
/// manual clock sees exact, repeatable steps. Commands are pybullet-style position targets with the
/// description's gains. While inactive, the motors hold no torque (the arm sags as a real one would).
public final class SimulatedRobot: Robot, @unchecked Sendable {
    public let name: String
    public let jointNames: [String]
    public let limits: [JointLimits]
    public private(set) var lifecycle: LifecycleState = .unconfigured
    public let description: RobotDescription
    /// Physics step (s).
    public let dt: Double
    public var maxCatchUp = 0.1

    private let now: @Sendable () -> UInt64
    private var world: BulletWorld?
    private var arm = 0
    private var simulatedNanos: UInt64 = 0
    private let n: Int
    private let links: Int
    private let indices: UnsafeMutablePointer<Int32>
    private let targets: UnsafeMutablePointer<Double>
    private let kp: UnsafeMutablePointer<Double>
    private let kd: UnsafeMutablePointer<Double>
    private let force: UnsafeMutablePointer<Double>
    private let zeroForce: UnsafeMutablePointer<Double>
    private let maxVelocity: UnsafeMutablePointer<Double>
    private let q: UnsafeMutablePointer<Double>
    private let qd: UnsafeMutablePointer<Double>

    /// - Parameters:
    ///   - withTable: adds the table plane the tasks use.
    ///   - now: the clock physics follows (nanoseconds).
    public init(description: RobotDescription, name: String? = nil, physicsHz: Double = 240, withTable: Bool = true,
                now: @escaping @Sendable () -> UInt64 = monotonicNanoseconds) {
        self.description = description
        self.name = name ?? "\(description.name)@sim"
        jointNames = description.jointNames
        limits = description.joints.map { JointLimits(lower: $0.lower, upper: $0.upper, velocity: $0.velocity, effort: $0.effort) }
        dt = 1 / physicsHz
        self.now = now
        self.withTable = withTable
        n = description.joints.count
        links = description.model.joints.count
        indices = .allocate(capacity: n)
        targets = .allocate(capacity: n)
        kp = .allocate(capacity: n)
        kd = .allocate(capacity: n)
        force = .allocate(capacity: n)
        zeroForce = .allocate(capacity: n)
        maxVelocity = .allocate(capacity: n)
        q = .allocate(capacity: max(1, links))
        qd = .allocate(capacity: max(1, links))
        q.initialize(repeating: 0, count: max(1, links))
        qd.initialize(repeating: 0, count: max(1, links))
        for (i, j) in description.joints.enumerated() {
            indices[i] = Int32(j.urdfIndex)
            targets[i] = description.home[i]
            kp[i] = description.control.kp[i]
            kd[i] = description.control.kd[i]
            force[i] = description.control.maxForce[i]
            zeroForce[i] = 0
            maxVelocity[i] = description.control.maxVelocity[i]
        }
    }

    private let withTable: Bool

    deinit {
        for p in [targets, kp, kd, force, zeroForce, maxVelocity, q, qd] { p.deallocate() }
        indices.deallocate()
    }

    /// The Bullet world (after `configure`), e.g. to add objects.
    public var simulation: BulletWorld? { world }

    public func configure() throws {
        try lifecycle.check(.configure, robot: name)
        let w = BulletWorld()
        do {
            arm = try w.addMultiBody(description.model, fixedBase: true)
        } catch let e as ReflexError {
            throw ReflexError(.device, "cannot build the simulated arm: \(e.message)", at: .init(element: name), cause: e)
        }
        if withTable { w.addPlane() }
        var start = [Double](repeating: 0, count: links)
        for (i, j) in description.joints.enumerated() { start[j.urdfIndex] = description.home[i] }
        w.resetJoints(body: arm, positions: start)
        w.torqueControl(body: arm, joints: indices, count: n, torques: zeroForce)
        world = w
        simulatedNanos = now()
        lifecycle = .inactive
    }

    public func activate() throws {
        try lifecycle.check(.activate, robot: name)
        guard let w = world else { throw ReflexError(.device, "not configured", at: .init(element: name)) }
        advance()
        // Hold the present position.
        w.jointState(body: arm, positions: q, velocities: nil)
        for i in 0 ..< n { targets[i] = q[Int(indices[i])] }
        w.positionControl(body: arm, joints: indices, count: n, targets: targets, kp: kp, kd: kd, maxForce: force,
                          maxVelocity: maxVelocity, dt: dt)
        lifecycle = .active
    }

    public func deactivate() throws {
        try lifecycle.check(.deactivate, robot: name)
        world?.torqueControl(body: arm, joints: indices, count: n, torques: zeroForce)
        lifecycle = .inactive
    }

    public func finalize() {
        world = nil
        lifecycle = .finalized
    }

    /// Steps the world up to the clock.
    private func advance() {
        guard let w = world else { return }
        let t = now()
        guard t > simulatedNanos else { return }
        let stepNanos = UInt64(dt * 1e9)
        var steps = Int((t - simulatedNanos) / stepNanos)
        let cap = Int(maxCatchUp / dt)
        if steps > cap {
            // Too far behind (a paused process): skip ahead instead of freezing the loop.
            simulatedNanos = t - UInt64(cap) * stepNanos
            steps = cap
        }
        if steps > 0 {
            w.step(dt: dt, count: steps)
            simulatedNanos += UInt64(steps) * stepNanos
        }
    }

    public func read(into state: JointState) -> RobotStatus {
        guard lifecycle == .inactive || lifecycle == .active, let w = world else { return RobotStatus(.hold, faults: .notActive) }
        advance()
        w.jointState(body: arm, positions: q, velocities: qd)
        for i in 0 ..< min(n, state.count) {
            let l = Int(indices[i])
            state.position[i] = q[l]
            state.velocity[i] = qd[l]
            state.effort[i] = 0
            state.faults[i] = []
        }
        state.timestamp = now()
        return .ok
    }

    public func write(_ command: JointCommand) -> RobotStatus {
        guard lifecycle == .active, let w = world else { return RobotStatus(.hold, faults: .notActive) }
        advance()
        for i in 0 ..< min(n, command.count) where command.position[i].isFinite { targets[i] = command.position[i] }
        w.positionControl(body: arm, joints: indices, count: n, targets: targets, kp: kp, kd: kd, maxForce: force,
                          maxVelocity: maxVelocity, dt: dt)
        return .ok
    }
}
