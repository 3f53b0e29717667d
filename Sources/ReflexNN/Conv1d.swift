import CBridge
import ReflexCore

/// Where a layer's weights come from: a tensor by its PyTorch name and expected shape (a checkpoint reader that
/// checks the shape, or a random initializer). Names are relative to the network (e.g. `final_conv.1.weight`).
public typealias WeightSource = (_ name: String, _ shape: [Int]) throws -> Tensor

/// A 1-D convolution (PyTorch's `nn.Conv1d`, no dilation or groups) run as one GEMM over im2col.
///
/// Activations are channel-major, C × (batch · length), so W (C_out × C_in·k, PyTorch's (C_out, C_in, k) layout
/// read as a matrix) multiplies the im2col matrix of every batch item at once and is read from memory once per call.
public struct Conv1d: Sendable {
    /// C_out × (C_in · k).
    public let weight: Tensor
    public let bias: Tensor?
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int

    /// Reads `prefix.weight` (C_out, C_in, k) and `prefix.bias` (C_out).
    public init(_ prefix: String, in inChannels: Int, out outChannels: Int, kernel: Int, stride: Int = 1,
                padding: Int = 0, weights: WeightSource) throws {
        let w = try weights(prefix + ".weight", [outChannels, inChannels, kernel])
        weight = w.reshaped([outChannels, inChannels * kernel])
        bias = try weights(prefix + ".bias", [outChannels])
        self.inChannels = inChannels
        self.outChannels = outChannels
        kernelSize = kernel
        self.stride = stride
        self.padding = padding
    }

    public func outputLength(_ length: Int) -> Int { (length + 2 * padding - kernelSize) / stride + 1 }

    /// Floats of im2col scratch `evaluate` needs for `batch` sequences of `length`.
    public func columnCount(batch: Int, length: Int) -> Int {
        isPointwise ? 0 : inChannels * kernelSize * batch * outputLength(length)
    }

    private var isPointwise: Bool { kernelSize == 1 && stride == 1 && padding == 0 }

    /// y (C_out × batch·L_out) = W · im2col(x); the bias is added unless `addBias` is false (a following GroupNorm
    /// folds it in). `col` needs `columnCount` floats.
    /// - Note: Real-time safe.
    public func evaluate(_ x: UnsafePointer<Float>, batch: Int, length: Int, column col: UnsafeMutablePointer<Float>,
                         output y: UnsafeMutablePointer<Float>, addBias: Bool = true) {
        let n = batch * outputLength(length)
        let k = inChannels * kernelSize
        var b: UnsafePointer<Float> = x
        if !isPointwise {
            rx_conv1d_im2col(inChannels, batch, length, kernelSize, stride, padding, x, col)
            b = UnsafePointer(col)
        }
        rx_sgemm(0, 0, outChannels, n, k, 1, weight.data, k, b, n, 0, y, n)
        if addBias, let bias { rx_row_bias_add(outChannels, n, y, bias.data) }
    }
}
