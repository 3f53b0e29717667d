import Foundation
import ReflexCore
import ReflexNN
import ReflexPolicy
import ReflexRL
import ReflexSteering

/// A DSRL latent-noise actor read back from a `reflex finetune --dsrl` run directory: `run.json` says which policy it
/// steers, the noise magnitude, the DDIM steps of the map w ↦ chunk and the actor's network; `policy.safetensors` holds
/// the trained weights (written when the run finishes). A run that has not finished, or was killed, deploys the actor of
/// its latest checkpoint instead.
struct DSRLActorRun {
    let settings: DSRLSettings
    let policy: TanhGaussianPolicy

    init(directory: String) throws {
        let runFile = directory + "/run.json", weights = directory + "/policy.safetensors"
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: runFile)) } catch {
            throw ReflexError(.fileNotFound, "not a fine-tuning run directory (no run.json)", at: .init(file: runFile))
        }
        let spec: FinetuneSpec
        do { spec = try JSONDecoder().decode(FinetuneSpec.self, from: data) } catch {
            throw ReflexError(.invalidValue, "cannot read run.json: \(error)", at: .init(file: runFile))
        }
        guard let settings = spec.dsrl else {
            throw ReflexError(.invalidValue, "this run trained a \(spec.algo) policy on joints, not a DSRL noise actor (no dsrl settings)",
                              at: .init(file: runFile))
        }
        let finished = FileManager.default.fileExists(atPath: weights)
        let run = RunDirectory(path: directory)
        let file = try SafetensorsFile(path: finished ? weights : try run.resumableCheckpoint())
        // The actor sees the policy's normalized condition and emits one noise chunk (H × A).
        let base = try PolicyDirectory.readConfig(settings.policy)
        var unused = RandomGenerator(seed: 0)
        let l = spec.learner
        policy = TanhGaussianPolicy(observationSize: base.conditionSize, actionSize: base.horizon * base.actionSize,
                                    hiddenSizes: l.actorHiddenSizes, activation: l.activation, layerNorm: l.layerNorm,
                                    logStdMin: l.logStdMin, logStdMax: l.logStdMax, generator: &unused)
        try policy.network.layout.load(into: policy.network.parameters, from: file, prefix: finished ? "policy." : "actor.")
        self.settings = settings
    }

    /// The deployable noise source for `base`, checked against the shapes the actor was trained on.
    func noiseSource(for base: DiffusionPolicy, deterministic: Bool, maxBatch: Int) throws -> LatentNoiseActor {
        let c = base.config
        guard policy.observationSize == c.conditionSize, policy.actionSize == c.horizon * c.actionSize else {
            throw ReflexError(.shapeMismatch,
                              "the DSRL actor maps \(policy.observationSize) → \(policy.actionSize) noise values; this policy needs \(c.conditionSize) → \(c.horizon * c.actionSize) (it was trained on \(settings.policy))")
        }
        return LatentNoiseActor(policy: policy, magnitude: settings.magnitude, deterministic: deterministic, maxBatch: maxBatch)
    }
}
