import Foundation
import ReflexCore
import ReflexNN
import ReflexPolicy
import ReflexRL

/// DSRL settings (Wagenmaker et al. 2025): which frozen diffusion policy is steered and how its noise space is set
/// up. The `dsrl` section of a fine-tuning run's `run.json`.
public struct DSRLSettings: Codable, Sendable, Equatable {
    /// The learner's variant.
    public enum Variant: String, Codable, Sendable, CaseIterable {
        /// SAC whose action is the initial noise w.
        case sac
        /// Noise aliasing: Q^A on executed chunks, Q^W distilled from it (`DSRLNoiseAliasing`).
        case na
    }

    /// The reward the learner sees.
    public enum Reward: String, Codable, Sendable, CaseIterable {
        /// The paper's: −1 per chunk until success, 0 on the chunk that succeeds (which ends the episode).
        case sparse
        /// The task's shaped reward, summed over the chunk.
        case task
    }

    /// The steered policy directory (absolute, so a resume from elsewhere finds it).
    public var policy: String
    /// Noise actions live in [−magnitude, magnitude] (the paper's `action_magnitude`, 1.5).
    public var magnitude: Float
    /// DDIM steps (η = 0) of the deterministic map w ↦ chunk.
    public var ddimSteps: Int
    public var reward: Reward
    /// Absent in run.json files written before DSRL-NA existed: SAC.
    public var variant: Variant?
    /// DSRL-NA: Q^W distillation steps per gradient update (default 1).
    public var noiseCriticSteps: Int?

    public init(policy: String, magnitude: Float = 1.5, ddimSteps: Int = 10, reward: Reward = .sparse,
                variant: Variant = .sac, noiseCriticSteps: Int? = nil) {
        self.policy = policy
        self.magnitude = magnitude
        self.ddimSteps = ddimSteps
        self.reward = reward
        self.variant = variant
        self.noiseCriticSteps = noiseCriticSteps
    }

    /// The variant, with older files' default.
    public var learnerVariant: Variant { variant ?? .sac }

    /// Checks ranges and combinations.
    public func validate(algorithm: OffPolicyAlgorithm) throws {
        func bad(_ key: String, _ message: String) -> ReflexError {
            ReflexError(.invalidValue, message, at: .init(keyPath: "dsrl." + key))
        }
        guard magnitude > 0, magnitude.isFinite else { throw bad("magnitude", "must be a positive number, got \(magnitude)") }
        guard (1 ... 1000).contains(ddimSteps) else { throw bad("ddimSteps", "must be in 1...1000, got \(ddimSteps)") }
        switch learnerVariant {
        case .na:
            guard algorithm == .sac else { throw bad("variant", "DSRL-NA is SAC-based, not \(algorithm.rawValue)") }
            if let n = noiseCriticSteps, n < 1 { throw bad("noiseCriticSteps", "must be at least 1, got \(n)") }
        case .sac:
            if noiseCriticSteps != nil { throw bad("noiseCriticSteps", "applies to the na variant only") }
        }
    }

    /// DSRL's released learner: 3×256 Tanh MLPs with LayerNorm, lr 3e-4, batch 256, τ 0.005, target entropy 0.
    /// α starts small: with D = H·A ≈ 100 noise dimensions, α = 1 makes the entropy bonus (≈ α·D per step) dwarf
    /// a −1/0 task reward for thousands of updates while α decays toward target entropy 0.
    public static var learnerPreset: OffPolicyConfig {
        var c = OffPolicyConfig(actorHiddenSizes: [256, 256, 256], criticHiddenSizes: [256, 256, 256], activation: .tanh,
                                layerNorm: true, batchSize: 256, gamma: 0.99, tau: 0.005, actorLearningRate: 3e-4,
                                criticLearningRate: 3e-4, alphaLearningRate: 3e-4, targetEntropy: 0)
        c.initialAlpha = 0.01
        return c
    }
}

/// A fine-tuning run's `run.json`: the learner and trainer (`TrainingRunSpec`) and, when the run steers a diffusion
/// policy, its DSRL settings. One type, read by `reflex finetune --resume`, the fine-tuning session and
/// `DSRLActorDirectory`.
public struct FinetuneSpec: Codable, Sendable, Equatable {
    /// Which actor a finished run keeps as `policy.safetensors`.
    public enum PolicySelection: String, Codable, Sendable, CaseIterable {
        /// The weights at the end of the budget.
        case last
        /// The weights of the best periodic evaluation (success rate, then mean return; the earliest on a tie), on the
        /// trainer's own evaluation starts — never the starts a benchmark reports on. The last weights stay in
        /// `policy-last.safetensors`. Off-policy curves (DSRL's above all) can dip late; this keeps what was reached.
        case bestEvaluation = "best-evaluation"
    }

    public var run: TrainingRunSpec
    /// DSRL: the learner acts on this frozen diffusion policy's initial noise instead of on the joints.
    public var dsrl: DSRLSettings?
    /// Absent in run.json files written before selection existed: `last`.
    public var keep: PolicySelection?

    public init(run: TrainingRunSpec, dsrl: DSRLSettings? = nil, keep: PolicySelection? = nil) {
        self.run = run
        self.dsrl = dsrl
        self.keep = keep
    }

    enum CodingKeys: String, CodingKey { case dsrl, keep }

    // run.json is one flat object: the training run's keys with `dsrl` and `keep` beside them.
    public init(from decoder: Decoder) throws {
        run = try TrainingRunSpec(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dsrl = try c.decodeIfPresent(DSRLSettings.self, forKey: .dsrl)
        keep = try c.decodeIfPresent(PolicySelection.self, forKey: .keep)
    }

    public func encode(to encoder: Encoder) throws {
        try run.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(dsrl, forKey: .dsrl)
        try c.encodeIfPresent(keep, forKey: .keep)
    }

    /// The learner in reports: the algorithm, or dsrl-sac / dsrl-dsac-t / dsrl-na when steering a diffusion policy.
    public var learnerName: String {
        guard let d = dsrl else { return run.algo.rawValue }
        return d.learnerVariant == .na ? "dsrl-na" : "dsrl-\(run.algo.rawValue)"
    }

    /// Checks the run and its DSRL section together.
    public func validate() throws {
        try run.validate()
        if keep == .bestEvaluation, run.trainer.evaluationInterval == 0 || run.trainer.evaluationEpisodes == 0 {
            throw ReflexError(.invalidValue, "keeping the best evaluation's policy needs periodic evaluations (eval-every and eval-episodes above 0)")
        }
        if let d = dsrl {
            guard run.env.contains(":") else {
                throw ReflexError(.invalidValue, "DSRL steers a policy on a simulated task (robot:task), not '\(run.env)'")
            }
            try d.validate(algorithm: run.algo)
        }
    }

    /// Reads and checks a run directory's `run.json`.
    public static func read(directory: RunDirectory) throws -> FinetuneSpec {
        guard FileManager.default.fileExists(atPath: directory.runFile) else {
            throw ReflexError(.fileNotFound, "not a `reflex finetune` run directory (no run.json)", at: .init(file: directory.runFile))
        }
        let bytes = try readFile(directory.runFile)
        let spec: FinetuneSpec
        do { spec = try JSONDecoder().decode(FinetuneSpec.self, from: Data(bytes)) } catch {
            throw ReflexError(.invalidValue, "not a fine-tuning run.json: \(error)", at: .init(file: directory.runFile))
        }
        do { try spec.validate() } catch let e as ReflexError { throw e.inFile(directory.runFile) }
        return spec
    }

    /// The JSON written to `run.json` (sorted keys, pretty-printed).
    public func encoded() throws -> [UInt8] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try enc.encode(self))
    }

    /// Writes `run.json` atomically.
    public func write(to directory: RunDirectory) throws {
        try writeFileAtomically(try encoded(), to: directory.runFile)
    }

    /// The run's learner with its initial weights (`OffPolicyAlgorithm.initializationGenerator`): SAC or DSAC-T on
    /// the environment's actions, or DSRL-NA with its own copy of the frozen policy.
    public func makeLearner(observationSize: Int, actionSize: Int) throws -> any OffPolicyLearner {
        guard let d = dsrl, d.learnerVariant == .na else {
            return try run.algo.makeLearner(observationSize: observationSize, actionSize: actionSize, config: run.learner,
                                            seed: run.seed)
        }
        var gen = OffPolicyAlgorithm.initializationGenerator(seed: run.seed)
        // Its own copy of the frozen policy, sized to denoise whole minibatches in one pass (a camera policy's
        // features come with each replayed condition, so its encoders stay unused here).
        let diffusion: DiffusionPolicy
        if try PolicyDirectory.readConfig(d.policy).cameras != nil {
            diffusion = try PolicyDirectory.loadCameraPolicy(d.policy, maxCandidates: run.learner.batchSize).diffusion
        } else {
            guard let state = try PolicyDirectory.load(d.policy, maxCandidates: run.learner.batchSize) as? DiffusionPolicy else {
                throw ReflexError(.invalidPolicy, "not a diffusion policy", at: .init(file: d.policy))
            }
            diffusion = state
        }
        let na = try DSRLNoiseAliasing(diffusion: diffusion, magnitude: d.magnitude, ddimSteps: d.ddimSteps,
                                       noiseCriticSteps: d.noiseCriticSteps ?? 1, config: run.learner, generator: &gen)
        guard na.observationSize == observationSize, na.actionSize == actionSize else {
            throw ReflexError(.shapeMismatch, "DSRL-NA learner is \(na.observationSize)→\(na.actionSize), environment \(observationSize)→\(actionSize)")
        }
        return na
    }
}
