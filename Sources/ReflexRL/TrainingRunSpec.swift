import ReflexCore

/// The off-policy algorithms Reflex trains.
public enum OffPolicyAlgorithm: String, Codable, Sendable, CaseIterable {
    /// Soft Actor-Critic (Haarnoja et al. 2018).
    case sac
    /// Distributional SAC with three refinements (Duan et al. 2025).
    case dsacT = "dsac-t"

    /// A fresh learner with the run's initial weights: they come from the run seed's first split (the trainer's
    /// stream is the seed itself), so every caller that trains from a seed starts from the same networks.
    public func makeLearner(observationSize: Int, actionSize: Int, config: OffPolicyConfig, seed: UInt64) throws
        -> any OffPolicyLearner {
        var gen = Self.initializationGenerator(seed: seed)
        switch self {
        case .sac: return try SAC(observationSize: observationSize, actionSize: actionSize, config: config, generator: &gen)
        case .dsacT: return try DSACT(observationSize: observationSize, actionSize: actionSize, config: config, generator: &gen)
        }
    }

    /// The generator a run's networks are initialized from.
    public static func initializationGenerator(seed: UInt64) -> RandomGenerator {
        RandomGenerator(seed: seed ^ 0x5EED_1EA2_0000_0000)
    }
}

/// Named hyperparameter sets of `OffPolicyConfig`.
public enum OffPolicyPreset: String, Codable, Sendable, CaseIterable {
    /// Haarnoja et al.: 2×256 ReLU, lr 3e-4.
    case sac
    /// DSAC-T's paper: 3×256 GELU, lr 1e-4.
    case dsacT = "dsac-t"
    /// RLtools' Pendulum SAC: 2×64, batch 100, lr 1e-3.
    case rltools
    /// rl-zoo3's Pendulum SAC: 2×256, batch 256, lr 1e-3.
    case sb3

    public var config: OffPolicyConfig {
        switch self {
        case .sac: return OffPolicyConfig()
        case .dsacT: return .dsacT
        case .rltools: return .rltools
        case .sb3: return .sb3Zoo
        }
    }

    /// The preset an algorithm uses unless told otherwise.
    public static func `default`(for algorithm: OffPolicyAlgorithm) -> OffPolicyPreset {
        algorithm == .sac ? .sac : .dsacT
    }
}

/// What a fine-tuning run directory's `run.json` records about the learner and its trainer: enough to rebuild the
/// run exactly on resume. Steering runs (DSRL) add their own section beside it (`FinetuneSpec` in ReflexSteering).
public struct TrainingRunSpec: Codable, Sendable, Equatable {
    public var algo: OffPolicyAlgorithm
    /// `pendulum`, or a simulated task `robot:task`.
    public var env: String
    public var seed: UInt64
    /// Kernel threads (1 makes runs bit-reproducible).
    public var threads: Int
    public var learner: OffPolicyConfig
    public var trainer: TrainerConfig

    public init(algo: OffPolicyAlgorithm, env: String, seed: UInt64, threads: Int, learner: OffPolicyConfig, trainer: TrainerConfig) {
        self.algo = algo
        self.env = env
        self.seed = seed
        self.threads = threads
        self.learner = learner
        self.trainer = trainer
    }

    /// Checks the learner, the trainer and the threads.
    public func validate() throws {
        try learner.validate()
        try trainer.validate()
        guard (1 ... 256).contains(threads) else { throw ReflexError(.invalidValue, "threads must be in 1...256, got \(threads)") }
        if algo == .dsacT, learner.policyDelay < 1 {
            throw ReflexError(.invalidValue, "DSAC-T needs a policy delay of at least 1, got \(learner.policyDelay)")
        }
    }
}
