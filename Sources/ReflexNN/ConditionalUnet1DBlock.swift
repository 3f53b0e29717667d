import CBridge
import ReflexCore

/// LeRobot's `DiffusionConditionalResidualBlock1d`: two Conv1d → GroupNorm → Mish blocks with FiLM between them
/// (out = scale · h + bias, or h + bias without scale modulation; Perez et al. 2018), plus a residual path
/// (a 1×1 conv when the channel count changes).
public struct ConditionalResidualBlock1D: Sendable {
    public let conv1: Conv1d
    public let norm1: GroupNorm
    /// `cond_encoder.1`: Linear(cond_dim → C_out, or 2·C_out with scale modulation), applied to Mish(condition).
    public let film: Linear
    public let conv2: Conv1d
    public let norm2: GroupNorm
    public let residual: Conv1d?
    public let scaleModulation: Bool

    public var inChannels: Int { conv1.inChannels }
    public var outChannels: Int { conv1.outChannels }

    init(_ prefix: String, in inChannels: Int, out outChannels: Int, config: ConditionalUnet1DConfig,
         storage: WeightStorage, weights: WeightSource) throws {
        let k = config.kernelSize
        conv1 = try Conv1d(prefix + ".conv1.block.0", in: inChannels, out: outChannels, kernel: k, padding: k / 2,
                           storage: storage, weights: weights)
        norm1 = try GroupNorm(prefix + ".conv1.block.1", groups: config.nGroups, channels: outChannels, weights: weights)
        scaleModulation = config.useFilmScaleModulation
        let filmOut = scaleModulation ? 2 * outChannels : outChannels
        film = Linear(weight: try weights(prefix + ".cond_encoder.1.weight", [filmOut, config.conditionDim]),
                      bias: try weights(prefix + ".cond_encoder.1.bias", [filmOut]))
        conv2 = try Conv1d(prefix + ".conv2.block.0", in: outChannels, out: outChannels, kernel: k, padding: k / 2,
                           storage: storage, weights: weights)
        norm2 = try GroupNorm(prefix + ".conv2.block.1", groups: config.nGroups, channels: outChannels, weights: weights)
        residual = inChannels != outChannels
            ? try Conv1d(prefix + ".residual_conv", in: inChannels, out: outChannels, kernel: 1, storage: storage,
                         weights: weights)
            : nil
    }

    /// Parameters of the block.
    var parameterCount: Int {
        conv1.parameterCount + conv2.parameterCount + (residual?.parameterCount ?? 0)
            + [norm1.gamma, norm1.beta, film.weight, film.bias, norm2.gamma, norm2.beta].reduce(0) { $0 + ($1?.count ?? 0) }
    }

    func columnCount(batch: Int, length: Int) -> Int {
        max(conv1.columnCount(batch: batch, length: length), conv2.columnCount(batch: batch, length: length))
    }

    /// y ((batch·length) × C_out) from x ((batch·length) × C_in), position-major. `filmRows` holds the FiLM outputs (one row per batch
    /// item, or one shared row when `filmStride` is 0); `scratch` needs batch·length × C_out floats.
    /// - Note: Real-time safe.
    func evaluate(_ x: UnsafePointer<Float>, batch: Int, length: Int, filmRows: UnsafePointer<Float>, filmStride: Int,
                  column: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                  output y: UnsafeMutablePointer<Float>) {
        let c = outChannels, n = batch * length
        conv1.evaluate(x, batch: batch, length: length, column: column, output: y, addBias: false)
        norm1.evaluate(y, batch: batch, length: length, bias: conv1.bias?.data, mish: true)
        if scaleModulation {
            rx_film(c, batch, length, filmRows, filmRows + c, filmStride, y)
        } else {
            rx_film(c, batch, length, nil, filmRows, filmStride, y)
        }
        conv2.evaluate(y, batch: batch, length: length, column: column, output: scratch, addBias: false)
        norm2.evaluate(scratch, batch: batch, length: length, bias: conv2.bias?.data, mish: true)
        if let residual {
            residual.evaluate(x, batch: batch, length: length, column: column, output: y)
            rx_saxpy(c * n, 1, scratch, y)
        } else {
            y.update(from: scratch, count: c * n)
            rx_saxpy(c * n, 1, x, y)
        }
    }
}
