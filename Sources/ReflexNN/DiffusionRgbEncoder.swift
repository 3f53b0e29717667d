import CBridge
import ReflexCore

/// LeRobot's `DiffusionRgbEncoder` at inference: center crop (what LeRobot does in eval mode), the ResNet trunk,
/// spatial soft-argmax, then relu(Linear(K·2 → K·2)). Images enter as LeRobot takes them, channel-major (C × H × W,
/// float), and are cropped and laid out position-major in one pass.
public struct DiffusionRgbEncoder: Sendable {
    public let backbone: ResNet
    public let pool: SpatialSoftmax
    public let out: Linear
    /// `out`'s weights on the packed GEMM (a general GEMM of 2–8 rows allocates its packing buffers).
    let outPacked: PackedWeights
    /// Image size before and after the center crop.
    public let imageSize: ImageSize
    public let cropSize: ImageSize
    public let channels: Int

    /// Values per image out of the encoder (K·2).
    public var featureSize: Int { out.outputSize }

    /// Reads `prefix.backbone.*` (LeRobot's sequential naming), `prefix.pool.*` and `prefix.out.*`.
    public init(_ prefix: String, depth: ResNet.Depth, normalization: ResNet.Normalization, channels: Int,
                imageSize: ImageSize, cropSize: ImageSize?, keypoints: Int, storage: WeightStorage = .f32,
                weights: WeightSource) throws {
        let crop = cropSize ?? imageSize
        guard crop.height >= 1, crop.width >= 1, crop.height <= imageSize.height, crop.width <= imageSize.width else {
            throw ReflexError(.invalidValue, "crop \(crop) does not fit in images of \(imageSize)", at: .init(element: prefix))
        }
        self.imageSize = imageSize
        self.cropSize = crop
        self.channels = channels
        backbone = try ResNet(depth, inChannels: channels, normalization: normalization, naming: .sequential,
                              prefix: prefix + "backbone.", storage: storage, weights: weights)
        let map = backbone.outputSize(crop)
        guard map.height >= 1, map.width >= 1 else {
            throw ReflexError(.invalidValue, "crop \(crop) is too small for \(depth.rawValue)", at: .init(element: prefix))
        }
        pool = try SpatialSoftmax(prefix + "pool", inChannels: backbone.outChannels, size: map, keypoints: keypoints,
                                  weights: weights)
        out = Linear(weight: try weights(prefix + "out.weight", [pool.outputSize, pool.outputSize]),
                     bias: try weights(prefix + "out.bias", [pool.outputSize]))
        outPacked = PackedWeights(out.weight.data, rows: pool.outputSize, columns: pool.outputSize)
    }

    /// torchvision's CenterCrop offsets: round((size − crop)/2), Python's round (half to even).
    public var cropOrigin: (top: Int, left: Int) {
        (Int((Double(imageSize.height - cropSize.height) / 2).rounded(.toNearestOrEven)),
         Int((Double(imageSize.width - cropSize.width) / 2).rounded(.toNearestOrEven)))
    }

    /// Parameters as run (BatchNorm folded into the convolutions).
    public var parameterCount: Int {
        var n = backbone.stem.parameterCount
        for b in backbone.blocks { n += b.layers.reduce(0) { $0 + $1.parameterCount } + (b.downsample?.parameterCount ?? 0) }
        return n + (pool.keypointProjection?.parameterCount ?? 0) + out.weight.count + (out.bias?.count ?? 0)
    }

    /// Multiply-adds per image.
    public var multiplyAdds: Int {
        backbone.multiplyAdds(cropSize) + (pool.keypointProjection?.multiplyAdds(pool.size) ?? 0) + out.inputSize * out.outputSize
    }

    /// Features (batch × featureSize) of `batch` images (each C × H × W, channel-major, `stride` floats apart; 0 means
    /// packed), each channel first mapped x ↦ x·scale[c] + shift[c] when given (the preprocessor's normalization,
    /// folded into the crop pass).
    /// - Note: Real-time safe.
    public func evaluate(_ images: UnsafePointer<Float>, batch: Int, stride: Int = 0, scale: UnsafePointer<Float>?,
                         shift: UnsafePointer<Float>?, output y: UnsafeMutablePointer<Float>,
                         workspace ws: DiffusionRgbEncoderWorkspace) {
        precondition(batch <= ws.maxBatch, "encoder workspace is for \(ws.maxBatch) images")
        let (top, left) = cropOrigin
        let c = channels, h = cropSize.height, w = cropSize.width
        let x = ws.input.data
        for b in 0 ..< batch {
            layOutPositionMajor(images + b * (stride > 0 ? stride : c * imageSize.pixels), channels: c, size: imageSize,
                                top: top, left: left, crop: cropSize, scale: scale, shift: shift, output: x + b * h * w * c)
        }
        let map = backbone.evaluate(x, batch: batch, size: cropSize, workspace: ws.backbone)
        pool.evaluate(map, batch: batch, scratch: ws.keypoints.data, output: ws.pooled.data)
        outPacked.multiply(ws.pooled.data, rows: batch, output: y)
        if let b = out.bias { rx_bias_add(batch, featureSize, y, featureSize, b.data) }
        Activation.relu.forward(y, y, count: batch * featureSize)
    }
}

/// Buffers for up to `maxBatch` images through a `DiffusionRgbEncoder`, made once.
public final class DiffusionRgbEncoderWorkspace: @unchecked Sendable {
    public let maxBatch: Int
    let input: Tensor
    let backbone: ResNetWorkspace
    let keypoints: Tensor
    let pooled: Tensor

    public init(encoder: DiffusionRgbEncoder, maxBatch: Int) {
        self.maxBatch = maxBatch
        input = Tensor(zeros: [maxBatch * encoder.cropSize.pixels * encoder.channels])
        backbone = ResNetWorkspace(network: encoder.backbone, maxBatch: maxBatch, size: encoder.cropSize)
        keypoints = Tensor(zeros: [max(encoder.pool.scratchCount(batch: maxBatch), 1)])
        pooled = Tensor(zeros: [maxBatch * encoder.pool.outputSize])
    }
}

/// One channel-major image (C × H × W, as LeRobot's pipeline has it) as a position-major map ((h·w) × C) of its
/// `crop` window at (`top`, `left`), each channel mapped x ↦ x·scale[c] + shift[c] when given (the preprocessor's
/// normalization, folded into this one pass).
/// - Note: Real-time safe.
public func layOutPositionMajor(_ image: UnsafePointer<Float>, channels c: Int, size: ImageSize, top: Int = 0, left: Int = 0,
                                crop: ImageSize, scale: UnsafePointer<Float>?, shift: UnsafePointer<Float>?,
                                output dst: UnsafeMutablePointer<Float>) {
    let h = crop.height, w = crop.width
    for ch in 0 ..< c {
        let s = scale?[ch] ?? 1, o = shift?[ch] ?? 0
        let plane = image + ch * size.pixels
        for i in 0 ..< h {
            let row = plane + (top + i) * size.width + left
            for j in 0 ..< w { dst[(i * w + j) * c + ch] = row[j] * s + o }
        }
    }
}
