import ReflexCore

/// How the safety layer limits commands and what it does when things go wrong. Defaults suit a hobby arm
/// (SO-101, Koch) at 30–200 Hz.
public struct SafetyConfig: Sendable, Codable, Equatable {
    /// What a stop does.
    public enum StopAction: String, Sendable, Codable {
        /// Keep commanding the last safe position (the arm stays up; servos keep torque).
        case hold
        /// Torque off (the robot goes inactive; an arm without brakes falls under gravity).
        case torqueOff = "torque_off"
    }

    /// Commands stay this far inside each joint's position limits (rad).
    public var positionMargin: Double
    /// Fraction of each joint's velocity limit a command may move at.
    public var velocityScale: Double
    /// Largest change of any joint's command in one tick (rad), on top of the velocity limit; nil for none.
    public var maxStepPerTick: Double?
    /// State older than this (s) trips the watchdog.
    public var watchdogTimeout: Double
    /// What the watchdog does: `hold` resumes by itself when fresh state returns; `torqueOff` latches.
    public var watchdogAction: StopAction
    /// What an emergency stop and servo error bits do (both latch until `clearStop()`).
    public var stopAction: StopAction
    /// Speed of the slow move to the first commanded pose (rad/s), instead of a jump.
    public var approachSpeed: Double
    /// The approach ends when every joint's command is within this of the policy's (rad).
    public var approachTolerance: Double

    public init(positionMargin: Double = 0.0, velocityScale: Double = 1.0, maxStepPerTick: Double? = nil,
                watchdogTimeout: Double = 0.1, watchdogAction: StopAction = .hold, stopAction: StopAction = .hold,
                approachSpeed: Double = 0.5, approachTolerance: Double = 0.02) {
        self.positionMargin = positionMargin
        self.velocityScale = velocityScale
        self.maxStepPerTick = maxStepPerTick
        self.watchdogTimeout = watchdogTimeout
        self.watchdogAction = watchdogAction
        self.stopAction = stopAction
        self.approachSpeed = approachSpeed
        self.approachTolerance = approachTolerance
    }

    enum CodingKeys: String, CodingKey {
        case positionMargin = "position_margin", velocityScale = "velocity_scale", maxStepPerTick = "max_step_per_tick"
        case watchdogTimeout = "watchdog_timeout", watchdogAction = "watchdog_action", stopAction = "stop_action"
        case approachSpeed = "approach_speed", approachTolerance = "approach_tolerance"
    }

    public init(from decoder: Decoder) throws {
        let d = SafetyConfig()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        positionMargin = try c.decodeIfPresent(Double.self, forKey: .positionMargin) ?? d.positionMargin
        velocityScale = try c.decodeIfPresent(Double.self, forKey: .velocityScale) ?? d.velocityScale
        maxStepPerTick = try c.decodeIfPresent(Double.self, forKey: .maxStepPerTick)
        watchdogTimeout = try c.decodeIfPresent(Double.self, forKey: .watchdogTimeout) ?? d.watchdogTimeout
        watchdogAction = try c.decodeIfPresent(StopAction.self, forKey: .watchdogAction) ?? d.watchdogAction
        stopAction = try c.decodeIfPresent(StopAction.self, forKey: .stopAction) ?? d.stopAction
        approachSpeed = try c.decodeIfPresent(Double.self, forKey: .approachSpeed) ?? d.approachSpeed
        approachTolerance = try c.decodeIfPresent(Double.self, forKey: .approachTolerance) ?? d.approachTolerance
    }

    /// Checks every field; the error names the key.
    public func validate() throws {
        func bad(_ key: String, _ message: String) -> ReflexError {
            ReflexError(.invalidValue, message, at: .init(keyPath: "safety." + key))
        }
        guard positionMargin >= 0, positionMargin.isFinite else { throw bad("position_margin", "must be ≥ 0, got \(positionMargin)") }
        guard velocityScale > 0, velocityScale <= 1 else { throw bad("velocity_scale", "must be in (0, 1], got \(velocityScale)") }
        if let s = maxStepPerTick, !(s > 0 && s.isFinite) { throw bad("max_step_per_tick", "must be positive, got \(s)") }
        guard watchdogTimeout > 0, watchdogTimeout.isFinite else { throw bad("watchdog_timeout", "must be positive, got \(watchdogTimeout)") }
        guard approachSpeed > 0, approachSpeed.isFinite else { throw bad("approach_speed", "must be positive, got \(approachSpeed)") }
        guard approachTolerance > 0 else { throw bad("approach_tolerance", "must be positive, got \(approachTolerance)") }
    }
}
