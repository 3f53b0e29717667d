import ArgumentParser
import ReflexCore
import ReflexNN
import ReflexPolicy

/// Runs a LeRobot diffusion checkpoint on observations from a safetensors file: what the parity script and anyone
/// debugging an export compare against PyTorch.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a LeRobot diffusion checkpoint on the observations in a .safetensors file.",
        discussion: """
        Tensors read from --inputs (F32, F16, BF16 or F64):
          observation.state               [S] or [n_obs_steps, S], raw units, oldest first; one row is repeated
                                          n_obs_steps times, as LeRobot's queue does at the start of an episode
          observation.environment_state   [E] or [n_obs_steps, E], when the policy has that input
          noise                           optional [H, A] or [K, H, A]: the initial noise of the chunk(s), in the
                                          normalized action space (as select_action(batch, noise=...)); otherwise
                                          K = --candidates chunks start from N(0, I) drawn with --seed
        Tensors written to --out:
          action.normalized               [K, H, A] the denoised chunks, normalized
          action                          [K, H, A] the chunks unnormalized (the postprocessor's statistics)
          action.selected                 [n_action_steps, A] the actions select_action queues from chunk 0
                                          (indices n_obs_steps - 1 ..< n_obs_steps - 1 + n_action_steps)
        With --unet-only, one U-Net evaluation instead:
          reads  x [B, H, A], timestep [1] or [B] (one value; integers stored as floats), global_cond [G], [1, G]
                 or [B, G] (the normalized, flattened observation history)
          writes unet_output [B, H, A]
        DDIM with eta 0 is deterministic given the noise; DDPM also draws per-step noise (from --seed), which
        PyTorch draws from its own generator, so DDPM chunks match LeRobot's only in distribution.
        """
    )

    @Argument(help: "A LeRobot diffusion checkpoint directory (config.json, model.safetensors, processors).") var directory: String
    @Option(help: "Input tensors (.safetensors).") var inputs: String
    @Option(help: "Where to write the outputs (.safetensors).") var out: String
    @Flag(help: "Evaluate the U-Net once on x, timestep and global_cond instead of sampling actions.") var unetOnly = false
    @Option(help: "Chunks to sample when no noise is given.") var candidates = 1
    @Option(help: "Seed for the initial noise (when not given) and DDPM's per-step noise.") var seed: UInt64 = 0
    @Option(help: "Kernel threads.") var threads = 1

    func run() throws {
        KernelBuild.setThreads(threads)
        defer { KernelBuild.setThreads(1) }
        do {
            let input = try SafetensorsFile(path: inputs)
            if unetOnly {
                try runUnet(input)
            } else {
                try runPolicy(input)
            }
        } catch let e as ReflexError {
            throw ValidationError(e.description)
        }
    }

    private func require(_ file: SafetensorsFile, _ name: String) throws -> Tensor {
        guard file.contains(name) else {
            throw ReflexError(.safetensorsMissingTensor, "input tensor '\(name)' is missing (see reflex predict --help)",
                              at: .init(file: file.path))
        }
        return try file.tensor(name)
    }

    private func runUnet(_ input: SafetensorsFile) throws {
        let checkpoint = try LeRobotCheckpoint(directory: directory)
        let h = checkpoint.config.horizon, a = checkpoint.config.actionFeature.size
        let g = checkpoint.config.unet.globalConditionSize
        let x = try require(input, "x"), t = try require(input, "timestep"), cond = try require(input, "global_cond")
        guard x.rank == 3, x.shape[1] == h, x.shape[2] == a else {
            throw ReflexError(.shapeMismatch, "x has shape \(x.shape); the policy needs [B, \(h), \(a)]", at: .init(file: inputs))
        }
        let b = x.shape[0]
        guard cond.count == g || cond.count == b * g else {
            throw ReflexError(.shapeMismatch, "global_cond has shape \(cond.shape); the policy needs [\(g)] or [\(b), \(g)]",
                              at: .init(file: inputs))
        }
        let steps = Set(t.scalars)
        guard steps.count == 1, let step = steps.first, step >= 0, step == step.rounded(),
              Int(step) < checkpoint.config.scheduler.trainTimesteps
        else {
            throw ReflexError(.invalidValue, "timestep must hold one integer value in 0..<num_train_timesteps, got \(t.scalars.prefix(4))",
                              at: .init(file: inputs))
        }
        let ws = try ConditionalUnet1DWorkspace(network: checkpoint.unet, horizon: h, maxBatch: b)
        let y = Tensor(zeros: [b, h, a])
        checkpoint.unet.evaluate(x.data, timestep: Int(step), condition: cond.data, conditionBatch: cond.count / g,
                                 batch: b, output: y.data, workspace: ws)
        try writeSafetensors([("unet_output", y)], to: out, metadata: ["producer": "reflex predict --unet-only"])
        print("unet_output [\(b), \(h), \(a)] at t = \(Int(step)) → \(out)")
    }

    private func runPolicy(_ input: SafetensorsFile) throws {
        let checkpoint = try LeRobotCheckpoint(directory: directory)
        let c = checkpoint.config
        let h = c.horizon, a = c.actionFeature.size, nObs = c.nObsSteps
        var k = candidates
        var noise: Tensor?
        if input.contains("noise") {
            let n = try input.tensor("noise")
            guard n.count % (h * a) == 0, n.shape.suffix(2) == [h, a] else {
                throw ReflexError(.shapeMismatch, "noise has shape \(n.shape); the policy needs [\(h), \(a)] or [K, \(h), \(a)]",
                                  at: .init(file: inputs))
            }
            k = n.count / (h * a)
            noise = n
        }
        guard k >= 1 else { throw ValidationError("--candidates must be at least 1") }
        let policy = try LeRobotDiffusionPolicy(checkpoint: checkpoint, maxCandidates: k)
        // The raw history, n_obs_steps × [state, environment state].
        let o = c.observationSize
        let history = Tensor(zeros: [nObs, o])
        var offset = 0
        for (name, feature) in [(LeRobotDiffusionConfig.stateKey, c.stateFeature),
                                (LeRobotDiffusionConfig.environmentStateKey, c.environmentStateFeature)] {
            guard let feature else { continue }
            let t = try require(input, name)
            let size = feature.size
            guard t.count == size || t.count == nObs * size else {
                throw ReflexError(.shapeMismatch, "\(name) has shape \(t.shape); the policy needs [\(size)] or [\(nObs), \(size)]",
                                  at: .init(file: inputs))
            }
            for step in 0 ..< nObs {
                let row = t.count == size ? 0 : step
                (history.data + step * o + offset).update(from: t.data + row * size, count: size)
            }
            offset += size
        }
        let condition = Tensor(zeros: [nObs, o])
        policy.normalizeHistory(history.data, into: condition.data)
        var gen = RandomGenerator(seed: seed)
        policy.diffusion.sampleCandidates(history: condition.data, count: k, initialNoise: noise.map { UnsafePointer($0.data) },
                                          stepsExecuted: 0, generator: &gen)
        let normalized = Tensor(zeros: [k, h, a])
        for i in 0 ..< k { (normalized.data + i * h * a).update(from: policy.diffusion.candidate(i), count: h * a) }
        let raw = normalized.copy()
        checkpoint.actionNormalizer.unnormalize(raw.data, rows: k * h)
        let selected = Tensor(zeros: [c.nActionSteps, a])
        selected.data.update(from: raw.data + (nObs - 1) * a, count: c.nActionSteps * a)
        try writeSafetensors([("action.normalized", normalized), ("action", raw), ("action.selected", selected)], to: out,
                             metadata: ["producer": "reflex predict", "sampler": "\(c.sampler)"])
        print("\(k) chunk(s) [\(h), \(a)] with \(c.sampler); action.selected [\(c.nActionSteps), \(a)] → \(out)")
    }
}
