#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore
import ReflexNN

/// SAC's actor (Haarnoja et al. 2018, appendix C): an MLP gives a mean μ and a log standard deviation per action
/// dimension; the action is a = tanh(u), u = μ + σ ε with ε ~ N(0, I) (the reparameterization trick, eq. 11), so it
/// lies in (−1, 1) and the caller scales it to the action space.
///
/// log σ is clamped to [logStdMin, logStdMax] (its gradient is zero outside). The log-density of the squashed
/// sample is log π(a|s) = Σ_j [log N(u_j; μ_j, σ_j) − log(1 − tanh² u_j)] (eq. 21), with the correction written
/// as 2(log 2 − u − softplus(−2u)), which stays finite where 1 − tanh² u underflows.
public struct TanhGaussianPolicy: Sendable {
    /// observation → [μ (A), log σ (A)].
    public let network: MLP
    public let actionSize: Int
    public let logStdMin: Float
    public let logStdMax: Float

    public var observationSize: Int { network.config.inputSize }

    public init(network: MLP, logStdMin: Float = -20, logStdMax: Float = 2) {
        precondition(network.config.outputSize % 2 == 0, "a Gaussian head needs 2 outputs per action dimension")
        self.network = network
        actionSize = network.config.outputSize / 2
        self.logStdMin = logStdMin
        self.logStdMax = logStdMax
    }

    /// A fresh policy network (PyTorch's default initialization).
    public init(observationSize: Int, actionSize: Int, hiddenSizes: [Int], activation: Activation = .relu,
                layerNorm: Bool = false, logStdMin: Float = -20, logStdMax: Float = 2, generator: inout RandomGenerator) {
        let config = MLPConfig(inputSize: observationSize, hiddenSizes: hiddenSizes, outputSize: 2 * actionSize,
                               activation: activation, layerNorm: layerNorm)
        self.init(network: MLP(config: config, generator: &generator), logStdMin: logStdMin, logStdMax: logStdMax)
    }

    /// An independent copy of the weights (DSAC-T's target policy).
    public func copy() -> TanhGaussianPolicy {
        TanhGaussianPolicy(network: network.copy(), logStdMin: logStdMin, logStdMax: logStdMax)
    }

    static let halfLog2Pi = Float(0.5 * log(2 * Double.pi))
    static let log2 = Float(log(2.0))

    @inline(__always) static func softplus(_ x: Float) -> Float { max(x, 0) + log1pf(expf(-abs(x))) }

    /// Actions for `batch` observations: tanh(μ) when `deterministic` (evaluation), else a fresh sample.
    /// - Note: Real-time safe.
    public func act(_ observations: UnsafePointer<Float>, batch: Int, deterministic: Bool,
                    output: UnsafeMutablePointer<Float>, workspace: Workspace, generator: inout RandomGenerator) {
        let a = actionSize
        network.evaluate(observations, batch: batch, output: workspace.head.data, workspace: workspace.mlp)
        let h = workspace.head.data
        for r in 0 ..< batch {
            for j in 0 ..< a {
                let mu = h[r * 2 * a + j]
                if deterministic {
                    output[r * a + j] = tanhf(mu)
                } else {
                    let ls = min(max(h[r * 2 * a + a + j], logStdMin), logStdMax)
                    output[r * a + j] = tanhf(mu + expf(ls) * Float(generator.gaussian()))
                }
            }
        }
    }

    /// Reparameterized samples a = tanh(μ + σ ε) and log π(a|s) for `batch` observations, keeping in `tape` what
    /// `backward` needs. Actions land in `tape.actions` (batch × A), log-probabilities in `tape.logProbabilities`.
    /// - Note: Real-time safe.
    public func sample(_ observations: UnsafePointer<Float>, batch: Int, tape: Tape, generator: inout RandomGenerator) {
        let a = actionSize
        let h = network.forward(observations, batch: batch, tape: tape.mlp)
        tape.batch = batch
        for r in 0 ..< batch {
            var logp: Float = 0
            for j in 0 ..< a {
                let k = r * a + j
                let mu = h[r * 2 * a + j]
                let raw = h[r * 2 * a + a + j]
                let ls = min(max(raw, logStdMin), logStdMax)
                let sigma = expf(ls)
                let eps = Float(generator.gaussian())
                let u = mu + sigma * eps
                let act = tanhf(u)
                tape.noise.data[k] = eps
                tape.std.data[k] = sigma
                tape.logStdActive.data[k] = (raw >= logStdMin && raw <= logStdMax) ? 1 : 0
                tape.actions.data[k] = act
                logp += -0.5 * eps * eps - ls - TanhGaussianPolicy.halfLog2Pi
                    - 2 * (TanhGaussianPolicy.log2 - u - TanhGaussianPolicy.softplus(-2 * u))
            }
            tape.logProbabilities.data[r] = logp
        }
    }

    /// Accumulates into `gradient` the parameter gradient of a loss L given ∂L/∂a (batch × A, or nil) and
    /// ∂L/∂log π (one per sample) at the samples of the last `sample` on `tape`. With ε held fixed:
    /// ∂log π/∂μ = 2a, ∂log π/∂log σ = 2aσε − 1, ∂a/∂μ = 1 − a², ∂a/∂log σ = (1 − a²)σε.
    /// - Note: Real-time safe.
    public func backward(tape: Tape, actionGradient: UnsafePointer<Float>?, logProbabilityGradient: UnsafePointer<Float>,
                         gradient: Tensor) {
        let a = actionSize, batch = tape.batch
        let d = tape.headGradient.data
        for r in 0 ..< batch {
            let c = logProbabilityGradient[r]
            for j in 0 ..< a {
                let k = r * a + j
                let act = tape.actions.data[k], sigma = tape.std.data[k], eps = tape.noise.data[k]
                let da = actionGradient?[k] ?? 0
                let du = da * (1 - act * act) // ∂L/∂u through the action
                d[r * 2 * a + j] = c * 2 * act + du
                d[r * 2 * a + a + j] = tape.logStdActive.data[k] * (c * (2 * act * sigma * eps - 1) + du * sigma * eps)
            }
        }
        network.backward(tape: tape.mlp, outputGradient: d, gradient: gradient, inputGradient: nil)
    }

    /// Buffers for `act`, made once for `maxBatch` observations.
    public final class Workspace: @unchecked Sendable {
        let mlp: MLPWorkspace
        let head: Tensor
        public init(policy: TanhGaussianPolicy, maxBatch: Int) {
            mlp = MLPWorkspace(config: policy.network.config, maxBatch: maxBatch)
            head = Tensor(zeros: [maxBatch, 2 * policy.actionSize])
        }
    }

    /// What `sample` keeps for `backward`, made once for `maxBatch` observations.
    public final class Tape: @unchecked Sendable {
        public let maxBatch: Int
        public internal(set) var batch = 0
        let mlp: MLPTape
        /// batch × A squashed actions in (−1, 1).
        public let actions: Tensor
        /// log π(a|s), one per sample.
        public let logProbabilities: Tensor
        let noise: Tensor
        let std: Tensor
        let logStdActive: Tensor
        let headGradient: Tensor

        public init(policy: TanhGaussianPolicy, maxBatch: Int) {
            self.maxBatch = maxBatch
            let a = policy.actionSize
            mlp = MLPTape(config: policy.network.config, maxBatch: maxBatch)
            actions = Tensor(zeros: [maxBatch, a])
            logProbabilities = Tensor(zeros: [maxBatch])
            noise = Tensor(zeros: [maxBatch, a])
            std = Tensor(zeros: [maxBatch, a])
            logStdActive = Tensor(zeros: [maxBatch, a])
            headGradient = Tensor(zeros: [maxBatch, 2 * a])
        }
    }
}
