import CBridge
import ReflexCore

/// A transposed 1-D convolution (PyTorch's `nn.ConvTranspose1d`): one GEMM Z = x · Wᵗᵀ giving, per input
/// position, every (tap, output channel) product, then col2im adds tap j of input i into output i·stride − padding + j.
///
/// PyTorch stores the weight as (C_in, C_out, k); it is re-laid out once at load to (k · C_out) × C_in and packed,
/// so the GEMM streams it as a `Conv1d` streams its own.
public struct ConvTranspose1d: Sendable {
    public let weight: PackedWeights
    public let bias: Tensor?
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int

    public init(_ prefix: String, in inChannels: Int, out outChannels: Int, kernel: Int, stride: Int, padding: Int,
                storage: WeightStorage = .f32, weights: WeightSource) throws {
        let w = try weights(prefix + ".weight", [inChannels, outChannels, kernel])
        let relaid = Tensor(zeros: [kernel * outChannels, inChannels])
        let src = w.data, dst = relaid.data
        for i in 0 ..< inChannels {
            for o in 0 ..< outChannels {
                for j in 0 ..< kernel { dst[(j * outChannels + o) * inChannels + i] = src[(i * outChannels + o) * kernel + j] }
            }
        }
        weight = PackedWeights(relaid.data, rows: kernel * outChannels, columns: inChannels, storage: storage)
        bias = try weights(prefix + ".bias", [outChannels])
        self.inChannels = inChannels
        self.outChannels = outChannels
        kernelSize = kernel
        self.stride = stride
        self.padding = padding
    }

    public var parameterCount: Int { weight.rows * weight.columns + (bias?.count ?? 0) }

    public func outputLength(_ length: Int) -> Int { (length - 1) * stride - 2 * padding + kernelSize }

    /// Floats of scratch `evaluate` needs (the tap matrix Z).
    public func columnCount(batch: Int, length: Int) -> Int { outChannels * kernelSize * batch * length }

    /// y ((batch·L_out) × C_out) from x ((batch·length) × C_in).
    /// - Note: Real-time safe.
    public func evaluate(_ x: UnsafePointer<Float>, batch: Int, length: Int, column z: UnsafeMutablePointer<Float>,
                         output y: UnsafeMutablePointer<Float>) {
        weight.multiply(x, rows: batch * length, output: z)
        rx_conv_transpose1d_col2im(outChannels, batch, length, kernelSize, stride, padding, z, bias?.data, y)
    }
}
