#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore
import ReflexNN

/// The actor and temperature half of SAC and DSAC-T, shared by both.
///
/// Actor (Haarnoja et al. 2018, eq. 7/11): J_π = mean_b[α log π(ã_b|s_b) − min_i Q_i(s_b, ã_b)], ã = tanh(μ + σε),
/// with Q_i the critics' mean output (DSAC-T uses the same form on its mean Q, Duan et al. 2025, eq. 25).
/// Temperature (eq. 18): J(α) = mean_b[−log α · sg(log π(ã_b|s_b) + H̄)], learned in log space with its own Adam.
public final class SoftPolicyImprovement: @unchecked Sendable {
    public let policy: TanhGaussianPolicy
    public internal(set) var optimizer: Adam
    /// log α, one value.
    public let logAlpha: Tensor
    public internal(set) var alphaOptimizer: Adam
    public let targetEntropy: Float
    let learnAlpha: Bool
    let tape: TanhGaussianPolicy.Tape
    let observationActions: Tensor
    let criticTapes: [MLPTape]
    let criticOutputGradient: Tensor
    let inputGradient: Tensor
    let actionGradient: Tensor
    let logProbabilityGradient: Tensor
    let gradient: Tensor
    let alphaGradient: Tensor
    let observationSize: Int

    public var alpha: Float { expf(logAlpha.data[0]) }

    let gradientClipNorm: Float?

    package init(policy: TanhGaussianPolicy, criticConfig: MLPConfig, config: OffPolicyConfig, criticCount: Int = 2) {
        self.policy = policy
        let b = config.batchSize, a = policy.actionSize
        observationSize = policy.observationSize
        optimizer = Adam(parameterCount: policy.network.parameterCount,
                         config: .init(learningRate: config.actorLearningRate, epsilon: config.adamEpsilon))
        logAlpha = Tensor([logf(config.initialAlpha)])
        alphaOptimizer = Adam(parameterCount: 1, config: .init(learningRate: config.alphaLearningRate, epsilon: config.adamEpsilon))
        targetEntropy = config.targetEntropy ?? -Float(a)
        learnAlpha = config.learnAlpha
        tape = TanhGaussianPolicy.Tape(policy: policy, maxBatch: b)
        observationActions = Tensor(zeros: [b, observationSize + a])
        criticTapes = (0 ..< criticCount).map { _ in MLPTape(config: criticConfig, maxBatch: b) }
        gradientClipNorm = config.gradientClipNorm
        criticOutputGradient = Tensor(zeros: [b, criticConfig.outputSize])
        inputGradient = Tensor(zeros: [b, observationSize + a])
        actionGradient = Tensor(zeros: [b, a])
        logProbabilityGradient = Tensor(zeros: [b])
        gradient = Tensor(zeros: [policy.network.parameterCount])
        alphaGradient = Tensor(zeros: [1])
    }

    /// One actor step (and one temperature step) on the observations of `batch` against `critics`' current
    /// (not target) networks. Writes actor loss, α and entropy into `metrics`.
    /// - Note: Real-time safe.
    package func update(batch: ReplayBatch, critics: CriticEnsemble, metrics: inout UpdateMetrics, generator: inout RandomGenerator) {
        let b = batch.size, a = policy.actionSize, o = observationSize, w = o + a
        let alphaNow = alpha
        policy.sample(batch.observations.data, batch: b, tape: tape, generator: &generator)
        for r in 0 ..< b {
            let row = observationActions.data + r * w
            row.update(from: batch.observations.data + r * o, count: o)
            (row + o).update(from: tape.actions.data + r * a, count: a)
        }
        let width = critics.outputSize
        actionGradient.fill(0)
        var loss: Float = 0, sumLogP: Float = 0
        let inv = 1 / Float(b)
        if critics.count > 2 {
            // REDQ's actor (Chen et al. 2021, Algorithm 1 line 12): the mean over all N critics.
            let n = critics.count, share = inv / Float(n)
            criticOutputGradient.fill(0)
            for r in 0 ..< b { criticOutputGradient.data[r * width] = -share }
            for k in 0 ..< n {
                let q = critics.networks[k].forward(observationActions.data, batch: b, tape: criticTapes[k])
                for r in 0 ..< b { loss -= q[r * width] / Float(n) }
                addActionGradient(critic: k, of: critics, batch: b)
            }
        } else {
            let q0 = critics.networks[0].forward(observationActions.data, batch: b, tape: criticTapes[0])
            let q1 = critics.networks[1].forward(observationActions.data, batch: b, tape: criticTapes[1])
            for r in 0 ..< b { loss -= min(q0[r * width], q1[r * width]) }
            // ∂J/∂a flows only through the smaller critic of each sample (the min's subgradient).
            for k in 0 ..< 2 {
                criticOutputGradient.fill(0)
                var any = false
                for r in 0 ..< b {
                    let useFirst = q0[r * width] <= q1[r * width]
                    if (k == 0) == useFirst {
                        criticOutputGradient.data[r * width] = -inv
                        any = true
                    }
                }
                if any { addActionGradient(critic: k, of: critics, batch: b) }
            }
        }
        for r in 0 ..< b {
            let logp = tape.logProbabilities.data[r]
            loss += alphaNow * logp
            sumLogP += logp
            logProbabilityGradient.data[r] = alphaNow * inv
        }
        finish(loss: loss, sumLogP: sumLogP, inv: inv, metrics: &metrics)
    }

    /// Back-propagates `criticOutputGradient` through critic `k` (its tape from this update's forward) and adds the
    /// action part of the input gradient into `actionGradient`.
    /// - Note: Real-time safe.
    private func addActionGradient(critic k: Int, of critics: CriticEnsemble, batch b: Int) {
        let a = policy.actionSize, o = observationSize, w = o + a
        critics.networks[k].backward(tape: criticTapes[k], outputGradient: criticOutputGradient.data, gradient: nil,
                                     inputGradient: inputGradient.data)
        for r in 0 ..< b {
            for j in 0 ..< a { actionGradient.data[r * a + j] += inputGradient.data[r * w + o + j] }
        }
    }

    /// The actor's backward and Adam step (its gradient clipped when asked), then the temperature step.
    /// - Note: Real-time safe.
    private func finish(loss: Float, sumLogP: Float, inv: Float, metrics: inout UpdateMetrics) {
        gradient.fill(0)
        policy.backward(tape: tape, actionGradient: actionGradient.data, logProbabilityGradient: logProbabilityGradient.data,
                        gradient: gradient)
        if let bound = gradientClipNorm { clipGradientNorm(gradient, to: bound) }
        optimizer.update(parameters: policy.network.parameters, gradient: gradient)
        let meanLogP = sumLogP * inv
        if learnAlpha {
            alphaGradient.data[0] = -(meanLogP + targetEntropy)
            alphaOptimizer.update(parameters: logAlpha, gradient: alphaGradient)
        }
        metrics.actorLoss = loss * inv
        metrics.entropy = -meanLogP
        metrics.alpha = alpha
    }

    package func namedState(prefix: String) -> [(name: String, tensor: Tensor)] {
        policy.network.namedParameters(prefix: prefix) + optimizer.namedState(prefix: prefix + "adam.")
            + [(prefix + "log_alpha", logAlpha)] + alphaOptimizer.namedState(prefix: prefix + "alpha_adam.")
    }

    package func metadata(prefix: String) -> [String: String] {
        optimizer.metadata(prefix: prefix + "adam.").merging(alphaOptimizer.metadata(prefix: prefix + "alpha_adam.")) { a, _ in a }
    }

    package func load(from file: SafetensorsFile, prefix: String) throws {
        try policy.network.layout.load(into: policy.network.parameters, from: file, prefix: prefix)
        try optimizer.load(from: file, prefix: prefix + "adam.")
        guard let e = file.entry(prefix + "log_alpha"), e.elementCount == 1 else {
            throw ReflexError(.safetensorsMissingTensor, "missing temperature", at: .init(file: file.path, element: "tensor '\(prefix)log_alpha'"))
        }
        logAlpha.assign(from: try file.tensor(prefix + "log_alpha"))
        try alphaOptimizer.load(from: file, prefix: prefix + "alpha_adam.")
    }
}
