import ReflexCore
import ReflexNN

/// Hyperparameters shared by SAC and DSAC-T. Defaults are SAC's (Haarnoja et al. 2018, table 1); the presets give
/// the configurations Reflex is measured against.
public struct OffPolicyConfig: Codable, Sendable, Equatable {
    public var actorHiddenSizes: [Int]
    public var criticHiddenSizes: [Int]
    public var activation: Activation
    public var layerNorm: Bool
    public var batchSize: Int
    /// Discount γ.
    public var gamma: Float
    /// Polyak rate τ of the target networks: θ̄ ← (1 − τ) θ̄ + τ θ.
    public var tau: Float
    public var actorLearningRate: Float
    public var criticLearningRate: Float
    public var alphaLearningRate: Float
    /// Adam's ε (PyTorch 1e-8, TensorFlow/RLtools 1e-7).
    public var adamEpsilon: Float
    /// α at the start; log α is what is learned.
    public var initialAlpha: Float
    /// Learn α toward `targetEntropy` (Haarnoja et al. 2018, eq. 18); false keeps α fixed.
    public var learnAlpha: Bool
    /// H̄; nil means −|A|.
    public var targetEntropy: Float?
    public var logStdMin: Float
    public var logStdMax: Float
    /// Actor, temperature and target networks update every `policyDelay`-th critic update (DSAC-T: 2).
    public var policyDelay: Int
    /// DSAC-T: the sampled target is clipped to Q ± ξ σ̄.
    public var clipSigmas: Float
    /// DSAC-T: ε in ω = σ̄² + ε and in the σ-denominators.
    public var varianceEpsilon: Float
    /// DSAC-T: the paper's critic gradient or the official code's July 2025 variant (see `DSACT`).
    public var distributionalLoss: DistributionalCriticLoss
    /// SAC: critics in the ensemble (nil: 2, clipped double Q). Above 2, REDQ (Chen et al. 2021): the TD target
    /// takes the min over `criticSubset` critics drawn afresh for each update, the actor ascends the mean of all.
    public var critics: Int? = nil
    /// SAC with more than two critics: how many the target's min is over (nil: 2, REDQ's M).
    public var criticSubset: Int? = nil
    /// Clip each critic's and the actor's gradient to this global norm before Adam (nil: no clipping).
    public var gradientClipNorm: Float? = nil

    /// Critics in the ensemble (2 unless `critics` says otherwise).
    public var criticCount: Int { critics ?? 2 }
    /// Critics the TD target's min is over.
    public var targetSubset: Int { criticSubset ?? 2 }

    public init(actorHiddenSizes: [Int] = [256, 256], criticHiddenSizes: [Int] = [256, 256],
                activation: Activation = .relu, layerNorm: Bool = false, batchSize: Int = 256, gamma: Float = 0.99,
                tau: Float = 0.005, actorLearningRate: Float = 3e-4, criticLearningRate: Float = 3e-4,
                alphaLearningRate: Float = 3e-4, adamEpsilon: Float = 1e-8, initialAlpha: Float = 1,
                learnAlpha: Bool = true, targetEntropy: Float? = nil, logStdMin: Float = -20, logStdMax: Float = 2,
                policyDelay: Int = 1, clipSigmas: Float = 3, varianceEpsilon: Float = 0.1,
                distributionalLoss: DistributionalCriticLoss = .paper) {
        self.actorHiddenSizes = actorHiddenSizes
        self.criticHiddenSizes = criticHiddenSizes
        self.activation = activation
        self.layerNorm = layerNorm
        self.batchSize = batchSize
        self.gamma = gamma
        self.tau = tau
        self.actorLearningRate = actorLearningRate
        self.criticLearningRate = criticLearningRate
        self.alphaLearningRate = alphaLearningRate
        self.adamEpsilon = adamEpsilon
        self.initialAlpha = initialAlpha
        self.learnAlpha = learnAlpha
        self.targetEntropy = targetEntropy
        self.logStdMin = logStdMin
        self.logStdMax = logStdMax
        self.policyDelay = policyDelay
        self.clipSigmas = clipSigmas
        self.varianceEpsilon = varianceEpsilon
        self.distributionalLoss = distributionalLoss
    }

    /// DSAC-T's published setting (Duan et al. 2025, table of hyperparameters): 3×256 GELU, critic and actor lr
    /// 1e-4, α lr 3e-4, policy delay 2.
    public static var dsacT: OffPolicyConfig {
        OffPolicyConfig(actorHiddenSizes: [256, 256, 256], criticHiddenSizes: [256, 256, 256], activation: .gelu,
                        actorLearningRate: 1e-4, criticLearningRate: 1e-4, alphaLearningRate: 3e-4, policyDelay: 2)
    }

    /// RLtools' Pendulum SAC (`src/rl/environments/pendulum/sac/cpu/training.cpp`): 2 hidden layers of 64 ReLU
    /// ("3 layers"), batch 100, Adam with TensorFlow's defaults (lr 1e-3, ε 1e-7) for actor, critics and α, α₀ 0.5.
    public static var rltools: OffPolicyConfig {
        OffPolicyConfig(actorHiddenSizes: [64, 64], criticHiddenSizes: [64, 64], batchSize: 100,
                        actorLearningRate: 1e-3, criticLearningRate: 1e-3, alphaLearningRate: 1e-3, adamEpsilon: 1e-7,
                        initialAlpha: 0.5)
    }

    /// rl-zoo3's Pendulum-v1 SAC (`hyperparams/sac.yml`) on SB3's defaults: 2×256 ReLU, batch 256, lr 1e-3 for
    /// everything, α₀ 1.
    public static var sb3Zoo: OffPolicyConfig {
        OffPolicyConfig(actorLearningRate: 1e-3, criticLearningRate: 1e-3, alphaLearningRate: 1e-3)
    }

    /// Checks the values a run cannot work with; throws `invalidValue` naming the field.
    public func validate() throws {
        func bad(_ field: String, _ why: String) -> ReflexError { ReflexError(.invalidValue, "\(field) \(why)") }
        if actorHiddenSizes.isEmpty || actorHiddenSizes.contains(where: { $0 <= 0 }) { throw bad("actor_hidden_sizes", "must be positive widths") }
        if criticHiddenSizes.isEmpty || criticHiddenSizes.contains(where: { $0 <= 0 }) { throw bad("critic_hidden_sizes", "must be positive widths") }
        if batchSize <= 0 { throw bad("batch_size", "must be positive, got \(batchSize)") }
        if !(gamma >= 0 && gamma <= 1) { throw bad("gamma", "must be in [0, 1], got \(gamma)") }
        if !(tau > 0 && tau <= 1) { throw bad("tau", "must be in (0, 1], got \(tau)") }
        if !(initialAlpha > 0) { throw bad("initial_alpha", "must be positive, got \(initialAlpha)") }
        if !(clipSigmas > 0) { throw bad("clip_sigmas", "must be positive, got \(clipSigmas)") }
        if !(varianceEpsilon > 0) { throw bad("variance_epsilon", "must be positive, got \(varianceEpsilon)") }
        if criticCount < 2 { throw bad("critics", "must be at least 2, got \(criticCount)") }
        if targetSubset < 2 || targetSubset > criticCount {
            throw bad("critic_subset", "must be between 2 and the number of critics (\(criticCount)), got \(targetSubset)")
        }
        if let c = gradientClipNorm, !(c > 0 && c.isFinite) { throw bad("gradient_clip_norm", "must be a positive number, got \(c)") }
        if policyDelay < 1 { throw bad("policy_delay", "must be at least 1, got \(policyDelay)") }
        if !(logStdMin < logStdMax) { throw bad("log_std_min", "must be below log_std_max") }
        for (name, lr) in [("actor", actorLearningRate), ("critic", criticLearningRate), ("alpha", alphaLearningRate)] where !(lr > 0) {
            throw bad("\(name)_learning_rate", "must be positive, got \(lr)")
        }
    }
}

/// What one update reports (batch means), for progress lines and metrics files.
public struct UpdateMetrics: Sendable, Equatable {
    public var criticLoss: Float = 0
    public var actorLoss: Float = 0
    public var alpha: Float = 0
    /// −mean log π of the actor's samples.
    public var entropy: Float = 0
    /// Mean Q(s, a) of the first critic over the batch.
    public var meanQ: Float = 0
    /// Mean TD target y over the batch (SAC and DSRL-NA; 0 where a learner does not report it).
    public var meanTarget: Float = 0
    /// DSAC-T: the moving average σ̄ of the first critic (0 for SAC).
    public var meanSigma: Float = 0
    public init() {}
}

/// An off-policy actor-critic learner over a continuous action box normalized to [−1, 1]^A: SAC and DSAC-T.
///
/// The learner never sees the environment: a trainer (or DSRL, acting in a diffusion policy's latent-noise space)
/// scales its actions, steps whatever it drives, fills the replay buffer and calls `update`. Everything the learner
/// needs to continue exactly is in `namedState()` + `metadata()`.
public protocol OffPolicyLearner: AnyObject {
    var observationSize: Int { get }
    var actionSize: Int { get }
    var config: OffPolicyConfig { get }
    /// Updates taken so far.
    var updates: Int { get }
    /// The actor (what a deployment keeps).
    var policy: TanhGaussianPolicy { get }
    /// Current temperature α.
    var alpha: Float { get }

    /// One gradient update on a minibatch drawn from `buffer`.
    /// - Note: Real-time safe.
    @discardableResult
    func update(_ buffer: ReplayBuffer, generator: inout RandomGenerator) -> UpdateMetrics

    /// Actions in [−1, 1]^A for `batch` observations (sampled, or tanh(μ) when deterministic).
    /// - Note: Real-time safe for batch ≤ the learner's acting capacity.
    func act(_ observations: UnsafePointer<Float>, batch: Int, deterministic: Bool, output: UnsafeMutablePointer<Float>,
             generator: inout RandomGenerator)

    /// The critics' estimate of the expected return, min over the twins of the mean Q, for `batch` rows of
    /// [observation, action] (the Q-bias report compares it with Monte-Carlo returns).
    func estimateQ(_ observationActions: UnsafePointer<Float>, batch: Int, output: UnsafeMutablePointer<Float>)

    /// Weights, target weights, optimizer moments and temperature, as named tensors.
    func namedState() -> [(name: String, tensor: Tensor)]
    /// Step counts and scalars that are not tensors.
    func metadata() -> [String: String]
    /// Restores what `namedState`/`metadata` wrote, checking every tensor's presence and size.
    func load(from file: SafetensorsFile) throws
}
