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
    private let control: PositionControl
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
        control = PositionControl(description: description)
        q = .allocate(capacity: max(1, links))
        qd = .allocate(capacity: max(1, links))
        q.initialize(repeating: 0, count: max(1, links))
        qd.initialize(repeating: 0, count: max(1, links))
    }

    private let withTable: Bool

    deinit {
        q.deallocate()
        qd.deallocate()
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
        control.release(in: w, body: arm)
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
        control.holdPresent(q)
        control.apply(to: w, body: arm, dt: dt)
        lifecycle = .active
    }

    public func deactivate() throws {
        try lifecycle.check(.deactivate, robot: name)
        if let w = world { control.release(in: w, body: arm) }
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
            let l = control.urdfIndex(i)
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
        for i in 0 ..< min(n, command.count) where command.position[i].isFinite { control.targets[i] = command.position[i] }
        control.apply(to: w, body: arm, dt: dt)
        return .ok
    }
}
