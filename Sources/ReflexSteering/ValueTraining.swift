import ReflexCore
import ReflexNN
import ReflexPolicy
import ReflexRL

/// The offline learners V-GPS names for its critics (Nakamoto et al. 2024, §5): Cal-QL in its experiments, IQL as the
/// alternative.
public enum ValueAlgorithm: String, Codable, Sendable, CaseIterable {
    case iql
    case calQL = "cal-ql"
}

/// V-GPS's offline value learning as one call: chunk transitions from demonstrations and rollouts (in the policy's
/// state and action spaces, `ValueData`), twin critics from IQL or Cal-QL, and the value directory
/// `ValueFunctionDirectory` reads.
public struct ValueTraining: Sendable {
    public var algorithm = ValueAlgorithm.iql
    public var steps = 20_000
    public var batchSize = 256
    /// Discount per control step (the V-GPS paper's and its released code's setting is 0.98; Reflex keeps 0.99, with
    /// which the benchmark's critics were trained).
    public var gamma: Float = 0.99
    /// IQL's expectile τ; nil is 0.7. Meaningless for Cal-QL.
    public var expectile: Float?
    /// Cal-QL's α_CQL; nil is 5. Meaningless for IQL.
    public var conservativeWeight: Float?
    /// Cal-QL's actions per proposal; nil is 4 (V-GPS's). Meaningless for IQL.
    public var sampledActions: Int?
    public var hiddenSizes = [256, 256]
    public var seed: UInt64 = 0

    public init() {}

    /// Checks the ranges, and refuses an option the chosen algorithm does not have.
    public func validate() throws {
        guard steps > 0, batchSize > 0 else { throw ReflexError(.invalidValue, "steps and batch size must be positive") }
        guard gamma > 0, gamma <= 1 else { throw ReflexError(.invalidValue, "gamma must be in (0, 1], got \(gamma)") }
        guard !hiddenSizes.isEmpty, hiddenSizes.allSatisfy({ $0 > 0 }) else {
            throw ReflexError(.invalidValue, "hidden widths must be positive, got \(hiddenSizes)")
        }
        switch algorithm {
        case .iql:
            if conservativeWeight != nil || sampledActions != nil {
                throw ReflexError(.invalidArgument, "the conservative weight and sampled actions are Cal-QL's; IQL has neither (choose --algo cal-ql)")
            }
            if let e = expectile, !(e > 0 && e < 1) { throw ReflexError(.invalidValue, "the expectile must be in (0, 1), got \(e)") }
        case .calQL:
            if expectile != nil { throw ReflexError(.invalidArgument, "the expectile is IQL's; Cal-QL has none (choose --algo iql)") }
            try calQLConfig.validate()
        }
    }

    var iqlConfig: IQL.Config { .init(hiddenSizes: hiddenSizes, expectile: expectile ?? 0.7, batchSize: batchSize) }

    var calQLConfig: CalQL.Config {
        let defaults = CalQL.Config()
        return .init(hiddenSizes: hiddenSizes, conservativeWeight: conservativeWeight ?? defaults.conservativeWeight,
                     sampledActions: sampledActions ?? defaults.sampledActions, batchSize: batchSize)
    }

    /// What a run reports at the end.
    public struct Outcome: Sendable {
        public var transitions: Int
        public var episodes: Int
        public var stateSize: Int
        public var actionSize: Int
        /// Exponential moving averages of the last losses: the critics' TD loss, and IQL's value loss or Cal-QL's
        /// conservative gap.
        public var criticLoss: Float
        public var valueLoss: Float
        /// Cal-QL: the share of policy proposals its return bound lifted in the last update (nil for IQL).
        public var boundRate: Float?
    }

    /// Learns the critics for `policyDirectory`'s policy from `dataDirectories` and writes them to `out`.
    /// `progress(step, criticLoss, secondLoss)` is called every 200 updates.
    public func run(policyDirectory: String, dataDirectories: [String], out: String, notes: [String: String] = [:],
                    progress: (Int, Float, Float) -> Void = { _, _, _ in }) throws -> Outcome {
        try validate()
        let config = try PolicyDirectory.readConfig(policyDirectory)
        let sets = try dataDirectories.map { directory -> Demonstrations in
            let (data, meta) = try Demonstrations.load(directory: directory)
            do {
                return try ValueData.inputs(of: data, names: meta.observationNames, for: config)
            } catch let e as ReflexError {
                throw e.inFile(directory)
            }
        }
        let encoders = config.cameras == nil ? [] : try PolicyDirectory.readEncoders(policyDirectory, config: config)
        let transitions = try ValueData.transitions(from: sets, policy: config, encoders: encoders, gamma: gamma)
        var gen = RandomGenerator(seed: seed)
        let learner: any OfflineValueLearner = switch algorithm {
        case .iql: IQL(stateSize: transitions.stateSize, actionSize: transitions.actionSize, config: iqlConfig, generator: &gen)
        case .calQL: try CalQL(stateSize: transitions.stateSize, actionSize: transitions.actionSize, config: calQLConfig, generator: &gen)
        }
        var critic: Float = 0, value: Float = 0
        for i in 0 ..< steps {
            let l = learner.update(transitions, generator: &gen)
            critic = 0.98 * critic + 0.02 * l.critic
            value = 0.98 * value + 0.02 * l.value
            if i % 200 == 0 { progress(i + 1, critic, value) }
        }
        try ValueFunctionDirectory.save(learner, algorithm: algorithm, gamma: gamma, notes: notes, to: out)
        return Outcome(transitions: transitions.count, episodes: sets.reduce(0) { $0 + $1.episodes.count },
                       stateSize: transitions.stateSize, actionSize: transitions.actionSize, criticLoss: critic, valueLoss: value,
                       boundRate: (learner as? CalQL)?.boundRate)
    }
}
