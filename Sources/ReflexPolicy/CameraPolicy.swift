import ReflexCore
import ReflexNN

/// A diffusion policy that sees through cameras: each camera's newest frame goes through its `ConvEncoder`, and the
/// features follow the normalized state history in the MLP denoiser's condition (as `PolicyTrainer` trained it).
///
/// Per control step: `setFrame(camera:frame:)` for every camera (encoded at once), then `predictChunk` as any policy,
/// so `PolicyRunner` drives it unchanged. A chunk is sampled from the frames last set.
///
/// Steering (DSRL's noise actor, V-GPS's re-ranking) wraps `diffusion` and is installed with `steer(_:)`: the frames
/// still arrive here, and the steering reads their features from the diffusion policy's condition.
public final class CameraDiffusionPolicy: Policy {
    public let config: PolicyConfig
    public let diffusion: DiffusionPolicy
    /// What samples each chunk: `diffusion` itself, or a steered policy over it.
    public private(set) var chunker: Policy
    public let encoders: [ConvEncoder]
    private let tapes: [ConvEncoderTape]
    private let image: Tensor
    private let offsets: [Int]
    /// Which cameras got a frame since `reset()`.
    public private(set) var framesSet: [Bool]

    public init(config: PolicyConfig, network: MLP, encoders: [ConvEncoder], maxCandidates: Int = 1) throws {
        try config.validate()
        guard let cameras = config.cameras else {
            throw ReflexError(.invalidValue, "CameraDiffusionPolicy needs a config with cameras")
        }
        guard encoders.count == cameras.count, zip(encoders, cameras).allSatisfy({ $0.config == $1.encoder }) else {
            throw ReflexError(.shapeMismatch, "\(encoders.count) encoders do not match cameras \(cameras.map(\.name))")
        }
        let denoiser = MLPDenoiser(config: config.network, network: network, horizon: config.horizon,
                                   actionSize: config.actionSize, conditionSize: config.denoiserConditionSize,
                                   trainTimesteps: config.scheduler?.trainTimesteps ?? 100, maxBatch: maxCandidates)
        diffusion = try DiffusionPolicy(config: config, denoiser: denoiser)
        chunker = diffusion
        self.config = config
        self.encoders = encoders
        tapes = encoders.map { ConvEncoderTape(config: $0.config, maxBatch: 1) }
        image = Tensor(zeros: [encoders.map(\.imageCount).max() ?? 0])
        var offsets: [Int] = [], o = 0
        for e in encoders { offsets.append(o); o += e.featureCount }
        self.offsets = offsets
        framesSet = [Bool](repeating: false, count: cameras.count)
    }

    /// Samples chunks through the policy `steering` builds over `diffusion` (nil: `diffusion` itself).
    public func steer(_ steering: (DiffusionPolicy) throws -> Policy?) rethrows {
        chunker = try steering(diffusion) ?? diffusion
    }

    /// Index of the camera named `name`, nil when the policy has none.
    public func cameraIndex(_ name: String) -> Int? { config.cameras?.firstIndex { $0.name == name } }

    /// Encodes camera `camera`'s newest frame (H × W × 3 uint8, the encoder's size, as `reflex collect` records it).
    /// - Note: Real-time safe.
    public func setFrame(camera: Int, frame: UnsafePointer<UInt8>) {
        let encoder = encoders[camera]
        encoder.loadFrame(frame, into: image.data)
        let features = encoder.forward(image.data, batch: 1, tape: tapes[camera])
        diffusion.setCameraFeatures(features, offset: offsets[camera], count: encoder.featureCount)
        framesSet[camera] = true
    }

    public func reset() {
        chunker.reset()
        for i in framesSet.indices { framesSet[i] = false }
    }

    public func predictChunk(history: UnsafePointer<Float>, stepsExecuted: Int, output: UnsafeMutablePointer<Float>,
                             generator: inout RandomGenerator) -> InferenceInfo {
        chunker.predictChunk(history: history, stepsExecuted: stepsExecuted, output: output, generator: &generator)
    }

    public func predictChunk(history: UnsafePointer<Float>, context: ChunkContext, output: UnsafeMutablePointer<Float>,
                             generator: inout RandomGenerator) -> InferenceInfo {
        chunker.predictChunk(history: history, context: context, output: output, generator: &generator)
    }
}

extension PolicyPrediction {
    /// `predict(policy:inputs:seed:)` for a camera policy, each camera's frame read from a binary PPM (`images`:
    /// camera name → path) of the encoder's size. Every camera needs a frame; unknown names and wrong sizes are
    /// refused with the file named.
    public static func predict(policy: CameraDiffusionPolicy, inputs: SafetensorsFile, images: [(name: String, path: String)],
                               seed: UInt64) throws -> [(String, Tensor)] {
        let cameras = policy.config.cameras ?? []
        for (name, _) in images where policy.cameraIndex(name) == nil {
            throw ReflexError(.invalidArgument, "the policy has no camera '\(name)' (it has: \(cameras.map(\.name).joined(separator: ", ")))")
        }
        for (k, c) in cameras.enumerated() {
            guard let path = images.last(where: { $0.name == c.name })?.path else {
                throw ReflexError(.invalidArgument, "the policy sees camera '\(c.name)': give its frame (--image \(c.name)=frame.ppm)")
            }
            let frame = try rgbFrame(ppm: path, height: c.encoder.imageHeight, width: c.encoder.imageWidth)
            frame.withUnsafeBufferPointer { policy.setFrame(camera: k, frame: $0.baseAddress!) }
        }
        return try predict(policy: policy, inputs: inputs, seed: seed)
    }

    /// A binary PPM (P6) as an H × W × 3 uint8 frame, checked against the size a camera needs.
    public static func rgbFrame(ppm path: String, height: Int, width: Int) throws -> [UInt8] {
        let image = try PortablePixmap.read(path) // C × H × W in [0, 1]
        guard image.shape == [3, height, width] else {
            throw ReflexError(.shapeMismatch, "image is \(image.shape) (C, H, W); the camera needs an RGB frame of [3, \(height), \(width)]",
                              at: .init(file: path))
        }
        let pixels = height * width
        var frame = [UInt8](repeating: 0, count: pixels * 3)
        for p in 0 ..< pixels {
            for c in 0 ..< 3 { frame[p * 3 + c] = quantize(image.data[c * pixels + p]) }
        }
        return frame
    }

    /// A [0, 1] float sample as the uint8 a camera frame holds (rounded, clamped).
    /// - Note: Real-time safe.
    @inline(__always) public static func quantize(_ v: Float) -> UInt8 {
        UInt8(max(0, min(255, (v * 255).rounded())))
    }
}
