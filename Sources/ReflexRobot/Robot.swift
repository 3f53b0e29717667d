import ReflexCore

extension ReflexError.Code {
    /// A lifecycle transition asked for in a state that does not allow it (e.g. `activate` before `configure`).
    public static let invalidTransition = Self("invalidTransition")
    /// A device (serial port, bus, simulator) could not be opened, configured or switched.
    public static let device = Self("device")
}

/// Where an arm is in its life, as ros2_control's hardware-interface lifecycle; each state has one meaning.
public enum LifecycleState: String, Sendable, Codable, CustomStringConvertible {
    /// Nothing opened yet.
    case unconfigured
    /// Port open, servos found, state readable, torque off: the arm can be moved by hand.
    case inactive
    /// Torque on, commands accepted.
    case active
    /// Port released; the object is done.
    case finalized

    public var description: String { rawValue }
}

/// The transitions between lifecycle states.
public enum LifecycleTransition: String, Sendable, CustomStringConvertible {
    case configure, activate, deactivate, finalize

    public var description: String { rawValue }

    /// The state this transition leads to.
    public var target: LifecycleState {
        switch self {
        case .configure: return .inactive
        case .activate: return .active
        case .deactivate: return .inactive
        case .finalize: return .finalized
        }
    }

    /// The states this transition may start from.
    public var sources: [LifecycleState] {
        switch self {
        case .configure: return [.unconfigured]
        case .activate: return [.inactive]
        case .deactivate: return [.active]
        case .finalize: return [.unconfigured, .inactive, .active]
        }
    }
}

extension LifecycleState {
    /// Throws `invalidTransition` unless `transition` may start here; implementations call it first, then do the
    /// work, then set the new state (so a failed transition leaves the state unchanged).
    public func check(_ transition: LifecycleTransition, robot: String) throws {
        guard transition.sources.contains(self) else {
            throw ReflexError(.invalidTransition, "cannot \(transition) while \(self) (allowed from \(transition.sources.map(\.rawValue).joined(separator: ", ")))",
                              at: .init(element: robot))
        }
    }
}

/// Why a read or write did not go cleanly. Bits 0–7 are the servo's own error flags (Feetech status error byte,
/// Dynamixel hardware-error status), mapped to one vocabulary; bits 8– are the link and the runtime's own.
public struct RobotFaults: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Input voltage outside the servo's range.
    public static let voltage = RobotFaults(rawValue: 1 << 0)
    /// Angle/position sensor or encoder fault.
    public static let angleSensor = RobotFaults(rawValue: 1 << 1)
    public static let overheat = RobotFaults(rawValue: 1 << 2)
    public static let overcurrent = RobotFaults(rawValue: 1 << 3)
    public static let overload = RobotFaults(rawValue: 1 << 4)
    /// Dynamixel "electrical shock" (driver fault).
    public static let electricalShock = RobotFaults(rawValue: 1 << 5)
    /// A servo did not answer in time.
    public static let noReply = RobotFaults(rawValue: 1 << 8)
    /// A reply came back with a bad checksum/CRC, wrong id or wrong length.
    public static let corruptReply = RobotFaults(rawValue: 1 << 9)
    /// A value read from the arm was NaN or infinite.
    public static let nonFiniteState = RobotFaults(rawValue: 1 << 10)
    /// A command was sent while the arm was not active.
    public static let notActive = RobotFaults(rawValue: 1 << 11)
    /// The bus used up its retry budget: the arm no longer reads or commands until activated again.
    public static let retryBudget = RobotFaults(rawValue: 1 << 12)

    /// Servo-reported faults that call for a safe stop (the servo itself is in trouble).
    public static let servoErrors: RobotFaults = [.voltage, .angleSensor, .overheat, .overcurrent, .overload, .electricalShock]
    /// Link faults: the state of this tick is missing or stale, the servo may be fine.
    public static let linkErrors: RobotFaults = [.noReply, .corruptReply, .nonFiniteState, .retryBudget]

    static let names: [(RobotFaults, String)] = [
        (.voltage, "voltage"), (.angleSensor, "angleSensor"), (.overheat, "overheat"), (.overcurrent, "overcurrent"),
        (.overload, "overload"), (.electricalShock, "electricalShock"), (.noReply, "noReply"),
        (.corruptReply, "corruptReply"), (.nonFiniteState, "nonFiniteState"), (.notActive, "notActive"),
        (.retryBudget, "retryBudget"),
    ]

    /// Names of the set bits, e.g. `[overload, noReply]`.
    public var names: [String] { RobotFaults.names.filter { contains($0.0) }.map(\.1) }
    public var description: String { "[" + names.joined(separator: ", ") + "]" }
}

/// What a hot-path call reports: a verdict the loop acts on, the faults behind it and the first joint concerned.
/// The second tier of Reflex's errors: no throwing, no allocation.
public struct RobotStatus: Sendable, Equatable, CustomStringConvertible {
    public enum Verdict: UInt8, Sendable, Comparable {
        /// All went through.
        case ok = 0
        /// This tick failed (a missed reply): keep the last command; the watchdog decides when it is too long.
        case hold = 1
        /// The arm is in trouble (servo error bits): stop safely.
        case stop = 2

        public static func < (a: Verdict, b: Verdict) -> Bool { a.rawValue < b.rawValue }
    }

    public var verdict: Verdict
    public var faults: RobotFaults
    /// Index (description order) of the first joint with a fault, or -1.
    public var joint: Int

    public init(_ verdict: Verdict, faults: RobotFaults = [], joint: Int = -1) {
        self.verdict = verdict
        self.faults = faults
        self.joint = joint
    }

    public static let ok = RobotStatus(.ok)

    /// The worse of two statuses (faults united, the first joint kept).
    /// - Note: Real-time safe.
    public func merged(_ other: RobotStatus) -> RobotStatus {
        RobotStatus(max(verdict, other.verdict), faults: faults.union(other.faults), joint: joint >= 0 ? joint : other.joint)
    }

    public var description: String {
        "\(verdict)" + (faults.isEmpty ? "" : " \(faults)") + (joint >= 0 ? " joint \(joint)" : "")
    }
}

/// Measured joint state in storage made once: the control tick reads into it without allocating.
/// Units: radians, rad/s, and the servo's effort unit scaled to N·m where known (else a fraction of stall).
public final class JointState {
    public let count: Int
    public let position: UnsafeMutableBufferPointer<Double>
    public let velocity: UnsafeMutableBufferPointer<Double>
    public let effort: UnsafeMutableBufferPointer<Double>
    /// Faults each joint reported on the last read.
    public let faults: UnsafeMutableBufferPointer<RobotFaults>
    /// `monotonicNanoseconds()` when this state was sampled; unchanged by a failed read, so its age tells how
    /// stale the state is (the watchdog's input).
    public var timestamp: UInt64 = 0

    public init(count: Int) {
        self.count = count
        position = .allocate(capacity: count)
        velocity = .allocate(capacity: count)
        effort = .allocate(capacity: count)
        faults = .allocate(capacity: count)
        position.initialize(repeating: 0)
        velocity.initialize(repeating: 0)
        effort.initialize(repeating: 0)
        faults.initialize(repeating: [])
    }

    deinit {
        position.deallocate()
        velocity.deallocate()
        effort.deallocate()
        faults.deallocate()
    }

    /// Copies everything from `other` (same count).
    /// - Note: Real-time safe.
    public func copy(from other: JointState) {
        precondition(other.count == count, "joint counts differ")
        _ = position.update(fromContentsOf: other.position)
        _ = velocity.update(fromContentsOf: other.velocity)
        _ = effort.update(fromContentsOf: other.effort)
        _ = faults.update(fromContentsOf: other.faults)
        timestamp = other.timestamp
    }
}

/// Joint position targets (radians, description order) in storage made once.
public final class JointCommand {
    public let count: Int
    public let position: UnsafeMutableBufferPointer<Double>

    public init(count: Int) {
        self.count = count
        position = .allocate(capacity: count)
        position.initialize(repeating: 0)
    }

    deinit { position.deallocate() }

    /// - Note: Real-time safe.
    public func copy(from other: JointCommand) {
        precondition(other.count == count, "joint counts differ")
        _ = position.update(fromContentsOf: other.position)
    }
}

/// An arm the control loop can drive: a simulated one (`ReflexSim`), one on a servo bus (`ReflexHardware`), or
/// `FakeRobot` in tests.
///
/// The lifecycle (`configure`, `activate`, `deactivate`, `finalize`) is the cold path: it may block, allocate and
/// throw. `read(into:)` and `write(_:)` are the hot path: they run inside a control tick, allocate nothing, never
/// throw, and report trouble in a `RobotStatus`. A robot is driven from one thread at a time.
public protocol Robot: AnyObject {
    /// A short name for logs and errors, e.g. `so101@/dev/ttyACM0`.
    var name: String { get }
    /// Joint names in the description's order; every buffer follows this order.
    var jointNames: [String] { get }
    /// Limits per joint, in the same order.
    var limits: [JointLimits] { get }
    var lifecycle: LifecycleState { get }

    /// unconfigured → inactive: open the link, find every joint, leave torque off.
    /// - Warning: Not real-time safe.
    func configure() throws
    /// inactive → active: torque on, holding the present position.
    /// - Warning: Not real-time safe.
    func activate() throws
    /// active → inactive: torque off.
    /// - Warning: Not real-time safe.
    func deactivate() throws
    /// → finalized: torque off if on, release the link. Never throws: it is what runs on the way out.
    /// - Warning: Not real-time safe.
    func finalize()

    /// Reads the present state into `state` (inactive or active). On a failed read the previous values and
    /// `timestamp` are left as they were.
    /// - Note: Real-time safe.
    func read(into state: JointState) -> RobotStatus
    /// Sends position targets (active only) exactly as given: limiting is the safety layer's job, and no hidden
    /// bus read happens here.
    /// - Note: Real-time safe.
    func write(_ command: JointCommand) -> RobotStatus
}

extension Robot {
    public var jointCount: Int { jointNames.count }

    /// Runs `body` with torque off (so the arm can be moved by hand, or calibrated), restoring torque after if it
    /// was on — LeRobot's `torque_disabled()`. The safe path is the easy one.
    /// - Warning: Not real-time safe.
    public func withTorqueDisabled<T>(_ body: () throws -> T) throws -> T {
        let wasActive = lifecycle == .active
        if wasActive { try deactivate() }
        let result = try body()
        if wasActive { try activate() }
        return result
    }
}
