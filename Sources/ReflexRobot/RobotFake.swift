#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore

/// A robot without hardware for tests and benchmarks: each joint follows its target as a first-order lag
/// (time constant `timeConstant`, speed capped at the joint's velocity limit), and faults can be injected from any
/// thread. It records what reached it, so a test can check that no command outside the limits ever did.
public final class FakeRobot: Robot, @unchecked Sendable {
    /// A fault to inject; counts apply to the next calls.
    public enum Fault: Sendable {
        /// The next `n` reads get no reply.
        case dropReads(Int)
        /// Every read gets no reply until `clearFaults()` (a servo that went silent).
        case silent
        /// The next `n` reads return NaN for joint 0's position.
        case nonFiniteReads(Int)
        /// `joint` reports these servo error bits on every read until cleared.
        case servoError(joint: Int, RobotFaults)
        /// The next `n` writes get no reply.
        case failWrites(Int)
        /// Every read takes this long (a late reply), sleeping the calling thread.
        case readLatency(nanoseconds: UInt64)
    }

    /// What reached the fake, for tests.
    public struct Record: Sendable, Equatable {
        public var reads = 0
        public var failedReads = 0
        public var writes = 0
        public var failedWrites = 0
        /// Writes with any joint outside its position limits, or non-finite.
        public var writesOutsideLimits = 0
        /// Largest |Δ command| between consecutive accepted writes, over all joints (rad).
        public var largestStep = 0.0
        public var activations = 0
        public var deactivations = 0
    }

    struct Plan {
        var droppedReads = 0
        var silent = false
        var nonFiniteReads = 0
        var failedWrites = 0
        var readLatency: UInt64 = 0
        var anyServoError = false
    }

    public let name: String
    public let jointNames: [String]
    public let limits: [JointLimits]
    public private(set) var lifecycle: LifecycleState = .unconfigured
    /// Time constant τ of each joint's lag (s).
    public let timeConstant: Double
    private let now: @Sendable () -> UInt64
    private let q: UnsafeMutableBufferPointer<Double>
    private let qd: UnsafeMutableBufferPointer<Double>
    private let target: UnsafeMutableBufferPointer<Double>
    private let last: UnsafeMutableBufferPointer<Double>
    private let servoErrors: UnsafeMutableBufferPointer<RobotFaults>
    private var modelTime: UInt64 = 0
    private var hasLast = false
    private let plan = PIMutex(Plan())
    private let record = PIMutex(Record())

    /// - Parameters:
    ///   - initialPositions: where the joints start (rad); the middle of each range when nil.
    ///   - now: the time source the model integrates over (inject a manual clock's reading in tests).
    public convenience init(name: String = "fake", jointNames: [String], limits: [JointLimits], initialPositions: [Double]? = nil,
                timeConstant: Double = 0.05, now: @escaping @Sendable () -> UInt64 = monotonicNanoseconds) throws {
        guard jointNames.count == limits.count, !jointNames.isEmpty else {
            throw ReflexError(.invalidArgument, "\(jointNames.count) joint names for \(limits.count) limits", at: .init(element: name))
        }
        for (j, l) in zip(jointNames, limits) { try l.validate(joint: j) }
        if let p = initialPositions, p.count != jointNames.count {
            throw ReflexError(.invalidArgument, "\(p.count) initial positions for \(jointNames.count) joints", at: .init(element: name))
        }
        guard timeConstant > 0 else { throw ReflexError(.invalidArgument, "time constant must be positive", at: .init(element: name)) }
        self.init(validated: name, jointNames: jointNames, limits: limits, initialPositions: initialPositions,
                  timeConstant: timeConstant, now: now)
    }

    private init(validated name: String, jointNames: [String], limits: [JointLimits], initialPositions: [Double]?,
                 timeConstant: Double, now: @escaping @Sendable () -> UInt64) {
        self.name = name
        self.jointNames = jointNames
        self.limits = limits
        self.timeConstant = timeConstant
        self.now = now
        let n = jointNames.count
        q = .allocate(capacity: n)
        qd = .allocate(capacity: n)
        target = .allocate(capacity: n)
        last = .allocate(capacity: n)
        servoErrors = .allocate(capacity: n)
        for i in 0 ..< n { q[i] = initialPositions?[i] ?? (limits[i].lower + limits[i].upper) / 2 }
        qd.initialize(repeating: 0)
        _ = target.initialize(fromContentsOf: q)
        last.initialize(repeating: 0)
        servoErrors.initialize(repeating: [])
    }

    /// A six-joint arm (five joints and a gripper, SO-101-like limits) for tests and `reflex bench loop`.
    public static func sixJoint(now: @escaping @Sendable () -> UInt64 = monotonicNanoseconds) -> FakeRobot {
        let names = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
        let limits = [JointLimits(lower: -1.9, upper: 1.9, velocity: 3), JointLimits(lower: -1.7, upper: 1.7, velocity: 3),
                      JointLimits(lower: -1.6, upper: 1.6, velocity: 3), JointLimits(lower: -1.6, upper: 1.6, velocity: 3),
                      JointLimits(lower: -2.7, upper: 2.7, velocity: 3), JointLimits(lower: -0.2, upper: 1.7, velocity: 3)]
        return FakeRobot(validated: "fake", jointNames: names, limits: limits, initialPositions: [0, 0, 0, 0, 0, 0.5],
                         timeConstant: 0.05, now: now)
    }

    deinit {
        q.deallocate()
        qd.deallocate()
        target.deallocate()
        last.deallocate()
        servoErrors.deallocate()
    }

    // MARK: Faults and records

    /// Injects a fault (any thread).
    public func inject(_ fault: Fault) {
        plan.withLock { p in
            switch fault {
            case let .dropReads(n): p.droppedReads += n
            case .silent: p.silent = true
            case let .nonFiniteReads(n): p.nonFiniteReads += n
            case let .servoError(joint, bits):
                if joint >= 0 && joint < servoErrors.count {
                    servoErrors[joint].formUnion(bits)
                    p.anyServoError = true
                }
            case let .failWrites(n): p.failedWrites += n
            case let .readLatency(ns): p.readLatency = ns
            }
        }
    }

    /// Clears every injected fault.
    public func clearFaults() {
        plan.withLock { p in
            p = Plan()
            servoErrors.update(repeating: [])
        }
    }

    /// What reached the fake so far.
    public var recorded: Record { record.withLock { $0 } }

    /// The present joint positions of the model (rad). Read it while no loop drives the fake.
    public var positions: [Double] { Array(q) }

    /// The last command accepted (rad). Read it while no loop drives the fake.
    public var lastCommand: [Double] { Array(last) }

    // MARK: Lifecycle

    public func configure() throws {
        try lifecycle.check(.configure, robot: name)
        modelTime = now()
        lifecycle = .inactive
    }

    public func activate() throws {
        try lifecycle.check(.activate, robot: name)
        advanceModel()
        _ = target.update(fromContentsOf: q) // torque on holds where the arm is
        hasLast = false
        lifecycle = .active
        record.withLock { $0.activations += 1 }
    }

    public func deactivate() throws {
        try lifecycle.check(.deactivate, robot: name)
        advanceModel()
        lifecycle = .inactive
        record.withLock { $0.deactivations += 1 }
    }

    public func finalize() {
        if lifecycle == .active { record.withLock { $0.deactivations += 1 } }
        lifecycle = .finalized
    }

    // MARK: Hot path

    /// Integrates the first-order lag up to now: q ← q + (target − q)(1 − e^(−Δt/τ)), the step capped at
    /// v_max·Δt. Without torque the joints stay where they are (no gravity in the fake).
    private func advanceModel() {
        let t = now()
        guard t > modelTime else { return }
        let dt = Double(t - modelTime) * 1e-9
        modelTime = t
        let alpha = 1 - exp(-dt / timeConstant)
        for i in 0 ..< q.count {
            var step = lifecycle == .active ? (target[i] - q[i]) * alpha : 0
            let cap = limits[i].velocity * dt
            step = min(max(step, -cap), cap)
            q[i] += step
            qd[i] = step / dt
        }
    }

    /// - Note: Real-time safe.
    public func read(into state: JointState) -> RobotStatus {
        guard lifecycle == .inactive || lifecycle == .active else { return RobotStatus(.stop, faults: .notActive) }
        let (drop, nonFinite, latency, anyServoError) = plan.withLock { p -> (Bool, Bool, UInt64, Bool) in
            let drop = p.silent || p.droppedReads > 0
            if p.droppedReads > 0 { p.droppedReads -= 1 }
            let nonFinite = !drop && p.nonFiniteReads > 0
            if nonFinite { p.nonFiniteReads -= 1 }
            return (drop, nonFinite, p.readLatency, p.anyServoError)
        }
        if latency > 0 { sleepNanoseconds(latency) }
        advanceModel()
        if drop {
            record.withLock { $0.reads += 1; $0.failedReads += 1 }
            return RobotStatus(.hold, faults: .noReply, joint: 0)
        }
        record.withLock { $0.reads += 1 }
        _ = state.position.update(fromContentsOf: q)
        _ = state.velocity.update(fromContentsOf: qd)
        state.effort.update(repeating: 0)
        state.timestamp = modelTime
        var status = RobotStatus.ok
        if nonFinite {
            state.position[0] = .nan
            status = status.merged(RobotStatus(.hold, faults: .nonFiniteState, joint: 0))
        }
        if anyServoError {
            for i in 0 ..< q.count {
                state.faults[i] = servoErrors[i]
                if !servoErrors[i].isEmpty { status = status.merged(RobotStatus(.stop, faults: servoErrors[i], joint: i)) }
            }
        } else {
            state.faults.update(repeating: [])
        }
        return status
    }

    /// - Note: Real-time safe.
    public func write(_ command: JointCommand) -> RobotStatus {
        guard lifecycle == .active else { return RobotStatus(.stop, faults: .notActive) }
        let fail = plan.withLock { p -> Bool in
            guard p.failedWrites > 0 else { return false }
            p.failedWrites -= 1
            return true
        }
        advanceModel()
        var outside = false
        var largest = 0.0
        for i in 0 ..< q.count {
            let c = command.position[i]
            if !c.isFinite || !limits[i].contains(c) { outside = true }
            if hasLast { largest = max(largest, abs(c - last[i])) }
        }
        record.withLock { r in
            r.writes += 1
            if fail { r.failedWrites += 1 }
            if outside { r.writesOutsideLimits += 1 }
            if !fail { r.largestStep = max(r.largestStep, largest) }
        }
        if fail { return RobotStatus(.hold, faults: .noReply, joint: 0) }
        for i in 0 ..< q.count {
            let c = command.position[i]
            // Like a servo's own angle limits: the fake never moves outside its range, whatever it is sent.
            target[i] = c.isFinite ? limits[i].clamp(c) : target[i]
        }
        _ = last.update(fromContentsOf: command.position)
        hasLast = true
        return .ok
    }
}

/// Sleeps the calling thread for `ns` nanoseconds (resuming after signals).
func sleepNanoseconds(_ ns: UInt64) {
    var req = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
    var rem = timespec()
    while nanosleep(&req, &rem) != 0 && errno == EINTR { req = rem }
}
