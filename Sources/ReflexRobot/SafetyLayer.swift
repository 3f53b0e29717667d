#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore
import Synchronization

/// What the safety layer did to one tick's command, as flags (several can hold at once).
public struct SafetyEvents: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// A target outside a joint's position limits (less the margin) was clamped.
    public static let positionClamped = SafetyEvents(rawValue: 1 << 0)
    /// A joint's change was cut to the velocity limit or the per-tick maximum.
    public static let stepLimited = SafetyEvents(rawValue: 1 << 1)
    /// The action had a NaN or infinity: the last command was held.
    public static let nonFiniteAction = SafetyEvents(rawValue: 1 << 2)
    /// No action was available (no chunk yet, or the chunk ran out): the last command was held.
    public static let noAction = SafetyEvents(rawValue: 1 << 3)
    /// Still moving slowly to the first commanded pose.
    public static let approaching = SafetyEvents(rawValue: 1 << 4)
    /// This tick's read failed (the state is from an earlier tick).
    public static let staleState = SafetyEvents(rawValue: 1 << 5)
    /// The state is older than the watchdog timeout.
    public static let watchdog = SafetyEvents(rawValue: 1 << 6)
    /// The emergency stop is engaged.
    public static let emergencyStop = SafetyEvents(rawValue: 1 << 7)
    /// A servo reported error bits (overload, overheat, voltage…).
    public static let servoFault = SafetyEvents(rawValue: 1 << 8)

    static let names: [(SafetyEvents, String)] = [
        (.positionClamped, "positionClamped"), (.stepLimited, "stepLimited"), (.nonFiniteAction, "nonFiniteAction"),
        (.noAction, "noAction"), (.approaching, "approaching"), (.staleState, "staleState"), (.watchdog, "watchdog"),
        (.emergencyStop, "emergencyStop"), (.servoFault, "servoFault"),
    ]

    public var names: [String] { SafetyEvents.names.filter { contains($0.0) }.map(\.1) }
    public var description: String { "[" + names.joined(separator: ", ") + "]" }
}

/// What the loop must do after the safety layer ran, and why: "report what was applied".
public struct SafetyReport: Sendable, Equatable {
    public enum Output: UInt8, Sendable {
        /// Write the command buffer (possibly a held or limited position).
        case command
        /// Switch torque off now (once); the layer has latched a stop.
        case torqueOff
        /// Send nothing: torque is already off after a latched stop.
        case nothing
    }

    public var output: Output
    public var events: SafetyEvents
    public var mode: SafetyLayer.Mode
}

/// Counts of safety events since `begin`, for telemetry and logs.
public struct SafetyCounters: Sendable, Equatable, Codable {
    public var ticks = 0
    public var positionClamped = 0
    public var stepLimited = 0
    public var nonFiniteActions = 0
    public var noAction = 0
    public var staleReads = 0
    /// Times the watchdog tripped (transitions, not ticks).
    public var watchdogTrips = 0
    public var emergencyStops = 0
    public var servoFaultStops = 0
    /// Ticks whose command left the joint limits (checked on the layer's own output; a fault campaign's figure
    /// that must stay 0).
    public var commandsOutsideLimits = 0
    public init() {}
}

/// Sits between the policy and `Robot.write`: every command that reaches an arm has passed through here.
///
/// Per tick, in order: latched stops (emergency stop, servo error bits) → watchdog on the state's age → NaN/Inf
/// guard → position limits (less a margin) → rate limit from the last command (velocity limit × period, and the
/// per-tick maximum). After `begin` (and a policy switch) the first commanded pose is approached at the slower
/// approach speed — the policy's later actions wait until the arm is there — then the policy is followed. Commands are limited
/// relative to the last *command*, not the measured position, so a held or stale tick never makes the next one jump.
public final class SafetyLayer: @unchecked Sendable {
    public enum Mode: String, Sendable, Codable {
        /// Active, no action yet: holding where the arm was at `begin`.
        case waiting
        /// Moving slowly to the policy's first pose.
        case approaching
        /// Following the policy within the limits.
        case tracking
        /// Latched stop (emergency stop, servo fault, or the watchdog with `torqueOff`) until `clearStop()`.
        case stopped
    }

    public let limits: [JointLimits]
    public let config: SafetyConfig
    /// Control period (s).
    public let period: Double
    public private(set) var mode: Mode = .waiting
    public private(set) var counters = SafetyCounters()
    /// The command written last (rad): what a hold holds.
    public let lastCommand: UnsafeMutableBufferPointer<Double>
    private let lower: UnsafeMutableBufferPointer<Double>
    private let upper: UnsafeMutableBufferPointer<Double>
    private let maxStep: UnsafeMutableBufferPointer<Double>
    /// The first commanded pose (clamped), which the approach moves to.
    private let approachTarget: UnsafeMutableBufferPointer<Double>
    private let approachStep: Double
    private var torqueIsOff = false
    private var watchdogTripped = false
    private let stopRequested = Atomic<Bool>(false)

    /// The signal whose `EmergencyStopSignal` flag this layer obeys (nil: none).
    public let stopSignal: Int32?

    /// - Parameter stopSignal: the Unix signal that engages the emergency stop (SIGUSR1 by default; the handler is
    ///   installed with `EmergencyStopSignal.install`).
    public init(limits: [JointLimits], config: SafetyConfig, period: Double, stopSignal: Int32? = SIGUSR1) throws {
        try config.validate()
        guard period > 0, period.isFinite else { throw ReflexError(.invalidValue, "control period must be positive, got \(period)") }
        for (i, l) in limits.enumerated() {
            try l.validate(joint: "joint \(i)")
            guard l.upper - l.lower > 2 * config.positionMargin else {
                throw ReflexError(.invalidValue, "safety.position_margin \(config.positionMargin) leaves no range for joint \(i)")
            }
        }
        self.limits = limits
        self.config = config
        self.period = period
        self.stopSignal = stopSignal
        let n = limits.count
        lastCommand = .allocate(capacity: n)
        lower = .allocate(capacity: n)
        upper = .allocate(capacity: n)
        maxStep = .allocate(capacity: n)
        approachTarget = .allocate(capacity: n)
        approachTarget.initialize(repeating: 0)
        lastCommand.initialize(repeating: 0)
        for i in 0 ..< n {
            lower.initializeElement(at: i, to: limits[i].lower + config.positionMargin)
            upper.initializeElement(at: i, to: limits[i].upper - config.positionMargin)
            maxStep.initializeElement(at: i, to: min(limits[i].velocity * config.velocityScale * period,
                                                     config.maxStepPerTick ?? .infinity))
        }
        approachStep = config.approachSpeed * period
    }

    deinit {
        lastCommand.deallocate()
        lower.deallocate()
        upper.deallocate()
        maxStep.deallocate()
        approachTarget.deallocate()
    }

    /// Starts from the measured pose after the robot went active: holds there (clamped into the limits) until the
    /// first action, then approaches it slowly. Clears latched stops that were cleared with `clearStop()`.
    /// - Note: Real-time safe.
    public func begin(at state: JointState) {
        for i in 0 ..< lastCommand.count {
            let p = state.position[i]
            lastCommand[i] = p.isFinite ? min(max(p, lower[i]), upper[i]) : (lower[i] + upper[i]) / 2
        }
        mode = .waiting
        torqueIsOff = false
        watchdogTripped = false
        counters = SafetyCounters()
    }

    /// Goes back to waiting for an action and approaching it slowly (a new policy took over); a latched stop stays.
    /// - Note: Real-time safe.
    public func reapproach() {
        if mode == .tracking || mode == .approaching { mode = .waiting }
    }

    /// Engages the emergency stop; any thread, any time (the API, a signal watcher, a UI button).
    /// - Note: Real-time safe.
    public func emergencyStop() { stopRequested.store(true, ordering: .releasing) }

    /// Whether an emergency stop is pending or latched.
    /// - Note: Real-time safe.
    public var emergencyStopEngaged: Bool {
        if stopRequested.load(ordering: .acquiring) { return true }
        if let stopSignal { return EmergencyStopSignal.raised(signal: stopSignal) }
        return false
    }

    /// Releases a latched stop (cold path: after a person looked). The next `begin` re-approaches.
    public func clearStop() {
        stopRequested.store(false, ordering: .releasing)
        if let stopSignal { EmergencyStopSignal.clear(signal: stopSignal) }
        if mode == .stopped { mode = .waiting }
    }

    /// Filters one tick. `action` holds the policy's joint targets (rad, description order) or is nil when there is
    /// none; `state` and `status` come from this tick's `read` (merged with the last write's status); `now` is the
    /// loop clock in nanoseconds, on the same clock as `state.timestamp`. Fills `command` when the output is
    /// `.command`.
    /// - Note: Real-time safe.
    public func filter(action: UnsafePointer<Double>?, state: JointState, status: RobotStatus, now: UInt64,
                       into command: JointCommand) -> SafetyReport {
        let report = decide(action: action, state: state, status: status, now: now, into: command)
        if report.output == .command {
            for i in 0 ..< limits.count where !(command.position[i] >= limits[i].lower && command.position[i] <= limits[i].upper) {
                counters.commandsOutsideLimits += 1
                break
            }
        }
        return report
    }

    private func decide(action: UnsafePointer<Double>?, state: JointState, status: RobotStatus, now: UInt64,
                        into command: JointCommand) -> SafetyReport {
        counters.ticks += 1
        var events: SafetyEvents = []
        if status.faults.contains(.noReply) || status.faults.contains(.corruptReply) || status.faults.contains(.nonFiniteState) {
            events.insert(.staleState)
            counters.staleReads += 1
        }

        // Latched stops first: nothing the policy says matters once one is engaged.
        if mode != .stopped {
            if emergencyStopEngaged {
                events.insert(.emergencyStop)
                counters.emergencyStops += 1
                return latchStop(config.stopAction, events, command)
            }
            if status.verdict == .stop && !status.faults.intersection(.servoErrors).isEmpty {
                events.insert(.servoFault)
                counters.servoFaultStops += 1
                return latchStop(config.stopAction, events, command)
            }
        }
        if mode == .stopped {
            if emergencyStopEngaged { events.insert(.emergencyStop) }
            return stopped(events, command)
        }

        // Watchdog: the state is what the policy and the limits are judged against; too old means flying blind.
        let age = now > state.timestamp ? now - state.timestamp : 0
        if Double(age) * 1e-9 > config.watchdogTimeout {
            events.insert(.watchdog)
            if !watchdogTripped {
                watchdogTripped = true
                counters.watchdogTrips += 1
            }
            if config.watchdogAction == .torqueOff { return latchStop(.torqueOff, events, command) }
            return hold(events, command)
        }
        watchdogTripped = false

        guard let action else {
            events.insert(.noAction)
            counters.noAction += 1
            return hold(events, command)
        }
        for i in 0 ..< lastCommand.count where !action[i].isFinite {
            events.insert(.nonFiniteAction)
            counters.nonFiniteActions += 1
            return hold(events, command)
        }

        if mode == .waiting {
            // The first commanded pose: approach it slowly, then hand over to the policy.
            for i in 0 ..< lastCommand.count { approachTarget[i] = min(max(action[i], lower[i]), upper[i]) }
            mode = .approaching
        }
        if mode == .approaching {
            var farthest = 0.0
            for i in 0 ..< lastCommand.count {
                let target = approachTarget[i]
                let cap = min(approachStep, maxStep[i])
                let delta = target - lastCommand[i]
                let next = delta > cap ? lastCommand[i] + cap : (delta < -cap ? lastCommand[i] - cap : target)
                farthest = max(farthest, abs(target - next))
                command.position[i] = next
                lastCommand[i] = next
            }
            if farthest <= config.approachTolerance { mode = .tracking } else { events.insert(.approaching) }
            return SafetyReport(output: .command, events: events, mode: mode)
        }
        for i in 0 ..< lastCommand.count {
            var target = action[i]
            if target < lower[i] || target > upper[i] {
                target = min(max(target, lower[i]), upper[i])
                events.insert(.positionClamped)
            }
            let cap = maxStep[i]
            let delta = target - lastCommand[i]
            var next = target
            if delta > cap { next = lastCommand[i] + cap } else if delta < -cap { next = lastCommand[i] - cap }
            if next != target { events.insert(.stepLimited) }
            command.position[i] = next
            lastCommand[i] = next
        }
        if events.contains(.positionClamped) { counters.positionClamped += 1 }
        if events.contains(.stepLimited) { counters.stepLimited += 1 }
        return SafetyReport(output: .command, events: events, mode: mode)
    }

    private func hold(_ events: SafetyEvents, _ command: JointCommand) -> SafetyReport {
        _ = command.position.update(fromContentsOf: lastCommand)
        return SafetyReport(output: .command, events: events, mode: mode)
    }

    private func latchStop(_ action: SafetyConfig.StopAction, _ events: SafetyEvents, _ command: JointCommand) -> SafetyReport {
        mode = .stopped
        if action == .torqueOff && !torqueIsOff {
            torqueIsOff = true
            return SafetyReport(output: .torqueOff, events: events, mode: mode)
        }
        return stopped(events, command)
    }

    private func stopped(_ events: SafetyEvents, _ command: JointCommand) -> SafetyReport {
        if torqueIsOff { return SafetyReport(output: .nothing, events: events, mode: mode) }
        return hold(events, command)
    }
}
