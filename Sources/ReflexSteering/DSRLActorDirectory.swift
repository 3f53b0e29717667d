import Foundation
import ReflexCore
import ReflexNN
import ReflexPolicy
import ReflexRL

/// A trained DSRL latent-noise actor, read from the run directory `reflex finetune --dsrl` writes: `run.json` says
/// which policy it steers, the noise magnitude, the DDIM steps of the map w ↦ chunk and the actor's network;
/// `policy.safetensors` holds the trained weights (written when the run finishes). A run that has not finished, or
/// was killed, deploys the actor of its latest checkpoint instead.
public struct DSRLActorDirectory: Sendable {
    /// The diffusion policy directory the actor was trained to steer (absolute).
    public let policyDirectory: String
    /// Noise actions live in [−magnitude, magnitude].
    public let magnitude: Float
    /// DDIM steps (η = 0) of the deterministic map w ↦ chunk the actor was trained through.
    public let ddimSteps: Int
    public let policy: TanhGaussianPolicy

    public init(path: String) throws {
        let run = RunDirectory(path: path)
        let spec = try FinetuneSpec.read(directory: run)
        guard let dsrl = spec.dsrl else {
            throw ReflexError(.invalidValue, "this run trained a \(spec.run.algo.rawValue) policy on joints, not a DSRL noise actor",
                              at: .init(file: run.runFile))
        }
        let weights = path + "/policy.safetensors"
        let finished = FileManager.default.fileExists(atPath: weights)
        let file = try SafetensorsFile(path: finished ? weights : try run.resumableCheckpoint())
        // The actor sees the denoiser's condition (a camera policy's features included) and emits one noise chunk.
        let base = try PolicyDirectory.readConfig(dsrl.policy)
        var unused = RandomGenerator(seed: 0)
        let l = spec.run.learner
        policy = TanhGaussianPolicy(observationSize: base.denoiserConditionSize, actionSize: base.horizon * base.actionSize,
                                    hiddenSizes: l.actorHiddenSizes, activation: l.activation, layerNorm: l.layerNorm,
                                    logStdMin: l.logStdMin, logStdMax: l.logStdMax, generator: &unused)
        try policy.network.layout.load(into: policy.network.parameters, from: file, prefix: finished ? "policy." : "actor.")
        policyDirectory = dsrl.policy
        magnitude = dsrl.magnitude
        ddimSteps = dsrl.ddimSteps
    }

    /// The sampler the actor was trained through: DDIM at η = 0.
    public var sampler: SamplerSpec { .ddim(steps: ddimSteps, eta: 0) }

    /// A deployable noise source for `base` (one per thread: it owns a workspace), checked against the shapes the
    /// actor was trained on. `deterministic` acts with tanh(μ); V-GPS over DSRL needs it sampled.
    public func noiseSource(for base: DiffusionPolicy, deterministic: Bool, maxBatch: Int) throws -> LatentNoiseActor {
        let c = base.config
        guard policy.observationSize == c.denoiserConditionSize, policy.actionSize == c.horizon * c.actionSize else {
            throw ReflexError(.shapeMismatch,
                              "the DSRL actor maps \(policy.observationSize) → \(policy.actionSize) noise values; this policy needs \(c.denoiserConditionSize) → \(c.horizon * c.actionSize) (it was trained on \(policyDirectory))")
        }
        return LatentNoiseActor(policy: policy, magnitude: magnitude, deterministic: deterministic, maxBatch: maxBatch)
    }
}
