import CBridge
import ReflexCore

/// A transposed 1-D convolution (PyTorch's `nn.ConvTranspose1d`): one GEMM Z = Wᵗ · x giving every
/// (output channel, tap) row, then col2im adds each tap into its output position o = i·stride − padding + j.
///
/// PyTorch stores the weight as (C_in, C_out, k); it is re-laid out once at load to (C_out·k) × C_in row-major,
/// so the GEMM streams it in the same order as a `Conv1d`'s.
public struct ConvTranspose1d: Sendable {
    /// (C_out · k) × C_in.
    public let weight: Tensor
    public let bias: Tensor?
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int

    public init(_ prefix: String, in inChannels: Int, out outChannels: Int, kernel: Int, stride: Int, padding: Int,
                weights: WeightSource) throws {
        let w = try weights(prefix + ".weight", [inChannels, outChannels, kernel])
        let t = Tensor(zeros: [outChannels * kernel, inChannels])
        let src = w.data, dst = t.data
        for ci in 0 ..< inChannels {
            for r in 0 ..< outChannels * kernel { dst[r * inChannels + ci] = src[ci * outChannels * kernel + r] }
        }
        weight = t
        bias = try weights(prefix + ".bias", [outChannels])
        self.inChannels = inChannels
        self.outChannels = outChannels
        kernelSize = kernel
        self.stride = stride
        self.padding = padding
    }

    public func outputLength(_ length: Int) -> Int { (length - 1) * stride - 2 * padding + kernelSize }

    /// Floats of scratch `evaluate` needs (the tap matrix Z).
    public func columnCount(batch: Int, length: Int) -> Int { outChannels * kernelSize * batch * length }

    /// y (C_out × batch·L_out) from x (C_in × batch·length).
    /// - Note: Real-time safe.
    public func evaluate(_ x: UnsafePointer<Float>, batch: Int, length: Int, column z: UnsafeMutablePointer<Float>,
                         output y: UnsafeMutablePointer<Float>) {
        let n = batch * length
        rx_sgemm(0, 0, outChannels * kernelSize, n, inChannels, 1, weight.data, inChannels, x, n, 0, z, n)
        rx_conv_transpose1d_col2im(outChannels, batch, length, kernelSize, stride, padding, z, bias?.data, y)
    }
}
