import ReflexCore
import ReflexNN
import ReflexPolicy
import ReflexRL

/// DSRL-NA, noise aliasing (Wagenmaker et al. 2025, §4.2, Algorithm "DSRL-NA"; the official code's `DSRL.train`).
///
/// Many noises w alias to the same chunk a = π_dp(s, w), so the value of a noise is learned through the value of the
/// action it produces. Each `update` (one gradient step) on a minibatch (s, w, r, s′, d) of `LatentNoiseEnvironment`
/// transitions (w in [−1, 1], as the trainer stores it) takes, in order:
/// 1. the executed actions a = π_dp(s, w·m) (m = `magnitude`), recomputed by one batched denoise of the minibatch
///    (DDIM at η = 0 is deterministic, so this is the chunk the environment ran, up to the float rounding of batched
///    sums: below 1e-5 in the tests), and a′ = π_dp(s′, w′·m) with w′ ~ π_W(·|s′), another batched denoise;
/// 2. a TD step on the action critics Q^A(s, a): y = r + γ(1 − d)(min_i Q̄^A_i(s′, a′) − α log π_W(w′|s′));
/// 3. `noiseCriticSteps` distillation steps of the noise critics Q^W: w̃ ~ N(0, I) clipped to ±m, ã = π_dp(s, w̃),
///    Q^W_i(s, w̃/m) regressed (½ MSE) onto min_i Q^A_i(s, ã) of the current action critics;
/// 4. every `policyDelay`-th update, the actor and temperature step of SAC (`SoftPolicyImprovement`) against Q^W,
///    J = mean[α log π_W(w|s) − min_i Q^W_i(s, w)], then Polyak averaging of the Q^A targets.
///
/// `magnitude` m is applied everywhere a noise meets the diffusion policy (w·m is denoised, Q^W sees w̃/m, the
/// distillation noise is clipped to ±m): the official NA code ignores `action_magnitude` (issue 7, PAPERS.md), so
/// there the noise it learns about and the noise the environment executes need not be on the same scale.
///
/// a is the executed window of the chunk (rows nObsSteps − 1 ..< nObsSteps − 1 + nActionSteps, in the policy's
/// normalized action space): what `LatentNoiseEnvironment` executed. The replay buffer keeps only w (the
/// trainer stays unchanged); recomputing a costs one batched denoise per update, which is cheaper to maintain than a
/// second action column threaded through trainer, buffer and checkpoints.
public final class DSRLNoiseAliasing: OffPolicyLearner, @unchecked Sendable {
    public let config: OffPolicyConfig
    /// The diffusion policy's normalized condition size.
    public let observationSize: Int
    /// Noise size H × A.
    public let actionSize: Int
    /// Executed actions per chunk, nActionSteps × A (Q^A's action input).
    public let executedSize: Int
    public let magnitude: Float
    /// Q^W distillation steps per update.
    public let noiseCriticSteps: Int
    /// The frozen diffusion policy (loaded for at least `config.batchSize` candidates).
    public let diffusion: DiffusionPolicy
    /// Q^A(s, a) over executed actions.
    public let actionCritics: CriticEnsemble
    /// Q^W(s, w) over noise in [−1, 1] (w·magnitude is the noise denoised).
    public let noiseCritics: CriticEnsemble
    public let improvement: SoftPolicyImprovement
    public private(set) var updates = 0
    /// ½ mean squared error of the last distillation step (first noise critic).
    public private(set) var distillationLoss: Float = 0

    let batch: ReplayBatch
    let nextTape: TanhGaussianPolicy.Tape
    /// B × H·A noise handed to the denoiser (scaled by magnitude).
    let noise: Tensor
    /// B × (o + executed): [s, a] and [s′, a′] rows for Q^A.
    let stateActions: Tensor
    /// B × (o + H·A): [s, w̃/m] rows for Q^W.
    let stateNoises: Tensor
    let targetQ: Tensor
    let otherQ: Tensor
    let outputGradient: Tensor
    let actWorkspace: TanhGaussianPolicy.Workspace
    /// DDIM at η = 0 draws nothing; the denoiser still takes a generator.
    var unusedGenerator = RandomGenerator(seed: 0)

    public var policy: TanhGaussianPolicy { improvement.policy }
    public var alpha: Float { improvement.alpha }

    /// `diffusion`'s sampler is set to DDIM with `ddimSteps` steps at η = 0, as `LatentNoiseEnvironment` sets its own
    /// copy; load it with `PolicyDirectory.load(_, maxCandidates: config.batchSize)`.
    public init(diffusion: DiffusionPolicy, magnitude: Float = 1.5, ddimSteps: Int = 10, noiseCriticSteps: Int = 1,
                config: OffPolicyConfig, generator: inout RandomGenerator) throws {
        try config.validate()
        guard config.criticCount == 2 else {
            throw ReflexError(.invalidValue, "DSRL-NA keeps two action and two noise critics; a larger ensemble is DSRL-SAC's (got \(config.criticCount))")
        }
        guard magnitude > 0 else { throw ReflexError(.invalidValue, "action magnitude must be positive") }
        guard noiseCriticSteps >= 1 else {
            throw ReflexError(.invalidValue, "noise critic steps must be at least 1, got \(noiseCriticSteps)")
        }
        guard diffusion.maxCandidates >= config.batchSize else {
            throw ReflexError(.invalidValue,
                              "DSRL-NA denoises whole minibatches: load the policy for \(config.batchSize) candidates, not \(diffusion.maxCandidates)")
        }
        let c = diffusion.config
        diffusion.sampler = .ddim(steps: ddimSteps, eta: 0)
        self.config = config
        self.diffusion = diffusion
        self.magnitude = magnitude
        self.noiseCriticSteps = noiseCriticSteps
        observationSize = c.denoiserConditionSize
        actionSize = c.horizon * c.actionSize
        executedSize = c.nActionSteps * c.actionSize
        let o = observationSize, b = config.batchSize
        let actor = TanhGaussianPolicy(observationSize: o, actionSize: actionSize, hiddenSizes: config.actorHiddenSizes,
                                       activation: config.activation, layerNorm: config.layerNorm,
                                       logStdMin: config.logStdMin, logStdMax: config.logStdMax, generator: &generator)
        actionCritics = CriticEnsemble(inputSize: o + executedSize, outputSize: 1, config: config, generator: &generator)
        noiseCritics = CriticEnsemble(inputSize: o + actionSize, outputSize: 1, config: config, generator: &generator)
        improvement = SoftPolicyImprovement(policy: actor, criticConfig: noiseCritics.networks[0].config, config: config)
        batch = ReplayBatch(size: b, observationSize: o, actionSize: actionSize)
        nextTape = TanhGaussianPolicy.Tape(policy: actor, maxBatch: b)
        noise = Tensor(zeros: [b, actionSize])
        stateActions = Tensor(zeros: [b, o + executedSize])
        stateNoises = Tensor(zeros: [b, o + actionSize])
        targetQ = Tensor(zeros: [b])
        otherQ = Tensor(zeros: [b])
        outputGradient = Tensor(zeros: [b])
        actWorkspace = TanhGaussianPolicy.Workspace(policy: actor, maxBatch: 16)
    }

    /// Writes [s_r, π_dp(s_r, noise_r)'s executed window] into `stateActions` for the B rows of `states` from the
    /// B noises in `noise` (already scaled by the magnitude): one batched denoise.
    /// - Note: Real-time safe.
    func denoiseExecuted(states: UnsafePointer<Float>) {
        let c = diffusion.config, b = batch.size, o = observationSize, e = executedSize
        diffusion.sampleBatch(normalizedConditions: states, count: b, initialNoise: noise.data, generator: &unusedGenerator)
        let window = (c.nObsSteps - 1) * c.actionSize
        for r in 0 ..< b {
            let row = stateActions.data + r * (o + e)
            row.update(from: states + r * o, count: o)
            (row + o).update(from: diffusion.candidate(r) + window, count: e)
        }
    }

    /// - Note: Real-time safe.
    @discardableResult
    public func update(_ buffer: ReplayBuffer, generator: inout RandomGenerator) -> UpdateMetrics {
        var metrics = UpdateMetrics()
        let b = batch.size, o = observationSize, n = actionSize, m = magnitude
        let inv = 1 / Float(b)
        buffer.sample(into: batch, generator: &generator)

        // TD target through the next chunk: w′ ~ π_W(s′), a′ = π_dp(s′, w′·m).
        let alphaNow = improvement.alpha
        policy.sample(batch.nextObservations.data, batch: b, tape: nextTape, generator: &generator)
        for i in 0 ..< b * n { noise.data[i] = nextTape.actions.data[i] * m }
        denoiseExecuted(states: batch.nextObservations.data)
        actionCritics.targets[0].evaluate(stateActions.data, batch: b, output: targetQ.data, workspace: actionCritics.workspace)
        actionCritics.targets[1].evaluate(stateActions.data, batch: b, output: otherQ.data, workspace: actionCritics.workspace)
        var targetSum: Float = 0
        for r in 0 ..< b {
            let next = min(targetQ.data[r], otherQ.data[r]) - alphaNow * nextTape.logProbabilities.data[r]
            targetQ.data[r] = batch.rewards.data[r] + config.gamma * (1 - batch.terminals.data[r]) * next
            targetSum += targetQ.data[r]
        }

        // Q^A step on the executed chunks a = π_dp(s, w·m).
        for r in 0 ..< b {
            let w = batch.observationActions.data + r * (o + n) + o
            for i in 0 ..< n { noise.data[r * n + i] = w[i] * m }
        }
        denoiseExecuted(states: batch.observations.data)
        var loss: Float = 0, meanQ: Float = 0
        for k in 0 ..< 2 {
            let q = actionCritics.forward(k, stateActions.data, batch: b)
            for r in 0 ..< b {
                let e = q[r] - targetQ.data[r]
                loss += 0.5 * e * e
                outputGradient.data[r] = e * inv
                if k == 0 { meanQ += q[r] }
            }
            actionCritics.step(k, outputGradient: outputGradient.data)
        }
        metrics.criticLoss = loss * inv
        metrics.meanQ = meanQ * inv
        metrics.meanTarget = targetSum * inv

        for _ in 0 ..< noiseCriticSteps { distil(generator: &generator) }

        updates += 1
        if updates % config.policyDelay == 0 {
            improvement.update(batch: batch, critics: noiseCritics, metrics: &metrics, generator: &generator)
            actionCritics.updateTargets(tau: config.tau)
        } else {
            metrics.alpha = improvement.alpha
        }
        return metrics
    }

    /// One distillation step of both noise critics on the minibatch's states: Q^W_i(s, w̃/m) → min_i Q^A_i(s, π_dp(s, w̃)),
    /// w̃ ~ N(0, I) clipped to ±m (the base policy's own noise).
    /// - Note: Real-time safe.
    func distil(generator: inout RandomGenerator) {
        let b = batch.size, o = observationSize, n = actionSize, m = magnitude
        let inv = 1 / Float(b)
        generator.fillGaussian(noise.data, count: b * n)
        for i in 0 ..< b * n { noise.data[i] = min(m, max(-m, noise.data[i])) }
        denoiseExecuted(states: batch.observations.data)
        actionCritics.networks[0].evaluate(stateActions.data, batch: b, output: targetQ.data, workspace: actionCritics.workspace)
        actionCritics.networks[1].evaluate(stateActions.data, batch: b, output: otherQ.data, workspace: actionCritics.workspace)
        for r in 0 ..< b {
            targetQ.data[r] = min(targetQ.data[r], otherQ.data[r])
            let row = stateNoises.data + r * (o + n)
            row.update(from: batch.observations.data + r * o, count: o)
            for i in 0 ..< n { row[o + i] = noise.data[r * n + i] / m }
        }
        for k in 0 ..< 2 {
            let q = noiseCritics.forward(k, stateNoises.data, batch: b)
            var loss: Float = 0
            for r in 0 ..< b {
                let e = q[r] - targetQ.data[r]
                loss += 0.5 * e * e
                outputGradient.data[r] = e * inv
            }
            noiseCritics.step(k, outputGradient: outputGradient.data)
            if k == 0 { distillationLoss = loss * inv }
        }
    }

    /// - Note: Real-time safe for batch ≤ 16.
    public func act(_ observations: UnsafePointer<Float>, batch: Int, deterministic: Bool, output: UnsafeMutablePointer<Float>,
                    generator: inout RandomGenerator) {
        policy.act(observations, batch: batch, deterministic: deterministic, output: output, workspace: actWorkspace,
                   generator: &generator)
    }

    /// min_i Q^W_i over rows of [s, w] with w in [−1, 1] (the learner's own action space).
    public func estimateQ(_ observationActions: UnsafePointer<Float>, batch: Int, output: UnsafeMutablePointer<Float>) {
        estimateEnsembleQ(noiseCritics, observationActions, batch: batch, output: output)
    }

    public func namedState() -> [(name: String, tensor: Tensor)] {
        actionCritics.namedState(prefix: "critic_a.") + noiseCritics.namedState(prefix: "critic_w.")
            + improvement.namedState(prefix: "actor.")
    }

    public func metadata() -> [String: String] {
        actionCritics.metadata(prefix: "critic_a.")
            .merging(noiseCritics.metadata(prefix: "critic_w.")) { a, _ in a }
            .merging(improvement.metadata(prefix: "actor.")) { a, _ in a }
            .merging(["learner.updates": String(updates), "learner.algorithm": "dsrl-na"]) { a, _ in a }
    }

    public func load(from file: SafetensorsFile) throws {
        try checkAlgorithm(file, "dsrl-na")
        try actionCritics.load(from: file, prefix: "critic_a.")
        try noiseCritics.load(from: file, prefix: "critic_w.")
        try improvement.load(from: file, prefix: "actor.")
        updates = try metadataInt(file, "learner.updates")
    }
}
