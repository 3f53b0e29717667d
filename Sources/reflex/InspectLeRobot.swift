import ArgumentParser
import Foundation
import ReflexCore
import ReflexNN
import ReflexPolicy

/// A directory holding a LeRobot `config.json`.
func isLeRobotDirectory(_ path: String) -> Bool {
    var isDir: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
        && FileManager.default.fileExists(atPath: path + "/" + LeRobotCheckpoint.configFile)
}

/// `reflex inspect DIR` for a LeRobot diffusion checkpoint: architecture, parameters, horizons, scheduler and
/// normalization, after the same checks `reflex predict` runs.
func inspectLeRobot(_ path: String) throws {
    let ck: LeRobotCheckpoint
    do {
        if try LeRobotPolicyType(directory: path) == .act { return try inspectLeRobotACT(path) }
        ck = try LeRobotCheckpoint(directory: path)
    } catch let e as ReflexError {
        throw ValidationError(e.description)
    }
    let c = ck.config, u = c.unet
    print("LeRobot diffusion policy (\(ck.layout.rawValue))")
    print("  U-Net        DiffusionConditionalUnet1d, down_dims \(u.downDims), kernel_size \(u.kernelSize), n_groups \(u.nGroups), step embedding \(u.diffusionStepEmbedDim), FiLM \(u.useFilmScaleModulation ? "scale + bias" : "bias only")")
    print("  parameters   \(ck.unet.parameterCount + ck.encoders.reduce(0) { $0 + $1.parameterCount }) (\(ck.weightBytes >= 1_000_000 ? "\(ck.weightBytes / 1_000_000) MB" : "\(ck.weightBytes / 1000) KB") as stored, \(ck.weightDTypes.sorted().joined(separator: ", ")))")
    if let v = c.vision, let encoder = ck.encoders.first {
        let crop = v.cropShape.map { "center crop \($0) at inference" } ?? "no crop"
        let shared = v.separateEncoderPerCamera ? "one encoder per camera" : "one encoder shared by the cameras"
        print("  cameras      " + c.imageFeatures.map { "\($0.name) \($0.feature.shape)" }.joined(separator: ", ") + " (\(shared))")
        print("  encoder      \(v.backbone.rawValue) trunk with \(v.useGroupNorm ? "GroupNorm" : "BatchNorm (folded into the convolutions)"), \(crop), feature map \(encoder.pool.size), spatial softmax \(v.keypoints) keypoints → \(v.featureSize) features per camera; \(encoder.multiplyAdds / 1_000_000) M multiply-adds per image")
        for (camera, n) in zip(c.imageFeatures, ck.imageNormalizers) { print("  normalize    \(camera.name): \(describe(n)) (per channel)") }
    }
    print("  inputs       " + c.inputFeatures.map { "\($0.name) \($0.feature.type) \($0.feature.shape)" }.joined(separator: ", "))
    print("  action       \(c.actionFeature.shape)")
    print("  horizons     n_obs_steps \(c.nObsSteps), horizon \(c.horizon), n_action_steps \(c.nActionSteps); global condition \(u.globalConditionSize) values")
    let s = c.scheduler
    print("  scheduler    \(c.noiseSchedulerType), \(s.trainTimesteps) train steps, \(c.numInferenceSteps.map(String.init) ?? "all") inference steps (\(c.sampler)), \(s.betaSchedule.rawValue), prediction \(s.predictionType.rawValue), clip_sample \(s.clipSample) (±\(s.clipSampleRange))")
    print("  normalize    observation.state: \(describe(ck.stateNormalizer))")
    if let e = ck.environmentStateNormalizer { print("               observation.environment_state: \(describe(e))") }
    print("               action: \(describe(ck.actionNormalizer))")
}

/// A normalizer as `reflex inspect` prints it.
func describe(_ n: Normalizer) -> String {
    switch n.mode {
    case .identity: return "IDENTITY"
    case .minMax: return "MIN_MAX min \(n.min) max \(n.max)" + (n.legacyMinMax ? " (legacy: ε added to every range)" : "")
    case .meanStd: return "MEAN_STD mean \(n.mean) std \(n.std)"
    }
}

/// `reflex inspect DIR` for a LeRobot ACT checkpoint: cameras, backbone, transformer, sizes and normalization, after
/// the same checks `reflex predict` runs.
func inspectLeRobotACT(_ path: String) throws {
    let ck: LeRobotACTCheckpoint
    do {
        ck = try LeRobotACTCheckpoint(directory: path)
    } catch let e as ReflexError {
        throw ValidationError(e.description)
    }
    let c = ck.config, n = ck.network, t = c.network.transformer
    let bytes = ck.weightBytes >= 1_000_000 ? "\(ck.weightBytes / 1_000_000) MB" : "\(ck.weightBytes / 1000) KB"
    print("LeRobot ACT policy")
    print("  transformer  dim_model \(t.dimModel), \(t.heads) heads, dim_feedforward \(t.dimFeedforward) (\(t.activation.rawValue)), \(t.encoderLayers) encoder / \(t.decoderLayers) decoder layers, \(t.preNorm ? "pre-norm" : "post-norm"); latent_dim \(c.network.latentDim) (zero at inference; the VAE encoder is not run)")
    print("  parameters   \(n.parameterCount) run (\(bytes) read as stored, \(ck.weightDTypes.sorted().joined(separator: ", ")))")
    if !c.imageFeatures.isEmpty {
        print("  cameras      " + c.imageFeatures.map { "\($0.name) \($0.feature.shape)" }.joined(separator: ", ") + " (one shared backbone)")
        print("  backbone     \(c.network.backbone.rawValue) with FrozenBatchNorm2d (folded into the convolutions), layer4 feature map \(n.featureMapSize) → \(n.featureMapSize.pixels) tokens per camera")
        for (camera, norm) in zip(c.imageFeatures, ck.imageNormalizers) { print("  normalize    \(camera.name): \(describe(norm)) (per channel)") }
    }
    print("  inputs       " + c.inputFeatureNames.joined(separator: ", ") + "; \(n.tokens) encoder tokens")
    print("  action       \(c.actionFeature.shape), chunk_size \(c.chunkSize), " + (c.temporalEnsembleCoeff.map { "temporal ensembling (coefficient \($0))" } ?? "n_action_steps \(c.nActionSteps) (action queue)"))
    print("  work         \(n.multiplyAdds / 1_000_000) M multiply-adds per chunk")
    if let s = ck.stateNormalizer { print("  normalize    observation.state: \(describe(s))") }
    if let e = ck.environmentStateNormalizer { print("               observation.environment_state: \(describe(e))") }
    print("               action: \(describe(ck.actionNormalizer))")
}
