import CBridge
import ReflexCore

/// Where a layer's weights come from: a tensor by its PyTorch name and expected shape (a checkpoint reader that
/// checks the shape, or a random initializer). Names are relative to the network (e.g. `final_conv.1.weight`).
public typealias WeightSource = (_ name: String, _ shape: [Int]) throws -> Tensor

/// How packed convolution weights are stored. Compute is F32 either way.
public enum WeightStorage: String, Sendable, Codable, CaseIterable {
    case f32
    /// bfloat16 (round to nearest even): half the bytes a denoising step streams; each weight is widened to F32
    /// before its multiply-add.
    case bf16
}

/// Weights of a convolution as one GEMM operand: re-laid out once at load into groups of 64 rows, K-blocked and
/// k-major (`rx_pack_panels`), so each denoising step streams them sequentially from memory into the microkernel.
public struct PackedWeights: Sendable {
    /// Rows (outputs) and columns (the dot-product length).
    public let rows: Int
    public let columns: Int
    public let storage: WeightStorage
    /// F32 panels (empty under bf16).
    let panels: Tensor
    /// bfloat16 panels (empty under f32).
    let half: [UInt16]

    /// Packs `matrix` (rows × columns, row-major).
    init(_ matrix: UnsafePointer<Float>, rows: Int, columns: Int, storage: WeightStorage = .f32) {
        self.rows = rows
        self.columns = columns
        self.storage = storage
        let packed = Tensor(zeros: [max(rx_packed_size(rows, columns), 1)])
        rx_pack_panels(rows, columns, matrix, columns, packed.data)
        switch storage {
        case .f32:
            panels = packed
            half = []
        case .bf16:
            panels = Tensor(zeros: [0])
            var h = [UInt16](repeating: 0, count: packed.count)
            h.withUnsafeMutableBufferPointer { rx_f32_to_bf16(packed.count, packed.data, $0.baseAddress) }
            half = h
        }
    }

    /// Bytes streamed per multiply.
    public var byteCount: Int { storage == .f32 ? panels.count * 4 : half.count * 2 }

    /// Y (n × rows) = X (n × columns) · Wᵀ.
    /// - Note: Real-time safe.
    @inline(__always)
    func multiply(_ x: UnsafePointer<Float>, rows n: Int, output y: UnsafeMutablePointer<Float>) {
        switch storage {
        case .f32: rx_sgemm_panels(n, rows, columns, x, columns, panels.data, y, rows)
        case .bf16: half.withUnsafeBufferPointer { rx_sgemm_panels_bf16(n, rows, columns, x, columns, $0.baseAddress, y, rows) }
        }
    }
}

/// A 1-D convolution (PyTorch's `nn.Conv1d`, no dilation or groups) run as one GEMM over im2col.
///
/// Activations are position-major, (batch · length) × C, so the layer multiplies the im2col rows of every batch
/// item at once and reads its weights from memory once per call. PyTorch's (C_out, C_in, k) weight is re-laid out
/// at load to (C_out, k, C_in), so an im2col row is k input rows side by side (plain copies).
public struct Conv1d: Sendable {
    public let weight: PackedWeights
    public let bias: Tensor?
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int

    /// Reads `prefix.weight` (C_out, C_in, k) and `prefix.bias` (C_out).
    public init(_ prefix: String, in inChannels: Int, out outChannels: Int, kernel: Int, stride: Int = 1,
                padding: Int = 0, storage: WeightStorage = .f32, weights: WeightSource) throws {
        let w = try weights(prefix + ".weight", [outChannels, inChannels, kernel])
        let relaid = Tensor(zeros: [outChannels, kernel, inChannels])
        let src = w.data, dst = relaid.data
        for o in 0 ..< outChannels {
            for i in 0 ..< inChannels {
                for j in 0 ..< kernel { dst[(o * kernel + j) * inChannels + i] = src[(o * inChannels + i) * kernel + j] }
            }
        }
        weight = PackedWeights(relaid.data, rows: outChannels, columns: kernel * inChannels, storage: storage)
        bias = try weights(prefix + ".bias", [outChannels])
        self.inChannels = inChannels
        self.outChannels = outChannels
        kernelSize = kernel
        self.stride = stride
        self.padding = padding
    }

    public var parameterCount: Int { weight.rows * weight.columns + (bias?.count ?? 0) }

    public func outputLength(_ length: Int) -> Int { (length + 2 * padding - kernelSize) / stride + 1 }

    /// Floats of im2col scratch `evaluate` needs for `batch` sequences of `length`.
    public func columnCount(batch: Int, length: Int) -> Int {
        isPointwise ? 0 : inChannels * kernelSize * batch * outputLength(length)
    }

    private var isPointwise: Bool { kernelSize == 1 && stride == 1 && padding == 0 }

    /// y ((batch·L_out) × C_out) = im2col(x) · Wᵀ; the bias is added unless `addBias` is false (a following
    /// GroupNorm folds it in). `col` needs `columnCount` floats.
    /// - Note: Real-time safe.
    public func evaluate(_ x: UnsafePointer<Float>, batch: Int, length: Int, column col: UnsafeMutablePointer<Float>,
                         output y: UnsafeMutablePointer<Float>, addBias: Bool = true) {
        let n = batch * outputLength(length)
        var rows: UnsafePointer<Float> = x
        if !isPointwise {
            rx_conv1d_im2col(inChannels, batch, length, kernelSize, stride, padding, x, col)
            rows = UnsafePointer(col)
        }
        weight.multiply(rows, rows: n, output: y)
        if addBias, let bias { rx_bias_add(n, outChannels, y, outChannels, bias.data) }
    }
}
