#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore
import ReflexNN

/// Shape of the MLP denoiser: an MLP over the concatenation [x_t, emb(t), condition].
///
/// Reflex conditions by concatenation rather than FiLM: for low-dimensional observations and short chunks the
/// whole input fits one GEMM, and the same network trains in seconds per thousand steps on a CPU. The timestep
/// embedding is LeRobot's `DiffusionSinusoidalPosEmb` (half sines, half cosines, frequencies 10000^(−i/(d/2−1))).
public struct MLPDenoiserConfig: Codable, Sendable, Equatable {
    public var hiddenSizes: [Int]
    public var activation: Activation
    public var layerNorm: Bool
    /// Width of the sinusoidal timestep embedding (even).
    public var timeEmbeddingSize: Int

    /// Defaults chosen on Reflex's tasks: LayerNorm after each hidden layer cut the ε-prediction loss by half and
    /// made DDPM sampling reliable with concatenated conditioning (without it the timestep barely modulates the net).
    public init(hiddenSizes: [Int] = [512, 512, 512], activation: Activation = .mish, layerNorm: Bool = true,
                timeEmbeddingSize: Int = 64) {
        self.hiddenSizes = hiddenSizes
        self.activation = activation
        self.layerNorm = layerNorm
        self.timeEmbeddingSize = timeEmbeddingSize
    }

    public func validate() throws {
        guard !hiddenSizes.isEmpty, hiddenSizes.allSatisfy({ $0 > 0 }) else {
            throw ReflexError(.invalidValue, "network.hidden_sizes must be positive, got \(hiddenSizes)")
        }
        guard timeEmbeddingSize >= 4, timeEmbeddingSize % 2 == 0 else {
            throw ReflexError(.invalidValue, "network.time_embedding_size must be even and at least 4, got \(timeEmbeddingSize)")
        }
    }

    /// The MLP this denoiser runs.
    public func mlp(horizon: Int, actionSize: Int, conditionSize: Int) -> MLPConfig {
        MLPConfig(inputSize: horizon * actionSize + timeEmbeddingSize + conditionSize, hiddenSizes: hiddenSizes,
                  outputSize: horizon * actionSize, activation: activation, layerNorm: layerNorm)
    }
}

/// Sinusoidal embeddings of every timestep 0..<T, computed once (LeRobot's `DiffusionSinusoidalPosEmb`).
public struct TimestepEmbedding: Sendable {
    public let size: Int
    /// T × size.
    public let table: [Float]

    public init(size: Int, timesteps: Int) {
        self.size = size
        let half = size / 2
        let scale = log(10000.0) / Double(half - 1)
        var table = [Float](repeating: 0, count: timesteps * size)
        for t in 0 ..< timesteps {
            for i in 0 ..< half {
                let arg = Float(Double(t)) * Float(exp(Double(i) * -scale))
                table[t * size + i] = sin(arg)
                table[t * size + half + i] = cos(arg)
            }
        }
        self.table = table
    }
}

/// The MLP denoiser: predicts ε (or x₀) for a batch of flattened chunks. Inference through `Denoiser.predict`
/// allocates nothing; training uses `assembleInput` with the network's forward/backward.
public final class MLPDenoiser: GuidableDenoiser {
    public let horizon: Int
    public let actionSize: Int
    public let conditionSize: Int
    public let maxBatch: Int
    public let config: MLPDenoiserConfig
    public let network: MLP
    public let embedding: TimestepEmbedding
    private let workspace: MLPWorkspace
    private let input: Tensor
    /// RTC's guidance: one chunk's forward tape and the input gradient of its backward pass.
    private let tape: MLPTape
    private let inputGradient: Tensor

    /// A denoiser over existing weights.
    public init(config: MLPDenoiserConfig, network: MLP, horizon: Int, actionSize: Int, conditionSize: Int,
                trainTimesteps: Int, maxBatch: Int) {
        precondition(network.config == config.mlp(horizon: horizon, actionSize: actionSize, conditionSize: conditionSize),
                     "network shape does not match the denoiser configuration")
        self.config = config
        self.network = network
        self.horizon = horizon
        self.actionSize = actionSize
        self.conditionSize = conditionSize
        self.maxBatch = maxBatch
        embedding = TimestepEmbedding(size: config.timeEmbeddingSize, timesteps: trainTimesteps)
        workspace = MLPWorkspace(config: network.config, maxBatch: maxBatch)
        input = Tensor(zeros: [maxBatch, network.config.inputSize])
        tape = MLPTape(config: network.config, maxBatch: 1)
        inputGradient = Tensor(zeros: [network.config.inputSize])
    }

    /// Writes one network input row [x, emb(t), condition] at `row`.
    /// - Note: Real-time safe.
    @inline(__always)
    public func assembleInput(row: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, timestep t: Int,
                              condition: UnsafePointer<Float>) {
        let n = horizon * actionSize
        row.update(from: x, count: n)
        embedding.table.withUnsafeBufferPointer { e in
            (row + n).update(from: e.baseAddress! + t * embedding.size, count: embedding.size)
        }
        (row + n + embedding.size).update(from: condition, count: conditionSize)
    }

    public func predict(_ x: UnsafePointer<Float>, timestep t: Int, condition: UnsafePointer<Float>, conditionBatch: Int,
                        batch: Int, output: UnsafeMutablePointer<Float>) {
        let width = network.config.inputSize
        for b in 0 ..< batch {
            let c = condition + (conditionBatch == 1 ? 0 : b) * conditionSize
            assembleInput(row: input.data + b * width, x: x + b * chunkSize, timestep: t, condition: c)
        }
        network.evaluate(input.data, batch: batch, output: output, workspace: workspace)
    }

    public func predictForGuidance(_ x: UnsafePointer<Float>, timestep t: Int, condition: UnsafePointer<Float>,
                                   output: UnsafeMutablePointer<Float>) {
        assembleInput(row: input.data, x: x, timestep: t, condition: condition)
        let out = network.forward(input.data, batch: 1, tape: tape)
        output.update(from: out, count: chunkSize)
    }

    public func vectorJacobianProduct(_ v: UnsafePointer<Float>, into result: UnsafeMutablePointer<Float>) {
        network.backward(tape: tape, outputGradient: v, gradient: nil, inputGradient: inputGradient.data)
        result.update(from: inputGradient.data, count: chunkSize) // x leads the input row
    }
}
