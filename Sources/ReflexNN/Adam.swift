import CBridge
import ReflexCore

/// Adam (Kingma & Ba 2015, Algorithm 1) with bias correction, over one flat parameter tensor.
///
/// `weightDecay` is L2 regularization added to the gradient, as `torch.optim.Adam` does, or AdamW's
/// decoupled decay (Loshchilov & Hutter 2019) when `decoupled` is set. The moments and step count are part of
/// the saved state (`namedState`), so a resumed run continues exactly.
public struct Adam: Sendable {
    public struct Config: Codable, Sendable, Equatable {
        public var learningRate: Float
        public var beta1: Float
        public var beta2: Float
        public var epsilon: Float
        public var weightDecay: Float
        public var decoupled: Bool

        public init(learningRate: Float = 3e-4, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                    weightDecay: Float = 0, decoupled: Bool = false) {
            self.learningRate = learningRate
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
            self.weightDecay = weightDecay
            self.decoupled = decoupled
        }
    }

    public var config: Config
    /// First and second moment estimates, one per parameter.
    public let m: Tensor
    public let v: Tensor
    /// Updates taken so far.
    public private(set) var step: Int = 0

    public init(parameterCount: Int, config: Config = Config()) {
        self.config = config
        m = Tensor(zeros: [parameterCount])
        v = Tensor(zeros: [parameterCount])
    }

    /// One update: parameters -= lr · m̂ / (√v̂ + ε).
    /// - Note: Real-time safe.
    public mutating func update(parameters: Tensor, gradient: Tensor) {
        precondition(parameters.count == m.count && gradient.count == m.count, "Adam sized for \(m.count) parameters")
        step += 1
        rx_adam_step(m.count, parameters.data, gradient.data, m.data, v.data, config.learningRate, config.beta1,
                     config.beta2, config.epsilon, config.weightDecay, config.decoupled ? 1 : 0, step)
    }

    /// The moments as (name, tensor) pairs for a checkpoint; the step count goes in metadata under `prefix + "step"`.
    public func namedState(prefix: String) -> [(name: String, tensor: Tensor)] {
        [(prefix + "m", m), (prefix + "v", v)]
    }

    public func metadata(prefix: String) -> [String: String] { [prefix + "step": String(step)] }

    /// Restores moments and step count saved by `namedState`/`metadata`.
    public mutating func load(from file: SafetensorsFile, prefix: String) throws {
        for (name, t) in namedState(prefix: prefix) {
            guard let e = file.entry(name) else {
                throw ReflexError(.safetensorsMissingTensor, "missing optimizer state '\(name)'",
                                  at: .init(file: file.path, element: "tensor '\(name)'"))
            }
            guard e.elementCount == t.count else {
                throw ReflexError(.shapeMismatch, "optimizer state has \(e.elementCount) values, expected \(t.count)",
                                  at: .init(file: file.path, element: "tensor '\(name)'"))
            }
            t.assign(from: try file.tensor(name))
        }
        guard let s = file.metadata[prefix + "step"], let n = Int(s), n >= 0 else {
            throw ReflexError(.invalidValue, "missing or bad optimizer step count '\(prefix)step' in metadata",
                              at: .init(file: file.path))
        }
        step = n
    }
}

/// target ← (1 − τ) · target + τ · source, elementwise over flat parameter tensors of one layout (Polyak
/// averaging: target networks, EMA weights).
/// - Note: Real-time safe.
public func polyakAverage(target: Tensor, source: Tensor, tau: Float) {
    precondition(target.count == source.count, "Polyak averaging over different layouts")
    rx_polyak(target.count, target.data, source.data, tau)
}
