import ReflexCore
import ReflexNN

/// Critics Q_θ1 … Q_θN over [observation, action], their Polyak-averaged targets and Adam states. Two is clipped
/// double Q (Fujimoto et al. 2018, as SAC and DSAC-T use it); SAC may take more, REDQ-style (Chen et al. 2021: the
/// target is the min over a random subset of M, the actor ascends the mean of all N). Output column 0 is the mean
/// Q; DSAC-T's critics add a second column, the pre-softplus standard deviation.
public final class CriticEnsemble: @unchecked Sendable {
    public let networks: [MLP]
    public let targets: [MLP]
    public internal(set) var optimizers: [Adam]
    public let outputSize: Int
    /// Global gradient-norm bound of each critic step (nil: no clipping).
    public let gradientClipNorm: Float?
    let tapes: [MLPTape]
    let gradient: Tensor
    package let workspace: MLPWorkspace

    public var count: Int { networks.count }

    public init(inputSize: Int, outputSize: Int, config: OffPolicyConfig, count: Int = 2, generator: inout RandomGenerator) {
        precondition(count >= 2, "a critic ensemble holds at least two critics")
        let c = MLPConfig(inputSize: inputSize, hiddenSizes: config.criticHiddenSizes, outputSize: outputSize,
                          activation: config.activation, layerNorm: config.layerNorm)
        networks = (0 ..< count).map { _ in MLP(config: c, generator: &generator) }
        targets = networks.map { $0.copy() }
        let adam = Adam.Config(learningRate: config.criticLearningRate, epsilon: config.adamEpsilon)
        optimizers = networks.map { Adam(parameterCount: $0.parameterCount, config: adam) }
        self.outputSize = outputSize
        gradientClipNorm = config.gradientClipNorm
        tapes = networks.map { _ in MLPTape(config: c, maxBatch: config.batchSize) }
        gradient = Tensor(zeros: [networks[0].parameterCount])
        workspace = MLPWorkspace(config: c, maxBatch: config.batchSize)
    }

    /// Training forward of critic `k`; the output (batch × outputSize) lives in its tape.
    /// - Note: Real-time safe.
    package func forward(_ k: Int, _ input: UnsafePointer<Float>, batch: Int) -> UnsafeMutablePointer<Float> {
        networks[k].forward(input, batch: batch, tape: tapes[k])
    }

    /// Backward of critic `k` from ∂L/∂output, the gradient clipped to `gradientClipNorm`, and one Adam step on it.
    /// - Note: Real-time safe.
    package func step(_ k: Int, outputGradient: UnsafePointer<Float>) {
        gradient.fill(0)
        networks[k].backward(tape: tapes[k], outputGradient: outputGradient, gradient: gradient, inputGradient: nil)
        if let bound = gradientClipNorm { clipGradientNorm(gradient, to: bound) }
        optimizers[k].update(parameters: networks[k].parameters, gradient: gradient)
    }

    /// θ̄ ← (1 − τ) θ̄ + τ θ for every critic.
    /// - Note: Real-time safe.
    package func updateTargets(tau: Float) {
        for k in 0 ..< count { polyakAverage(target: targets[k].parameters, source: networks[k].parameters, tau: tau) }
    }

    package func namedState(prefix: String) -> [(name: String, tensor: Tensor)] {
        var out: [(name: String, tensor: Tensor)] = []
        for k in 0 ..< count {
            out += networks[k].namedParameters(prefix: "\(prefix)\(k).")
            out += targets[k].namedParameters(prefix: "\(prefix)\(k).target.")
            out += optimizers[k].namedState(prefix: "\(prefix)\(k).adam.")
        }
        return out
    }

    package func metadata(prefix: String) -> [String: String] {
        optimizers.enumerated().reduce(into: [:]) { $0.merge($1.element.metadata(prefix: "\(prefix)\($1.offset).adam.")) { a, _ in a } }
    }

    package func load(from file: SafetensorsFile, prefix: String) throws {
        for k in 0 ..< count {
            try networks[k].layout.load(into: networks[k].parameters, from: file, prefix: "\(prefix)\(k).")
            try targets[k].layout.load(into: targets[k].parameters, from: file, prefix: "\(prefix)\(k).target.")
            try optimizers[k].load(from: file, prefix: "\(prefix)\(k).adam.")
        }
    }
}

/// Scales `gradient` so its Euclidean norm is at most `bound` (PyTorch's `clip_grad_norm_` on one parameter set).
/// - Note: Real-time safe.
package func clipGradientNorm(_ gradient: Tensor, to bound: Float) {
    let n = gradient.count, g = gradient.data
    var sum: Float = 0
    for i in 0 ..< n { sum += g[i] * g[i] }
    let norm = sum.squareRoot()
    guard norm > bound else { return }
    let s = bound / (norm + 1e-6)
    for i in 0 ..< n { g[i] *= s }
}
