#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CBridge
import ReflexCore

/// The shape of LeRobot's ACT network (`ACTConfig`'s inference options and its features).
public struct ACTNetworkConfig: Sendable, Equatable {
    public var transformer: ACTTransformerConfig
    public var chunkSize: Int
    public var latentDim: Int
    public var actionSize: Int
    /// `observation.state`'s size, nil without one.
    public var stateSize: Int?
    /// `observation.environment_state`'s size, nil without one.
    public var environmentStateSize: Int?
    /// Cameras (each a C × H × W image of one shape), through one shared torchvision backbone.
    public var cameras: Int
    public var channels: Int
    public var imageSize: ImageSize
    public var backbone: ResNet.Depth

    public init(transformer: ACTTransformerConfig, chunkSize: Int, latentDim: Int, actionSize: Int, stateSize: Int?,
                environmentStateSize: Int?, cameras: Int, channels: Int = 3, imageSize: ImageSize = .init(height: 0, width: 0),
                backbone: ResNet.Depth = .resnet18) {
        self.transformer = transformer
        self.chunkSize = chunkSize
        self.latentDim = latentDim
        self.actionSize = actionSize
        self.stateSize = stateSize
        self.environmentStateSize = environmentStateSize
        self.cameras = cameras
        self.channels = channels
        self.imageSize = imageSize
        self.backbone = backbone
    }

    /// The 1-D tokens before the cameras': latent, robot state, environment state.
    public var oneDimensionalTokens: Int { 1 + (stateSize == nil ? 0 : 1) + (environmentStateSize == nil ? 0 : 1) }
}

/// LeRobot's `ACT` network at inference (Zhao et al. 2023, "Learning Fine-Grained Bimanual Manipulation with Low-Cost
/// Hardware", §3 and Fig. 4): each camera through a torchvision ResNet (layer4's features, FrozenBatchNorm2d folded
/// into the convolutions) and a 1×1 projection, with a 2-D sinusoidal position embedding; one token each for the
/// latent (zero at inference, so `encoder_latent_input_proj`'s bias), the robot state and the environment state, with
/// learned position embeddings; the transformer; `action_head` on the decoder's output. The VAE encoder is a training
/// device and is never read.
public struct ActionChunkingTransformer: Sendable {
    public let config: ACTNetworkConfig
    public let backbone: ResNet?
    public let imageProjection: Conv2d?
    public let transformer: ACTTransformer
    /// The latent token: `encoder_latent_input_proj`(0) = its bias.
    let latentToken: Tensor
    let stateProjection: PackedLinear?
    let environmentProjection: PackedLinear?
    /// Position embeddings of all encoder tokens (1-D learned, then each camera's 2-D sinusoidal), S × D.
    public let encoderPosition: Tensor
    /// `decoder_pos_embed`, chunk_size × D.
    let decoderPosition: Tensor
    let actionHead: PackedLinear
    /// Feature map per camera (h × w, tokens per camera).
    public let featureMapSize: ImageSize

    /// Encoder tokens: the 1-D ones, then h·w per camera.
    public var tokens: Int { config.oneDimensionalTokens + config.cameras * featureMapSize.pixels }

    /// Reads every tensor under `prefix` ("model." in a LeRobot checkpoint).
    public init(_ prefix: String, config c: ACTNetworkConfig, weights: WeightSource) throws {
        config = c
        let d = c.transformer.dimModel
        guard c.chunkSize >= 1, c.latentDim >= 1, c.actionSize >= 1 else {
            throw ReflexError(.invalidValue, "chunk_size, latent_dim and the action size must be positive", at: .init(element: prefix))
        }
        guard d % 2 == 0 || c.cameras == 0 else {
            throw ReflexError(.invalidValue, "dim_model \(d) must be even for the 2-D position embedding", at: .init(element: prefix))
        }
        if c.cameras > 0 {
            let trunk = try ResNet(c.backbone, inChannels: c.channels, normalization: .batchNorm, naming: .torchvision,
                                   prefix: prefix + "backbone.", weights: weights)
            let map = trunk.outputSize(c.imageSize)
            guard map.height >= 1, map.width >= 1 else {
                throw ReflexError(.invalidValue, "images of \(c.imageSize) are too small for \(c.backbone.rawValue)", at: .init(element: prefix))
            }
            backbone = trunk
            featureMapSize = map
            imageProjection = try Conv2d(prefix + "encoder_img_feat_input_proj", in: trunk.outChannels, out: d, kernel: 1,
                                         weights: weights)
        } else {
            backbone = nil
            imageProjection = nil
            featureMapSize = ImageSize(height: 0, width: 0)
        }
        _ = try weights(prefix + "encoder_latent_input_proj.weight", [d, c.latentDim])
        latentToken = try weights(prefix + "encoder_latent_input_proj.bias", [d])
        stateProjection = try c.stateSize.map {
            try PackedLinear(prefix + "encoder_robot_state_input_proj", in: $0, out: d, weights: weights)
        }
        environmentProjection = try c.environmentStateSize.map {
            try PackedLinear(prefix + "encoder_env_state_input_proj", in: $0, out: d, weights: weights)
        }
        transformer = try ACTTransformer(prefix, config: c.transformer, weights: weights)
        let oneD = try weights(prefix + "encoder_1d_feature_pos_embed.weight", [c.oneDimensionalTokens, d])
        decoderPosition = try weights(prefix + "decoder_pos_embed.weight", [c.chunkSize, d])
        actionHead = try PackedLinear(prefix + "action_head", in: d, out: c.actionSize, weights: weights)
        let n1 = c.oneDimensionalTokens, pixels = featureMapSize.pixels
        let pos = Tensor(zeros: [n1 + c.cameras * pixels, d])
        pos.data.update(from: oneD.data, count: n1 * d)
        if c.cameras > 0 {
            let camera = ActionChunkingTransformer.sinusoidalPositionEmbedding2d(featureMapSize, dim: d)
            for k in 0 ..< c.cameras { (pos.data + (n1 + k * pixels) * d).update(from: camera.data, count: pixels * d) }
        }
        encoderPosition = pos
    }

    /// LeRobot's `ACTSinusoidalPositionEmbedding2d` for a feature map of `size`, as (h·w) × dim rows: per pixel the
    /// y embedding (dim/2 values) then the x embedding, each sin/cos interleaved over positions normalized to
    /// (0, 2π] (i/(n + 1e-6)·2π for i = 1 … n) at frequencies 10000^(2⌊j/2⌋/(dim/2)); in float32 as PyTorch computes it.
    public static func sinusoidalPositionEmbedding2d(_ size: ImageSize, dim: Int) -> Tensor {
        let half = dim / 2
        let out = Tensor(zeros: [size.pixels, dim])
        let twoPi = Float(2 * Double.pi), eps: Float = 1e-6
        var inverseFrequency = [Float](repeating: 0, count: half)
        for j in 0 ..< half { inverseFrequency[j] = powf(10000, Float(2 * (j / 2)) / Float(half)) }
        func embed(_ position: Float, _ dst: UnsafeMutablePointer<Float>) {
            for j in 0 ..< half {
                let v = position / inverseFrequency[j]
                dst[j] = j % 2 == 0 ? sinf(v) : cosf(v)
            }
        }
        for i in 0 ..< size.height {
            let y = Float(i + 1) / (Float(size.height) + eps) * twoPi
            for j in 0 ..< size.width {
                let x = Float(j + 1) / (Float(size.width) + eps) * twoPi
                let row = out.data + (i * size.width + j) * dim
                embed(y, row)
                embed(x, row + half)
            }
        }
        return out
    }

    /// Parameters as run (BatchNorm folded; the VAE encoder not counted).
    public var parameterCount: Int {
        var n = 0
        if let backbone {
            n += backbone.stem.parameterCount
            for b in backbone.blocks { n += b.layers.reduce(0) { $0 + $1.parameterCount } + (b.downsample?.parameterCount ?? 0) }
        }
        n += imageProjection?.parameterCount ?? 0
        n += latentToken.count + (stateProjection?.parameterCount ?? 0) + (environmentProjection?.parameterCount ?? 0)
        return n + transformer.parameterCount + decoderPosition.count + actionHead.parameterCount
            + config.oneDimensionalTokens * config.transformer.dimModel
    }

    /// Multiply-adds of one chunk: backbones, projection, transformer, head.
    public var multiplyAdds: Int {
        let d = config.transformer.dimModel
        let images = config.cameras * ((backbone?.multiplyAdds(config.imageSize) ?? 0) + featureMapSize.pixels * d * (backbone?.outChannels ?? 0))
        return images + transformer.multiplyAdds(tokens: tokens, queries: config.chunkSize) + config.chunkSize * d * config.actionSize
    }

    /// One action chunk (chunk_size × action size, in the network's normalized space) from normalized inputs: `state`
    /// and `environmentState` (nil when the policy has none), and `images`: each camera's image position-major
    /// ((H·W) × C, normalized), one after the other (`imageStride` = H·W·C).
    /// - Note: Real-time safe.
    public func evaluate(state: UnsafePointer<Float>?, environmentState: UnsafePointer<Float>?,
                         images: UnsafePointer<Float>?, imageStride: Int, output: UnsafeMutablePointer<Float>,
                         workspace ws: ACTWorkspace) {
        let d = config.transformer.dimModel
        let x = ws.tokens.data
        var row = 0
        (x + row * d).update(from: latentToken.data, count: d)
        row += 1
        if let p = stateProjection, let state {
            p.evaluate(state, rows: 1, output: x + row * d)
            row += 1
        }
        if let p = environmentProjection, let environmentState {
            p.evaluate(environmentState, rows: 1, output: x + row * d)
            row += 1
        }
        if let backbone, let imageProjection, let images, let bws = ws.backbone {
            // All cameras in one batch through the shared backbone (each weight panel read once for all of them);
            // the projection writes camera k's tokens at rows row + k·h·w, LeRobot's order.
            precondition(imageStride == config.imageSize.pixels * config.channels, "ACT images must be packed")
            let map = backbone.evaluate(images, batch: config.cameras, size: config.imageSize, workspace: bws)
            imageProjection.evaluate(map, batch: config.cameras, size: featureMapSize, column: ws.column.data, output: x + row * d)
        }
        let y = transformer.evaluate(tokens: x, count: tokens, encoderPosition: encoderPosition.data,
                                     decoderPosition: decoderPosition.data, queries: config.chunkSize, workspace: ws.transformer)
        actionHead.evaluate(y, rows: config.chunkSize, output: output)
    }
}

/// Buffers for one `ActionChunkingTransformer.evaluate`, made once.
public final class ACTWorkspace: @unchecked Sendable {
    let tokens: Tensor
    let backbone: ResNetWorkspace?
    let column: Tensor
    public let transformer: ACTTransformerWorkspace

    public init(network: ActionChunkingTransformer) {
        let c = network.config
        tokens = Tensor(zeros: [network.tokens * c.transformer.dimModel])
        backbone = network.backbone.map { ResNetWorkspace(network: $0, maxBatch: c.cameras, size: c.imageSize) }
        column = Tensor(zeros: [1])
        transformer = ACTTransformerWorkspace(config: c.transformer, maxTokens: network.tokens, maxQueries: c.chunkSize)
    }
}
