import ReflexCore
import ReflexNN

/// A LeRobot diffusion checkpoint as a Reflex `Policy`: observations are [observation.state, each camera's image
/// (C × H × W, channel-major floats as LeRobot's pipeline has them), observation.environment_state] per step (raw
/// units), each part normalized with its own LeRobot normalizer; the image encoders turn each step's images into
/// features once per chunk (never once per candidate); the U-Net runs under `DiffusionPolicy` (DDPM or DDIM as the
/// checkpoint says, or RTI / K candidates when asked), and actions are unnormalized by the postprocessor's
/// statistics. Drive it with `PolicyRunner` for LeRobot's `select_action` queue: the first observation fills the
/// history, a chunk is inferred when the queue is empty, and actions n_obs_steps − 1 … n_obs_steps − 2 +
/// n_action_steps of it are executed.
public final class LeRobotDiffusionPolicy: Policy {
    public let checkpoint: LeRobotCheckpoint
    /// The sampler over the U-Net (observation normalization is done here, so its own is the identity); its
    /// observations are the U-Net's condition rows.
    public let diffusion: DiffusionPolicy
    public let denoiser: ConditionalUnetDenoiser
    /// When set (H × A values in the network's normalized space), every fresh chunk starts from this noise instead
    /// of a draw from the generator, as `select_action(batch, noise=…)` in LeRobot.
    public var initialNoise: Tensor?
    /// The policy as its caller sees it: raw observations of `LeRobotDiffusionConfig.observationSize`.
    public let config: PolicyConfig
    private let history: Tensor
    private let encoderWorkspaces: [DiffusionRgbEncoderWorkspace]
    /// Per camera: the image normalization as x·scale + shift per channel, and the encoder's output rows.
    private let imageScale: [Tensor]
    private let imageShift: [Tensor]
    private let features: Tensor
    /// Sizes of the raw and condition rows, fixed at load (the config's computed properties build arrays).
    private let layout: (state: Int, environment: Int, cameras: Int, image: Int, feature: Int, observation: Int, step: Int)

    /// True when the policy needs camera images in its observations.
    public var needsCameras: Bool { !checkpoint.encoders.isEmpty }

    /// Loads `directory`. `maxCandidates` sizes the batch for K-candidate sampling (V-GPS).
    public convenience init(directory: String, maxCandidates: Int = 1) throws {
        try self.init(checkpoint: LeRobotCheckpoint(directory: directory), maxCandidates: maxCandidates)
    }

    public init(checkpoint: LeRobotCheckpoint, maxCandidates: Int = 1) throws {
        self.checkpoint = checkpoint
        let c = checkpoint.config
        denoiser = try ConditionalUnetDenoiser(network: checkpoint.unet, horizon: c.horizon, maxBatch: maxCandidates)
        let step = c.conditionStepSize
        var policyConfig = PolicyConfig(
            kind: .diffusion, observationSize: step, actionSize: c.actionFeature.size,
            nObsSteps: c.nObsSteps, horizon: c.horizon, nActionSteps: c.nActionSteps,
            normalization: .init(observation: .identity(size: step), action: checkpoint.actionNormalizer),
            network: NetworkConfig(), scheduler: c.scheduler, sampler: c.sampler,
            notes: ["source": "LeRobot checkpoint \(checkpoint.directory)"])
        diffusion = try DiffusionPolicy(config: policyConfig, denoiser: denoiser)
        policyConfig.observationSize = c.observationSize
        policyConfig.normalization.observation = .identity(size: c.observationSize)
        config = policyConfig
        history = Tensor(zeros: [c.nObsSteps, step])
        encoderWorkspaces = checkpoint.encoders.map { DiffusionRgbEncoderWorkspace(encoder: $0, maxBatch: c.nObsSteps) }
        imageScale = checkpoint.imageNormalizers.map { $0.affine.scale }
        imageShift = checkpoint.imageNormalizers.map { $0.affine.shift }
        features = Tensor(zeros: [max(c.nObsSteps * (c.vision?.featureSize ?? 0), 1)])
        layout = (c.stateFeature?.size ?? 0, c.environmentStateFeature?.size ?? 0, c.imageFeatures.count,
                  c.imageFeatures.first?.feature.size ?? 0, c.vision?.featureSize ?? 0, c.observationSize, step)
    }

    public func reset() { diffusion.reset() }

    /// Turns a raw history (n_obs_steps × `observationSize`) into the U-Net's global condition (n_obs_steps ×
    /// [normalized state, image features per camera, normalized environment state]); each camera's images of all
    /// steps go through its encoder in one batch.
    /// - Note: Real-time safe.
    public func normalizeHistory(_ raw: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let n = checkpoint.config.nObsSteps
        let (s, e, cameras, imageSize, f, o, step) = layout
        for k in 0 ..< n {
            let row = out + k * step, src = raw + k * o
            row.update(from: src, count: s)
            checkpoint.stateNormalizer.normalize(row)
            (row + s + cameras * f).update(from: src + s + cameras * imageSize, count: e)
            checkpoint.environmentStateNormalizer?.normalize(row + s + cameras * f)
        }
        for camera in 0 ..< cameras {
            let which = checkpoint.encoders.count == 1 ? 0 : camera
            checkpoint.encoders[which].evaluate(
                raw + s + camera * imageSize, batch: n, stride: o, scale: imageScale[camera].data,
                shift: imageShift[camera].data, output: features.data, workspace: encoderWorkspaces[which])
            for k in 0 ..< n {
                (out + k * step + s + camera * f).update(from: features.data + k * f, count: f)
            }
        }
    }

    public func predictChunk(history raw: UnsafePointer<Float>, stepsExecuted: Int, output: UnsafeMutablePointer<Float>,
                             generator: inout RandomGenerator) -> InferenceInfo {
        normalizeHistory(raw, into: history.data)
        let info = diffusion.sampleCandidates(history: history.data, count: 1, initialNoise: initialNoise.map { UnsafePointer($0.data) },
                                              stepsExecuted: stepsExecuted, generator: &generator)
        diffusion.commit(candidate: 0, output: output)
        return info
    }

    /// The delay-aware call (`PolicyRunner`, the loop's worker): RTC by replacement, RTI with the delay and anytime
    /// denoising run on the U-Net as on any denoiser (guidance needs a VJP the U-Net does not have: `.rtc` runs as
    /// replacement). A fixed `initialNoise` keeps the plain path.
    /// - Note: Real-time safe.
    public func predictChunk(history raw: UnsafePointer<Float>, context: ChunkContext, output: UnsafeMutablePointer<Float>,
                             generator: inout RandomGenerator) -> InferenceInfo {
        guard initialNoise == nil else {
            return predictChunk(history: raw, stepsExecuted: context.stepsExecuted, output: output, generator: &generator)
        }
        normalizeHistory(raw, into: history.data)
        return diffusion.predictChunk(history: history.data, context: context, output: output, generator: &generator)
    }
}

extension Normalizer {
    /// The normalization as x ↦ x·scale + shift per value (every mode is affine: f(x) = f(0) + (f(1) − f(0))·x), for
    /// folding an image's per-channel normalization into the pass that lays it out.
    var affine: (scale: Tensor, shift: Tensor) {
        let zero = Tensor(zeros: [size]), one = Tensor(shape: [size], repeating: 1)
        normalize(zero.data)
        normalize(one.data)
        for i in 0 ..< size { one.data[i] -= zero.data[i] }
        return (one, zero)
    }
}
