import ReflexCore
import ReflexNN

/// A LeRobot diffusion checkpoint as a Reflex `Policy`: observations are [observation.state,
/// observation.environment_state] per step (raw units), each part normalized with its own LeRobot normalizer; the
/// U-Net runs under `DiffusionPolicy` (DDPM or DDIM as the checkpoint says, or RTI / K candidates when asked), and
/// actions are unnormalized by the postprocessor's statistics. Drive it with `PolicyRunner` for LeRobot's
/// `select_action` queue: the first observation fills the history, a chunk is inferred when the queue is empty, and
/// actions n_obs_steps − 1 … n_obs_steps − 2 + n_action_steps of it are executed.
public final class LeRobotDiffusionPolicy: Policy {
    public let checkpoint: LeRobotCheckpoint
    /// The sampler over the U-Net (observation normalization is done here, so its own is the identity).
    public let diffusion: DiffusionPolicy
    public let denoiser: ConditionalUnetDenoiser
    /// When set (H × A values in the network's normalized space), every fresh chunk starts from this noise instead
    /// of a draw from the generator, as `select_action(batch, noise=…)` in LeRobot.
    public var initialNoise: Tensor?
    private let history: Tensor

    public var config: PolicyConfig { diffusion.config }

    /// Loads `directory`. `maxCandidates` sizes the batch for K-candidate sampling (V-GPS).
    public convenience init(directory: String, maxCandidates: Int = 1) throws {
        try self.init(checkpoint: LeRobotCheckpoint(directory: directory), maxCandidates: maxCandidates)
    }

    public init(checkpoint: LeRobotCheckpoint, maxCandidates: Int = 1) throws {
        self.checkpoint = checkpoint
        let c = checkpoint.config
        denoiser = try ConditionalUnetDenoiser(network: checkpoint.unet, horizon: c.horizon, maxBatch: maxCandidates)
        let policyConfig = PolicyConfig(
            kind: .diffusion, observationSize: c.observationSize, actionSize: c.actionFeature.size,
            nObsSteps: c.nObsSteps, horizon: c.horizon, nActionSteps: c.nActionSteps,
            normalization: .init(observation: .identity(size: c.observationSize), action: checkpoint.actionNormalizer),
            network: NetworkConfig(), scheduler: c.scheduler, sampler: c.sampler,
            notes: ["source": "LeRobot checkpoint \(checkpoint.directory)"])
        diffusion = try DiffusionPolicy(config: policyConfig, denoiser: denoiser)
        history = Tensor(zeros: [c.nObsSteps, c.observationSize])
    }

    public func reset() { diffusion.reset() }

    /// Normalizes a raw history (n_obs_steps × [state, environment state]) into the U-Net's global condition.
    /// - Note: Real-time safe.
    public func normalizeHistory(_ raw: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let c = checkpoint.config
        let s = c.stateFeature?.size ?? 0
        let o = c.observationSize
        out.update(from: raw, count: c.nObsSteps * o)
        for k in 0 ..< c.nObsSteps {
            checkpoint.stateNormalizer.normalize(out + k * o)
            checkpoint.environmentStateNormalizer?.normalize(out + k * o + s)
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
}
