import ReflexCore
import ReflexNN

/// LeRobot's inference entry points, as `reflex predict` and the parity scripts use them: tensors in, named tensors
/// out, with the names and layouts of LeRobot's pipeline (see `reflex predict --help`).
public enum LeRobotPrediction {
    /// One U-Net evaluation: reads `x` [B, H, A], `timestep` (one integer value) and `global_cond` [G], [1, G] or
    /// [B, G]; returns `unet_output` [B, H, A].
    public static func unet(checkpoint: LeRobotCheckpoint, inputs: SafetensorsFile) throws -> [(String, Tensor)] {
        let h = checkpoint.config.horizon, a = checkpoint.config.actionFeature.size
        let g = checkpoint.config.unet.globalConditionSize
        let x = try inputs.required("x"), t = try inputs.required("timestep"), cond = try inputs.required("global_cond")
        guard x.rank == 3, x.shape[1] == h, x.shape[2] == a else {
            throw ReflexError(.shapeMismatch, "x has shape \(x.shape); the policy needs [B, \(h), \(a)]", at: .init(file: inputs.path))
        }
        let b = x.shape[0]
        guard cond.count == g || cond.count == b * g else {
            throw ReflexError(.shapeMismatch, "global_cond has shape \(cond.shape); the policy needs [\(g)] or [\(b), \(g)]",
                              at: .init(file: inputs.path))
        }
        let steps = Set(t.scalars)
        guard steps.count == 1, let step = steps.first, step >= 0, step == step.rounded(),
              Int(step) < checkpoint.config.scheduler.trainTimesteps
        else {
            throw ReflexError(.invalidValue, "timestep must hold one integer value in 0..<num_train_timesteps, got \(t.scalars.prefix(4))",
                              at: .init(file: inputs.path))
        }
        let ws = try ConditionalUnet1DWorkspace(network: checkpoint.unet, horizon: h, maxBatch: b)
        let y = Tensor(zeros: [b, h, a])
        checkpoint.unet.evaluate(x.data, timestep: Int(step), condition: cond.data, conditionBatch: cond.count / g,
                                 batch: b, output: y.data, workspace: ws)
        return [("unet_output", y)]
    }

    /// `select_action` over one observation history: reads `observation.state`, each camera's image (its feature
    /// name, float32 C × H × W in LeRobot's [0, 1] range before normalization) and `observation.environment_state`
    /// ([S] or [n_obs_steps, S], raw, oldest first; one row is repeated as LeRobot's queue does at an episode's
    /// start) and optional `noise` ([H, A] or [K, H, A], normalized); otherwise `candidates` chunks start from
    /// N(0, I) drawn with `seed`. Returns `action.normalized` [K, H, A], `action` [K, H, A] and `action.selected`
    /// [n_action_steps, A] (the actions select_action queues from chunk 0).
    public static func selectAction(checkpoint: LeRobotCheckpoint, inputs: SafetensorsFile, candidates: Int = 1,
                                    seed: UInt64 = 0) throws -> [(String, Tensor)] {
        let c = checkpoint.config
        let h = c.horizon, a = c.actionFeature.size, nObs = c.nObsSteps
        var k = candidates
        var noise: Tensor?
        if inputs.contains("noise") {
            let n = try inputs.tensor("noise")
            guard n.count % (h * a) == 0, n.shape.suffix(2) == [h, a] else {
                throw ReflexError(.shapeMismatch, "noise has shape \(n.shape); the policy needs [\(h), \(a)] or [K, \(h), \(a)]",
                                  at: .init(file: inputs.path))
            }
            k = n.count / (h * a)
            noise = n
        }
        guard k >= 1 else { throw ReflexError(.invalidArgument, "candidates must be at least 1, got \(k)") }
        let policy = try LeRobotDiffusionPolicy(checkpoint: checkpoint, maxCandidates: k)
        // The raw history, n_obs_steps × [state, each camera's C × H × W image, environment state].
        let o = c.observationSize
        let history = Tensor(zeros: [nObs, o])
        var offset = 0
        let parts: [(String, LeRobotFeature)] = [c.inputFeatures.first { $0.feature.type == "STATE" }].compactMap { $0 }
            + c.imageFeatures + [c.inputFeatures.first { $0.feature.type == "ENV" }].compactMap { $0 }
        for (name, feature) in parts {
            let t = try inputs.required(name)
            let size = feature.size
            guard t.count == size || t.count == nObs * size else {
                let shape = feature.shape.map(String.init).joined(separator: ", ")
                throw ReflexError(.shapeMismatch, "\(name) has shape \(t.shape); the policy needs [\(shape)] or [\(nObs), \(shape)]",
                                  at: .init(file: inputs.path))
            }
            for step in 0 ..< nObs {
                let row = t.count == size ? 0 : step
                (history.data + step * o + offset).update(from: t.data + row * size, count: size)
            }
            offset += size
        }
        let condition = Tensor(zeros: [nObs, c.conditionStepSize])
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
        return [("action.normalized", normalized), ("action", raw), ("action.selected", selected)]
    }
}

/// Reflex's own policy directories (policy.yaml + model.safetensors) on the same footing: one chunk from one history.
public enum PolicyPrediction {
    /// Reads `observation` ([O] repeated over the history, or [n_obs_steps, O], raw, oldest first), starts an
    /// episode and predicts one chunk with a generator seeded by `seed`: returns `action` [H, A], raw. The same
    /// numbers the C ABI (`reflex_policy_reset` + `reflex_policy_predict`) and the Swift API give for that seed.
    public static func predict(policy: Policy, inputs: SafetensorsFile, seed: UInt64) throws -> [(String, Tensor)] {
        let c = policy.config
        let t = try inputs.required("observation")
        guard t.count == c.observationSize || t.count == c.conditionSize else {
            throw ReflexError(.shapeMismatch, "observation has shape \(t.shape); the policy needs [\(c.observationSize)] or [\(c.nObsSteps), \(c.observationSize)]",
                              at: .init(file: inputs.path))
        }
        let history = Tensor(zeros: [c.nObsSteps, c.observationSize])
        for step in 0 ..< c.nObsSteps {
            let row = t.count == c.observationSize ? 0 : step
            (history.data + step * c.observationSize).update(from: t.data + row * c.observationSize, count: c.observationSize)
        }
        for v in history.scalars where !v.isFinite {
            throw ReflexError(.invalidValue, "observation holds a non-finite value (\(v))", at: .init(file: inputs.path))
        }
        let chunk = Tensor(zeros: [c.horizon, c.actionSize])
        var gen = RandomGenerator(seed: seed)
        policy.reset()
        _ = policy.predictChunk(history: history.data, stepsExecuted: 0, output: chunk.data, generator: &gen)
        return [("action", chunk)]
    }
}

extension LeRobotPrediction {
    /// `inputs` with camera frames added from image files (`feature name`, path to a binary PPM/PGM): each becomes a
    /// float C × H × W tensor in [0, 1] under the camera's feature name, checked against the policy's image shape.
    public static func addingImages(_ images: [(name: String, path: String)], to inputs: SafetensorsFile,
                                    config: LeRobotDiffusionConfig) throws -> SafetensorsFile {
        try addingImages(images, to: inputs, cameras: config.imageFeatures)
    }

    /// The same for a policy whose cameras are `cameras` (feature name and C × H × W shape).
    public static func addingImages(_ images: [(name: String, path: String)], to inputs: SafetensorsFile,
                                    cameras: [(name: String, feature: LeRobotFeature)]) throws -> SafetensorsFile {
        guard !images.isEmpty else { return inputs }
        var tensors = try inputs.allTensors().map { (name: $0.key, tensor: $0.value) }
        for (name, path) in images {
            guard let feature = cameras.first(where: { $0.name == name })?.feature else {
                throw ReflexError(.invalidArgument, "the policy has no camera '\(name)' (it has: \(cameras.map(\.name).joined(separator: ", ")))")
            }
            let image = try PortablePixmap.read(path)
            guard image.shape == feature.shape else {
                throw ReflexError(.shapeMismatch, "image is \(image.shape) (C, H, W) but '\(name)' needs \(feature.shape)", at: .init(file: path))
            }
            tensors.removeAll { $0.name == name }
            tensors.append((name, image))
        }
        return try SafetensorsFile(bytes: try safetensorsBytes(tensors), name: inputs.path)
    }
}

extension SafetensorsFile {
    /// The tensor `name`, or an error naming it.
    func required(_ name: String) throws -> Tensor {
        guard contains(name) else {
            throw ReflexError(.safetensorsMissingTensor, "input tensor '\(name)' is missing (see reflex predict --help)", at: .init(file: path))
        }
        return try tensor(name)
    }
}

extension LeRobotPrediction {
    /// ACT's `select_action` over an episode of T observations: reads `observation.state`, each camera's image (its
    /// feature name, float32 C × H × W in [0, 1] before normalization) and `observation.environment_state`, each one
    /// step ([S]) or T steps ([T, S], oldest first). Returns `action.normalized` and `action` [chunk_size, A] (the
    /// chunk of the first observation) and `action.selected` [T, A]: what select_action returns at each step, with the
    /// action queue or temporal ensembling as config.json says.
    public static func selectAction(checkpoint: LeRobotACTCheckpoint, inputs: SafetensorsFile) throws -> [(String, Tensor)] {
        let c = checkpoint.config
        let policy = try LeRobotACTPolicy(checkpoint: checkpoint)
        var parts: [(String, LeRobotFeature)] = []
        if let s = c.stateFeature { parts.append((LeRobotDiffusionConfig.stateKey, s)) }
        parts += c.imageFeatures
        if let e = c.environmentStateFeature { parts.append((LeRobotDiffusionConfig.environmentStateKey, e)) }
        var steps = 1
        var tensors: [Tensor] = []
        for (name, feature) in parts {
            let t = try inputs.required(name)
            guard t.count % feature.size == 0, t.count == feature.size || t.shape.count == feature.shape.count + 1 else {
                let shape = feature.shape.map(String.init).joined(separator: ", ")
                throw ReflexError(.shapeMismatch, "\(name) has shape \(t.shape); the policy needs [\(shape)] or [T, \(shape)]",
                                  at: .init(file: inputs.path))
            }
            let n = t.count / feature.size
            guard n == 1 || steps == 1 || n == steps else {
                throw ReflexError(.shapeMismatch, "\(name) has \(n) steps but another input has \(steps)", at: .init(file: inputs.path))
            }
            steps = max(steps, n)
            tensors.append(t)
        }
        let o = c.observationSize, a = c.actionFeature.size
        let observation = Tensor(zeros: [o])
        let selected = Tensor(zeros: [steps, a])
        let normalized = Tensor(zeros: [c.chunkSize, a])
        policy.reset()
        for k in 0 ..< steps {
            var offset = 0
            for ((_, feature), t) in zip(parts, tensors) {
                let row = t.count == feature.size ? 0 : k
                (observation.data + offset).update(from: t.data + row * feature.size, count: feature.size)
                offset += feature.size
            }
            for v in observation.scalars where !v.isFinite {
                throw ReflexError(.invalidValue, "step \(k) holds a non-finite value (\(v))", at: .init(file: inputs.path))
            }
            policy.selectAction(observation: observation.data, action: selected.data + k * a)
            if k == 0 {
                policy.predictNormalizedChunk(observation: observation.data)
                normalized.data.update(from: policy.chunk.data, count: normalized.count)
            }
        }
        let raw = normalized.copy()
        checkpoint.actionNormalizer.unnormalize(raw.data, rows: c.chunkSize)
        return [("action.normalized", normalized), ("action", raw), ("action.selected", selected)]
    }
}
