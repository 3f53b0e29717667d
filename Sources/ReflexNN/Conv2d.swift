import CBridge
import ReflexCore

/// The spatial size of a feature map.
public struct ImageSize: Sendable, Equatable, CustomStringConvertible {
    public var height: Int
    public var width: Int
    public init(height: Int, width: Int) {
        self.height = height
        self.width = width
    }

    public var pixels: Int { height * width }
    public var description: String { "\(height)×\(width)" }
}

/// A 2-D convolution (PyTorch's `nn.Conv2d`, groups = 1) run as one packed GEMM over im2col rows, the kernels the
/// U-Net's `Conv1d` uses.
///
/// Feature maps are position-major (NHWC), (batch · H · W) × C, so the layer multiplies the im2col rows of every
/// image at once. PyTorch's (C_out, C_in, kh, kw) weight is re-laid out at load to (C_out, kh, kw, C_in), so an
/// im2col row is kh·kw input pixels side by side (plain copies). A following BatchNorm2d in eval mode is an affine
/// map per output channel, folded into the weights and bias here, once.
public struct Conv2d: Sendable {
    public let weight: PackedWeights
    public let bias: Tensor?
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public let dilation: Int
    /// Winograd F(2×2, 3×3) weights (Lavin & Gray 2016), 16 C_out × C_in matrices packed for the GEMM, when the
    /// convolution runs that way (3×3, stride 1, padding 1, F32, at least 16 input channels); empty otherwise.
    let winograd: [PackedWeights]

    /// Whether `evaluate` runs Winograd F(2×2, 3×3): 16 GEMMs over 2×2 output tiles, 2.25× fewer multiply-adds than
    /// im2col, at a few ulps more rounding (ImageLayersTests states it).
    public var usesWinograd: Bool { !winograd.isEmpty }

    /// Reads `prefix.weight` (C_out, C_in, k, k) and, when `bias`, `prefix.bias` (C_out). `batchNorm` (eval-mode
    /// statistics) is folded in: W′ = W·γ/√(σ²+ε), b′ = (b − μ)·γ/√(σ²+ε) + β.
    public init(_ prefix: String, in inChannels: Int, out outChannels: Int, kernel: Int, stride: Int = 1,
                padding: Int = 0, dilation: Int = 1, bias hasBias: Bool = true, batchNorm: BatchNorm2d? = nil,
                storage: WeightStorage = .f32, winograd allowWinograd: Bool = true, weights: WeightSource) throws {
        guard kernel >= 1, stride >= 1, padding >= 0, dilation >= 1 else {
            throw ReflexError(.invalidArgument, "Conv2d: kernel \(kernel), stride \(stride), padding \(padding), dilation \(dilation) out of range",
                              at: .init(element: prefix))
        }
        if let batchNorm, batchNorm.channels != outChannels {
            throw ReflexError(.shapeMismatch, "BatchNorm2d has \(batchNorm.channels) channels but the convolution before it has \(outChannels)",
                              at: .init(element: batchNorm.prefix))
        }
        let w = try weights(prefix + ".weight", [outChannels, inChannels, kernel, kernel])
        let taps = kernel * kernel
        let relaid = Tensor(zeros: [outChannels, taps, inChannels])
        let src = w.data, dst = relaid.data
        for o in 0 ..< outChannels {
            let scale = batchNorm?.scale.data[o] ?? 1
            for i in 0 ..< inChannels {
                for t in 0 ..< taps { dst[(o * taps + t) * inChannels + i] = src[(o * inChannels + i) * taps + t] * scale }
            }
        }
        var b: Tensor? = hasBias ? try weights(prefix + ".bias", [outChannels]) : nil
        if let batchNorm {
            let folded = Tensor(zeros: [outChannels])
            for o in 0 ..< outChannels {
                folded.data[o] = (b?.data[o] ?? 0) * batchNorm.scale.data[o] + batchNorm.shift.data[o]
            }
            b = folded
        }
        weight = PackedWeights(relaid.data, rows: outChannels, columns: taps * inChannels, storage: storage)
        if allowWinograd && kernel == 3 && stride == 1 && padding == 1 && dilation == 1 && storage == .f32
            && inChannels >= 16 && inChannels <= 4096 {
            // G g Gᵀ from the (BatchNorm-scaled) PyTorch layout.
            let scaled = Tensor(zeros: [outChannels, inChannels, 3, 3])
            for o in 0 ..< outChannels {
                let scale = batchNorm?.scale.data[o] ?? 1
                for i in 0 ..< inChannels * 9 { scaled.data[o * inChannels * 9 + i] = src[o * inChannels * 9 + i] * scale }
            }
            let u = Tensor(zeros: [16, outChannels, inChannels])
            rx_winograd23_weights(outChannels, inChannels, scaled.data, u.data)
            winograd = (0 ..< 16).map { PackedWeights(u.data + $0 * outChannels * inChannels, rows: outChannels, columns: inChannels) }
        } else {
            winograd = []
        }
        bias = b
        self.inChannels = inChannels
        self.outChannels = outChannels
        kernelSize = kernel
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
    }

    public var parameterCount: Int { weight.rows * weight.columns + (bias?.count ?? 0) }

    /// The output map's size for an input of `size`.
    public func outputSize(_ size: ImageSize) -> ImageSize {
        let span = dilation * (kernelSize - 1) + 1
        return ImageSize(height: (size.height + 2 * padding - span) / stride + 1,
                         width: (size.width + 2 * padding - span) / stride + 1)
    }

    private var isPointwise: Bool { kernelSize == 1 && stride == 1 && padding == 0 }

    /// Output rows per band of im2col + GEMM on a large map: about 512 KB of im2col rows, so a band is still in L2
    /// when the GEMM reads it (materializing a 480×640 image's im2col whole streams hundreds of MB through L3), and
    /// at least 192 rows so the weights, re-read once per band, are amortized.
    var bandRows: Int { max(192, (1 << 17) / max(inChannels * kernelSize * kernelSize, 1)) / 6 * 6 }

    /// Winograd tiles per band: the band's 16 transformed inputs and 16 products (about 1 MB) stay in L2 between
    /// the transforms and the GEMMs; at least 96 so each weight matrix is reused over enough tiles.
    var winogradTiles: Int { max(96, (1 << 18) / (16 * (inChannels + outChannels))) / 6 * 6 }

    /// 2×2 output tiles over `batch` maps of `size`.
    func tileCount(batch: Int, size: ImageSize) -> Int { batch * ((size.height + 1) / 2) * ((size.width + 1) / 2) }

    /// Floats of scratch (im2col rows, or Winograd's transformed tiles) `evaluate` needs for `batch` maps of `size`.
    public func columnCount(batch: Int, size: ImageSize) -> Int {
        if usesWinograd { return 16 * min(tileCount(batch: batch, size: size), winogradTiles) * (inChannels + outChannels) }
        return isPointwise ? 0 : inChannels * kernelSize * kernelSize * min(batch * outputSize(size).pixels, bandRows)
    }

    /// Multiply-adds per image of `size`.
    public func multiplyAdds(_ size: ImageSize) -> Int { outputSize(size).pixels * weight.rows * weight.columns }

    /// y ((batch·H_out·W_out) × C_out) = im2col(x) · Wᵀ + b. `col` needs `columnCount` floats.
    /// - Note: Real-time safe.
    public func evaluate(_ x: UnsafePointer<Float>, batch: Int, size: ImageSize, column col: UnsafeMutablePointer<Float>,
                         output y: UnsafeMutablePointer<Float>) {
        let n = batch * outputSize(size).pixels
        if usesWinograd {
            // A band of tiles at a time: transform in, 16 GEMMs, transform out (adding the bias).
            let total = tileCount(batch: batch, size: size), band = winogradTiles
            let b: UnsafePointer<Float>? = bias.map { UnsafePointer($0.data) }
            var t0 = 0
            while t0 < total {
                let m = min(band, total - t0)
                let v = col, products = col + 16 * m * inChannels
                rx_winograd23_input(inChannels, batch, size.height, size.width, t0, m, x, v)
                for xi in 0 ..< 16 {
                    winograd[xi].multiply(v + xi * m * inChannels, rows: m, output: products + xi * m * outChannels)
                }
                rx_winograd23_output(outChannels, batch, size.height, size.width, t0, m, products, b, y)
                t0 += m
            }
            return
        }
        if isPointwise {
            weight.multiply(x, rows: n, output: y)
        } else {
            let band = bandRows
            var n0 = 0
            while n0 < n {
                let m = min(band, n - n0)
                rx_conv2d_im2col_rows(inChannels, batch, size.height, size.width, kernelSize, kernelSize, stride, padding,
                                      dilation, n0, m, x, col)
                weight.multiply(col, rows: m, output: y + n0 * outChannels)
                n0 += m
            }
        }
        if let bias { rx_bias_add(n, outChannels, y, outChannels, bias.data) }
    }
}

/// PyTorch's `nn.BatchNorm2d` in eval mode, read only to be folded into the convolution before it: per channel
/// y = γ (x − μ)/√(σ² + ε) + β = scale · x + shift, with the running statistics μ, σ².
public struct BatchNorm2d: Sendable {
    public let prefix: String
    public let scale: Tensor
    public let shift: Tensor
    public var channels: Int { scale.count }

    /// Reads `prefix.weight`, `.bias`, `.running_mean`, `.running_var` (all `channels`).
    public init(_ prefix: String, channels: Int, epsilon: Float = 1e-5, weights: WeightSource) throws {
        self.prefix = prefix
        let gamma = try weights(prefix + ".weight", [channels])
        let beta = try weights(prefix + ".bias", [channels])
        let mean = try weights(prefix + ".running_mean", [channels])
        let variance = try weights(prefix + ".running_var", [channels])
        scale = Tensor(zeros: [channels])
        shift = Tensor(zeros: [channels])
        for c in 0 ..< channels {
            let v = variance.data[c]
            guard v.isFinite, v >= 0 else {
                throw ReflexError(.invalidValue, "running_var[\(c)] = \(v) is not a variance", at: .init(element: prefix + ".running_var"))
            }
            // In double, as the fold must not add more rounding than PyTorch's own normalization.
            let s = Double(gamma.data[c]) / (Double(v) + Double(epsilon)).squareRoot()
            scale.data[c] = Float(s)
            shift.data[c] = Float(Double(beta.data[c]) - Double(mean.data[c]) * s)
        }
    }
}

/// PyTorch's `nn.MaxPool2d` (square window, floor mode) over position-major feature maps.
public struct MaxPool2d: Sendable {
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int

    public init(kernel: Int, stride: Int, padding: Int = 0) {
        kernelSize = kernel
        self.stride = stride
        self.padding = padding
    }

    public func outputSize(_ size: ImageSize) -> ImageSize {
        ImageSize(height: (size.height + 2 * padding - kernelSize) / stride + 1,
                  width: (size.width + 2 * padding - kernelSize) / stride + 1)
    }

    /// - Note: Real-time safe.
    public func evaluate(_ x: UnsafePointer<Float>, channels: Int, batch: Int, size: ImageSize,
                         output y: UnsafeMutablePointer<Float>) {
        rx_max_pool2d(channels, batch, size.height, size.width, kernelSize, stride, padding, x, y)
    }
}

/// A 2-D convolution for training: plain F32 weights (views into a network's flat parameters, so Adam steps them in
/// place) multiplied with rx_sgemm, and the backward pass beside the forward.
///
/// Same layouts as `Conv2d`, for the same reason: feature maps position-major (NHWC), the weight (C_out, kh, kw, C_in)
/// so an im2col row is kh·kw input pixels side by side. The forward keeps its im2col matrix (the caller's `column`),
/// which is exactly what dW needs, so the backward is two GEMMs and a col2im.
public struct TrainableConv2d: Sendable {
    /// C_out × (kh·kw·C_in).
    public let weight: Tensor
    /// C_out.
    public let bias: Tensor?
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int

    public init(weight: Tensor, bias: Tensor?, inChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0) {
        precondition(weight.count == weight.shape[0] * kernel * kernel * inChannels, "TrainableConv2d: weight shape \(weight.shape)")
        self.weight = weight
        self.bias = bias
        self.inChannels = inChannels
        outChannels = weight.shape[0]
        kernelSize = kernel
        self.stride = stride
        self.padding = padding
    }

    /// Values in one im2col row.
    public var rowWidth: Int { kernelSize * kernelSize * inChannels }
    var isPointwise: Bool { kernelSize == 1 && stride == 1 && padding == 0 }

    public func outputSize(_ size: ImageSize) -> ImageSize {
        ImageSize(height: (size.height + 2 * padding - kernelSize) / stride + 1,
                  width: (size.width + 2 * padding - kernelSize) / stride + 1)
    }

    /// Floats of the im2col matrix `forward` writes when given a `column` buffer.
    public func columnCount(batch: Int, size: ImageSize) -> Int { batch * outputSize(size).pixels * rowWidth }

    /// y ((batch·H_out·W_out) × C_out) = im2col(x) · Wᵀ + b; `column` (kept for `backward`) needs `columnCount`.
    /// A 1×1 convolution may pass nil: its input is its own im2col (then `backward` reads x).
    /// - Note: Real-time safe.
    public func forward(_ x: UnsafePointer<Float>, batch: Int, size: ImageSize, column: UnsafeMutablePointer<Float>?,
                        output y: UnsafeMutablePointer<Float>) {
        let n = batch * outputSize(size).pixels, k = rowWidth
        var rows = x
        precondition(column != nil || isPointwise, "TrainableConv2d: a \(kernelSize)×\(kernelSize) convolution needs im2col scratch")
        if let column {
            rx_conv2d_im2col(inChannels, batch, size.height, size.width, kernelSize, kernelSize, stride, padding, 1, x,
                             column)
            rows = UnsafePointer(column)
        }
        rx_sgemm(0, 1, n, outChannels, k, 1, rows, k, weight.data, k, 0, y, outChannels)
        if let bias { rx_bias_add(n, outChannels, y, outChannels, bias.data) }
    }

    /// From dy (same layout as y): dW += dyᵀ · im2col(x), db += Σ dy (when given), and, when `inputGradient` is
    /// given, dx = col2im(dy · W) through `columnGradient` (`columnCount` floats; unused for a 1×1 convolution).
    /// `columns` is what `forward` read: its `column`, or x itself for a 1×1 convolution.
    /// - Note: Real-time safe.
    public func backward(columns: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, batch: Int,
                         size: ImageSize, weightGradient: UnsafeMutablePointer<Float>?,
                         biasGradient: UnsafeMutablePointer<Float>?, columnGradient: UnsafeMutablePointer<Float>?,
                         inputGradient dx: UnsafeMutablePointer<Float>?) {
        let n = batch * outputSize(size).pixels, k = rowWidth
        if let dw = weightGradient { rx_sgemm(1, 0, outChannels, k, n, 1, dy, outChannels, columns, k, 1, dw, k) }
        if let db = biasGradient, bias != nil { rx_bias_grad(n, outChannels, dy, outChannels, db, 1) }
        guard let dx else { return }
        if isPointwise {
            rx_sgemm(0, 0, n, k, outChannels, 1, dy, outChannels, weight.data, k, 0, dx, k)
        } else if let dcol = columnGradient {
            rx_sgemm(0, 0, n, k, outChannels, 1, dy, outChannels, weight.data, k, 0, dcol, k)
            TrainableConv2d.col2im(dcol, inChannels: inChannels, batch: batch, size: size, kernel: kernelSize,
                                   stride: stride, padding: padding, output: dx)
        }
    }

    /// The adjoint of rx_conv2d_im2col (dilation 1): each im2col row's kh·kw pixel runs are added back onto the
    /// input pixels they were copied from; x is overwritten.
    /// - Note: Real-time safe.
    public static func col2im(_ col: UnsafePointer<Float>, inChannels c: Int, batch: Int, size: ImageSize, kernel: Int,
                              stride: Int, padding: Int, output x: UnsafeMutablePointer<Float>) {
        let h = size.height, w = size.width
        let hout = (h + 2 * padding - kernel) / stride + 1, wout = (w + 2 * padding - kernel) / stride + 1
        x.update(repeating: 0, count: batch * h * w * c)
        var row = col
        for b in 0 ..< batch {
            let xb = x + b * h * w * c
            for oy in 0 ..< hout {
                for ox in 0 ..< wout {
                    for i in 0 ..< kernel {
                        let sy = oy * stride + i - padding
                        for j in 0 ..< kernel {
                            let sx = ox * stride + j - padding
                            if sy >= 0 && sy < h && sx >= 0 && sx < w {
                                let dst = xb + (sy * w + sx) * c
                                for ch in 0 ..< c { dst[ch] += row[ch] }
                            }
                            row += c
                        }
                    }
                }
            }
        }
    }
}
