import ReflexCore

/// The limits of one joint, in SI units (radians, rad/s, N·m), as a URDF `<limit>` gives them.
public struct JointLimits: Sendable, Equatable, Codable {
    /// Lowest allowed position (rad).
    public var lower: Double
    /// Highest allowed position (rad).
    public var upper: Double
    /// Largest speed either way (rad/s).
    public var velocity: Double
    /// Largest effort either way (N·m); nil when unknown.
    public var effort: Double?

    public init(lower: Double, upper: Double, velocity: Double, effort: Double? = nil) {
        self.lower = lower
        self.upper = upper
        self.velocity = velocity
        self.effort = effort
    }

    /// Checks the limits make sense; the error names the joint.
    public func validate(joint: String) throws {
        guard lower.isFinite, upper.isFinite, lower < upper else {
            throw ReflexError(.invalidValue, "position limits must be finite with lower < upper, got [\(lower), \(upper)]",
                              at: .init(element: joint))
        }
        guard velocity.isFinite, velocity > 0 else {
            throw ReflexError(.invalidValue, "velocity limit must be finite and positive, got \(velocity)", at: .init(element: joint))
        }
        if let effort, !(effort.isFinite && effort > 0) {
            throw ReflexError(.invalidValue, "effort limit must be finite and positive, got \(effort)", at: .init(element: joint))
        }
    }

    /// `position` clamped into [lower, upper].
    /// - Note: Real-time safe.
    @inline(__always)
    public func clamp(_ position: Double) -> Double { min(max(position, lower), upper) }

    /// Whether `position` lies inside the limits (with `tolerance` to spare for rounding).
    /// - Note: Real-time safe.
    @inline(__always)
    public func contains(_ position: Double, tolerance: Double = 1e-9) -> Bool {
        position >= lower - tolerance && position <= upper + tolerance
    }
}
