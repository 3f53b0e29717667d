/// The shape and bounds of a flat `Float` vector: an observation or an action (gymnasium's `Box`).
public struct BoxSpace: Sendable, Equatable, Codable {
    /// Number of values.
    public var size: Int
    /// Per-value bounds; `-infinity`/`infinity` where unbounded.
    public var low: [Float]
    public var high: [Float]
    /// Optional per-value names (`joint1.pos`, `cube.z`), for logs and data files.
    public var names: [String]?

    public init(low: [Float], high: [Float], names: [String]? = nil) {
        precondition(low.count == high.count, "low and high differ in length")
        size = low.count
        self.low = low
        self.high = high
        self.names = names
    }

    /// An unbounded space of `size` values.
    public init(unbounded size: Int, names: [String]? = nil) {
        self.init(low: Array(repeating: -.infinity, count: size), high: Array(repeating: .infinity, count: size),
                  names: names)
    }

    /// Every value in [-bound, bound].
    public init(symmetric bound: Float, size: Int, names: [String]? = nil) {
        self.init(low: Array(repeating: -bound, count: size), high: Array(repeating: bound, count: size), names: names)
    }
}

/// What one environment step returns besides the observation (written into the caller's buffer).
public struct StepOutcome: Sendable, Equatable {
    public var reward: Double
    /// The episode ended inside the task (success, or failure such as a dropped object).
    public var terminated: Bool
    /// The episode was cut off from outside (time limit).
    public var truncated: Bool
    /// The task's success predicate holds now.
    public var success: Bool

    public init(reward: Double, terminated: Bool, truncated: Bool, success: Bool = false) {
        self.reward = reward
        self.terminated = terminated
        self.truncated = truncated
        self.success = success
    }

    public var done: Bool { terminated || truncated }
}

/// An episodic task with flat `Float` observations and actions (gymnasium's API, without allocation).
///
/// The caller owns the buffers: `reset` and `step` write the observation into `observation`, which must
/// already hold `observationSpace.size` values, so stepping allocates nothing.
public protocol Environment {
    var observationSpace: BoxSpace { get }
    var actionSpace: BoxSpace { get }
    /// Steps after which an episode is truncated.
    var maxEpisodeSteps: Int { get }

    /// Starts an episode whose initial state is a function of `seed` only.
    mutating func reset(seed: UInt64, observation: inout [Float])
    /// Applies `action` (`actionSpace.size` values) for one control step.
    mutating func step(_ action: [Float], observation: inout [Float]) -> StepOutcome
}

extension Environment {
    /// Convenience: a new observation array from `reset`.
    public mutating func reset(seed: UInt64) -> [Float] {
        var obs = [Float](repeating: 0, count: observationSpace.size)
        reset(seed: seed, observation: &obs)
        return obs
    }
}
