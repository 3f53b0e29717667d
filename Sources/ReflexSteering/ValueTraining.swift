import ReflexCore
import ReflexNN
import ReflexPolicy
import ReflexRL

/// V-GPS's offline value learning as one call: chunk transitions from demonstrations and rollouts (in the policy's
/// state and action spaces, `ValueData`), IQL twin critics, and the value directory `ValueFunctionDirectory` reads.
public struct ValueTraining: Sendable {
    public var steps = 20_000
    public var batchSize = 256
    /// Discount per control step.
    public var gamma: Float = 0.99
    /// IQL's expectile τ.
    public var expectile: Float = 0.7
    public var hiddenSizes = [256, 256]
    public var seed: UInt64 = 0

    public init() {}

    /// Checks the ranges.
    public func validate() throws {
        guard steps > 0, batchSize > 0 else { throw ReflexError(.invalidValue, "steps and batch size must be positive") }
        guard gamma > 0, gamma <= 1 else { throw ReflexError(.invalidValue, "gamma must be in (0, 1], got \(gamma)") }
        guard expectile > 0, expectile < 1 else { throw ReflexError(.invalidValue, "the expectile must be in (0, 1), got \(expectile)") }
        guard !hiddenSizes.isEmpty, hiddenSizes.allSatisfy({ $0 > 0 }) else {
            throw ReflexError(.invalidValue, "hidden widths must be positive, got \(hiddenSizes)")
        }
    }

    /// What a run reports at the end.
    public struct Outcome: Sendable {
        public var transitions: Int
        public var episodes: Int
        public var stateSize: Int
        public var actionSize: Int
        /// Exponential moving averages of the last losses.
        public var criticLoss: Float
        public var valueLoss: Float
    }

    /// Learns the critics for `policyDirectory`'s policy from `dataDirectories` and writes them to `out`.
    /// `progress(step, criticLoss, valueLoss)` is called every 200 updates.
    public func run(policyDirectory: String, dataDirectories: [String], out: String, notes: [String: String] = [:],
                    progress: (Int, Float, Float) -> Void = { _, _, _ in }) throws -> Outcome {
        try validate()
        let config = try PolicyDirectory.readConfig(policyDirectory)
        let sets = try dataDirectories.map { try Demonstrations.load(directory: $0).demonstrations }
        let transitions = try ValueData.transitions(from: sets, policy: config, gamma: gamma)
        var gen = RandomGenerator(seed: seed)
        let iql = IQL(stateSize: transitions.stateSize, actionSize: transitions.actionSize,
                      config: .init(hiddenSizes: hiddenSizes, expectile: expectile, batchSize: batchSize), generator: &gen)
        var critic: Float = 0, value: Float = 0
        for i in 0 ..< steps {
            let l = iql.update(transitions, generator: &gen)
            critic = 0.98 * critic + 0.02 * l.critic
            value = 0.98 * value + 0.02 * l.value
            if i % 200 == 0 { progress(i + 1, critic, value) }
        }
        try ValueFunctionDirectory.save(iql, gamma: gamma, notes: notes, to: out)
        return Outcome(transitions: transitions.count, episodes: sets.reduce(0) { $0 + $1.episodes.count },
                       stateSize: transitions.stateSize, actionSize: transitions.actionSize, criticLoss: critic, valueLoss: value)
    }
}
