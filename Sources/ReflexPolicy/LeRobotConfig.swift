import ReflexCore
import ReflexNN

extension ReflexError.Code {
    /// A LeRobot checkpoint uses something Reflex does not run (a backbone, an unknown option or mode).
    public static let unsupportedCheckpoint = Self("unsupportedCheckpoint")
}

/// One input or output feature of a LeRobot policy (`PolicyFeature`): its type and shape.
public struct LeRobotFeature: Sendable, Equatable {
    /// LeRobot's `FeatureType`: STATE, ENV, VISUAL, ACTION, …
    public var type: String
    public var shape: [Int]
    public var size: Int { shape.reduce(1, *) }

    /// The input rules Diffusion Policy and ACT share: images are (C, H, W) and all of one shape, states one
    /// positive dimension, no other types. Why cameras must share a shape differs (LeRobot's rule for Diffusion
    /// Policy, Reflex's one backbone workspace for ACT), so the caller says it in `mixedCameraShapes`.
    static func validateInputs(_ inputs: [(name: String, feature: LeRobotFeature)],
                               mixedCameraShapes: (_ name: String, _ shape: [Int]) -> ReflexError) throws {
        let firstImage = inputs.first { $0.feature.type == "VISUAL" }?.feature.shape
        for (name, f) in inputs {
            switch f.type {
            case "VISUAL":
                guard f.shape.count == 3, f.shape.allSatisfy({ $0 > 0 }) else {
                    throw bad("input_features.\(name).shape", "an image must be (channels, height, width), got \(f.shape)")
                }
                guard f.shape == firstImage else { throw mixedCameraShapes(name, f.shape) }
            case "STATE", "ENV":
                guard f.shape.count == 1, f.size > 0 else {
                    throw bad("input_features.\(name).shape", "must be one positive dimension, got \(f.shape)")
                }
            default:
                throw ReflexError(.unsupportedCheckpoint, "input feature '\(name)' has type \(f.type), which is not supported",
                                  at: .init(keyPath: "input_features.\(name)"))
            }
        }
    }
}

/// The part of a LeRobot `DiffusionConfig` (config.json, lerobot 0.4.x) that decides inference, validated as
/// `DiffusionConfig.__post_init__` and `validate_features` do, plus Reflex's own limits (`LeRobotVisionConfig`).
public struct LeRobotDiffusionConfig: Sendable, Equatable {
    public var nObsSteps: Int
    public var horizon: Int
    public var nActionSteps: Int
    /// Input features in file order; name → feature.
    public var inputFeatures: [(name: String, feature: LeRobotFeature)]
    public var actionFeature: LeRobotFeature
    /// FeatureType → NormalizationMode name (e.g. "STATE": "MIN_MAX").
    public var normalizationMapping: [String: String]
    public var unet: ConditionalUnet1DConfig
    /// "DDPM" or "DDIM".
    public var noiseSchedulerType: String
    public var scheduler: NoiseScheduler.Config
    /// Reverse steps at inference (nil: all num_train_timesteps).
    public var numInferenceSteps: Int?
    /// The image encoder, when the policy looks through cameras (`observation.image`, `observation.images.*`).
    public var vision: LeRobotVisionConfig?

    public static func == (a: Self, b: Self) -> Bool {
        a.nObsSteps == b.nObsSteps && a.horizon == b.horizon && a.nActionSteps == b.nActionSteps
            && a.inputFeatures.map(\.name) == b.inputFeatures.map(\.name)
            && a.inputFeatures.map(\.feature) == b.inputFeatures.map(\.feature) && a.actionFeature == b.actionFeature
            && a.normalizationMapping == b.normalizationMapping && a.unet == b.unet
            && a.noiseSchedulerType == b.noiseSchedulerType && a.scheduler == b.scheduler
            && a.numInferenceSteps == b.numInferenceSteps && a.vision == b.vision
    }

    public static let stateKey = "observation.state"
    public static let environmentStateKey = "observation.environment_state"
    public static let actionKey = "action"

    /// The robot state feature (required, as in LeRobot).
    public var stateFeature: LeRobotFeature? { inputFeatures.first { $0.feature.type == "STATE" }?.feature }
    /// The environment state feature, if any.
    public var environmentStateFeature: LeRobotFeature? { inputFeatures.first { $0.feature.type == "ENV" }?.feature }
    /// Camera features (type VISUAL, C × H × W) in config order, the order LeRobot stacks them in.
    public var imageFeatures: [(name: String, feature: LeRobotFeature)] { inputFeatures.filter { $0.feature.type == "VISUAL" } }
    /// Raw values per observation step, as `LeRobotDiffusionPolicy` takes them: [state, each camera's image
    /// (C × H × W, channel-major, as LeRobot's pipeline has it), environment state].
    public var observationSize: Int {
        (stateFeature?.size ?? 0) + imageFeatures.reduce(0) { $0 + $1.feature.size } + (environmentStateFeature?.size ?? 0)
    }
    /// Values per observation step in the U-Net's global condition: [state, image features per camera, environment
    /// state] (LeRobot's `_prepare_global_conditioning`).
    public var conditionStepSize: Int {
        (stateFeature?.size ?? 0) + imageFeatures.count * (vision?.featureSize ?? 0) + (environmentStateFeature?.size ?? 0)
    }

    /// Keys config.json may hold. Those not read here are training or image options that do not change
    /// state-based inference; anything else is an unknown option and is rejected.
    static let knownKeys: Set<String> = [
        "type", "n_obs_steps", "horizon", "n_action_steps", "input_features", "output_features", "normalization_mapping",
        "down_dims", "kernel_size", "n_groups", "diffusion_step_embed_dim", "use_film_scale_modulation",
        "noise_scheduler_type", "num_train_timesteps", "beta_schedule", "beta_start", "beta_end", "prediction_type",
        "clip_sample", "clip_sample_range", "num_inference_steps",
        // the image encoder (LeRobotVisionConfig)
        "vision_backbone", "resize_shape", "crop_ratio", "crop_shape", "crop_is_random", "pretrained_backbone_weights",
        "use_group_norm", "spatial_softmax_num_keypoints", "use_separate_rgb_encoder_per_camera",
        // not used by inference
        "device", "use_amp", "use_peft", "push_to_hub", "repo_id", "private", "tags", "license", "pretrained_path",
        "drop_n_last_frames", "compile_model", "compile_mode", "do_mask_loss_for_padding",
        "gradient_checkpointing", "optimizer_lr", "optimizer_betas", "optimizer_eps", "optimizer_weight_decay",
        "scheduler_name", "scheduler_warmup_steps",
    ]

    /// Parses and validates config.json at `path`.
    public init(path: String) throws {
        let bytes = try readFile(path)
        let json: JSONValue
        do {
            json = try bytes.withUnsafeBufferPointer { try JSONParser.parse($0) }
        } catch let e as ReflexError {
            throw e.inFile(path)
        }
        do {
            try self.init(json: json)
        } catch let e as ReflexError {
            throw e.inFile(path)
        }
    }

    public init(json: JSONValue) throws {
        guard let members = json.objectValue else { throw bad("", "config.json is not a JSON object") }
        for (key, _) in members where !LeRobotDiffusionConfig.knownKeys.contains(key) {
            if key == "input_shapes" || key == "input_normalization_modes" {
                throw ReflexError(.unsupportedCheckpoint,
                                  "this config.json predates lerobot's input_features format (it has '\(key)'); re-save it with lerobot >= 0.2",
                                  at: .init(keyPath: key))
            }
            throw ReflexError(.unsupportedCheckpoint, "unknown DiffusionConfig option '\(key)'", at: .init(keyPath: key))
        }
        let type = try string(json, "type")
        guard type == "diffusion" else {
            throw ReflexError(.unsupportedCheckpoint, "policy type '\(type)' is not supported (only 'diffusion')",
                              at: .init(keyPath: "type"))
        }
        nObsSteps = try int(json, "n_obs_steps", default: 2)
        horizon = try int(json, "horizon", default: 16)
        nActionSteps = try int(json, "n_action_steps", default: 8)
        inputFeatures = try features(json, "input_features")
        let outputs = try features(json, "output_features")
        guard let action = outputs.first(where: { $0.feature.type == "ACTION" }) else {
            throw bad("output_features", "needs an ACTION feature")
        }
        guard action.feature.shape.count == 1 else {
            throw bad("output_features.\(action.name).shape", "must be one-dimensional, got \(action.feature.shape)")
        }
        actionFeature = action.feature
        var mapping: [String: String] = ["VISUAL": "MEAN_STD", "STATE": "MIN_MAX", "ACTION": "MIN_MAX"]
        if let m = json["normalization_mapping"] {
            guard let o = m.objectValue else { throw bad("normalization_mapping", "must be an object") }
            mapping = [:]
            for (k, v) in o {
                guard let s = v.stringValue else { throw bad("normalization_mapping.\(k)", "must be a string") }
                mapping[k] = s
            }
        }
        normalizationMapping = mapping

        // Inputs: state (required), environment state, cameras.
        try LeRobotFeature.validateInputs(inputFeatures) { name, shape in
            bad("input_features.\(name).shape", "all cameras must have one shape (LeRobot's validate_features), got \(shape)")
        }
        guard inputFeatures.filter({ $0.feature.type == "STATE" }).count == 1 else {
            throw bad("input_features", "Diffusion Policy needs exactly one robot state feature (type STATE)")
        }
        guard inputFeatures.filter({ $0.feature.type == "ENV" }).count <= 1 else {
            throw bad("input_features", "at most one environment state feature (type ENV)")
        }
        let cameras = inputFeatures.filter { $0.feature.type == "VISUAL" }
        guard inputFeatures.contains(where: { $0.feature.type == "ENV" }) || !cameras.isEmpty else {
            throw bad("input_features", "Diffusion Policy needs an image or an environment state among the inputs (LeRobot's validate_features); this one has neither")
        }

        if let first = cameras.first {
            vision = try LeRobotVisionConfig(json: json, imageShape: first.feature.shape)
        } else {
            vision = nil
        }
        let downDims = try ints(json, "down_dims", default: [512, 1024, 2048])
        let stepSize = inputFeatures.filter { $0.feature.type != "VISUAL" }.reduce(0) { $0 + $1.feature.size }
            + cameras.count * (vision?.featureSize ?? 0)
        unet = ConditionalUnet1DConfig(
            actionSize: action.feature.size, globalConditionSize: stepSize * nObsSteps, downDims: downDims,
            kernelSize: try int(json, "kernel_size", default: 5), nGroups: try int(json, "n_groups", default: 8),
            diffusionStepEmbedDim: try int(json, "diffusion_step_embed_dim", default: 128),
            useFilmScaleModulation: try bool(json, "use_film_scale_modulation", default: true))
        try unet.validate(horizon: horizon)

        noiseSchedulerType = try string(json, "noise_scheduler_type", default: "DDPM")
        guard ["DDPM", "DDIM"].contains(noiseSchedulerType) else {
            throw bad("noise_scheduler_type", "must be DDPM or DDIM, got '\(noiseSchedulerType)'")
        }
        let betaName = try string(json, "beta_schedule", default: "squaredcos_cap_v2")
        guard let beta = BetaSchedule(rawValue: betaName) else {
            throw ReflexError(.unsupportedCheckpoint, "beta_schedule '\(betaName)' is not supported (squaredcos_cap_v2, linear)",
                              at: .init(keyPath: "beta_schedule"))
        }
        let predictionName = try string(json, "prediction_type", default: "epsilon")
        guard let prediction = PredictionType(rawValue: predictionName) else {
            throw bad("prediction_type", "must be epsilon or sample, got '\(predictionName)'")
        }
        scheduler = NoiseScheduler.Config(
            trainTimesteps: try int(json, "num_train_timesteps", default: 100), betaSchedule: beta,
            betaStart: Float(try number(json, "beta_start", default: 1e-4)),
            betaEnd: Float(try number(json, "beta_end", default: 0.02)),
            clipSample: try bool(json, "clip_sample", default: true),
            clipSampleRange: Float(try number(json, "clip_sample_range", default: 1)), predictionType: prediction)
        try scheduler.validate()
        if let v = json["num_inference_steps"], v != .null {
            let n = try int(json, "num_inference_steps", default: 0)
            guard n >= 1, n <= scheduler.trainTimesteps else {
                throw bad("num_inference_steps", "must be in 1...num_train_timesteps (\(scheduler.trainTimesteps)), got \(n)")
            }
            numInferenceSteps = n
        } else {
            numInferenceSteps = nil
        }
        guard nObsSteps >= 1 else { throw bad("n_obs_steps", "must be at least 1, got \(nObsSteps)") }
        guard nActionSteps >= 1, nActionSteps <= horizon - nObsSteps + 1 else {
            throw bad("n_action_steps", "must be in 1...horizon − n_obs_steps + 1 = \(horizon - nObsSteps + 1), got \(nActionSteps)")
        }
    }

    /// The sampler LeRobot runs: DDPM or DDIM (η = 0) over `num_inference_steps` leading-spaced timesteps.
    public var sampler: SamplerSpec {
        noiseSchedulerType == "DDIM"
            ? .ddim(steps: numInferenceSteps ?? scheduler.trainTimesteps, eta: 0)
            : .ddpm(steps: numInferenceSteps)
    }
}

/// The image encoder options of a `DiffusionConfig` (LeRobot's `DiffusionRgbEncoder`), validated; an option
/// Reflex does not run is refused by name before any weight is read.
public struct LeRobotVisionConfig: Sendable, Equatable {
    public var backbone: ResNet.Depth
    /// GroupNorm (C/16 groups) in place of every BatchNorm2d; false keeps BatchNorm, folded at load.
    public var useGroupNorm: Bool
    public var keypoints: Int
    /// (height, width) of the center crop at inference, nil for none.
    public var cropShape: ImageSize?
    public var separateEncoderPerCamera: Bool
    /// The images' (channels, height, width).
    public var channels: Int
    public var imageSize: ImageSize
    /// Values per camera per step in the global condition (keypoints × 2).
    public var featureSize: Int { keypoints * 2 }

    init(json: JSONValue, imageShape: [Int]) throws {
        let name = try string(json, "vision_backbone", default: "resnet18")
        guard let depth = ResNet.Depth(rawValue: name) else {
            throw ReflexError(.unsupportedCheckpoint,
                              "vision_backbone '\(name)' is not supported (\(ResNet.Depth.allCases.map(\.rawValue).joined(separator: ", ")))",
                              at: .init(keyPath: "vision_backbone"))
        }
        backbone = depth
        if let v = value(json, "resize_shape") {
            throw ReflexError(.unsupportedCheckpoint, "resize_shape \(v) is not supported (images must arrive at the dataset's size)",
                              at: .init(keyPath: "resize_shape"))
        }
        useGroupNorm = try bool(json, "use_group_norm", default: true)
        keypoints = try int(json, "spatial_softmax_num_keypoints", default: 32)
        guard keypoints >= 1 else { throw bad("spatial_softmax_num_keypoints", "must be at least 1, got \(keypoints)") }
        separateEncoderPerCamera = try bool(json, "use_separate_rgb_encoder_per_camera", default: false)
        channels = imageShape[0]
        imageSize = ImageSize(height: imageShape[1], width: imageShape[2])
        if value(json, "crop_shape") != nil {
            let crop = try ints(json, "crop_shape", default: [])
            guard crop.count == 2, crop[0] >= 1, crop[1] >= 1, crop[0] <= imageShape[1], crop[1] <= imageShape[2] else {
                throw bad("crop_shape", "must be [height, width] within the images' \(imageShape[1])×\(imageShape[2]), got \(crop)")
            }
            cropShape = ImageSize(height: crop[0], width: crop[1])
        } else {
            cropShape = nil
        }
    }
}

func bad(_ key: String, _ message: String) -> ReflexError {
    ReflexError(.invalidValue, message, at: .init(keyPath: key))
}

func value(_ json: JSONValue, _ key: String) -> JSONValue? {
    guard let v = json[key], v != .null else { return nil }
    return v
}

func string(_ json: JSONValue, _ key: String, default d: String? = nil) throws -> String {
    guard let v = value(json, key) else {
        if let d { return d }
        throw ReflexError(.yamlMissingKey, "missing required key", at: .init(keyPath: key))
    }
    guard let s = v.stringValue else { throw bad(key, "must be a string") }
    return s
}

func number(_ json: JSONValue, _ key: String, default d: Double) throws -> Double {
    guard let v = value(json, key) else { return d }
    guard let x = v.numberValue else { throw bad(key, "must be a number") }
    return x
}

func int(_ json: JSONValue, _ key: String, default d: Int) throws -> Int {
    guard let v = value(json, key) else { return d }
    guard let x = v.numberValue, x == x.rounded(), abs(x) < 1e9 else { throw bad(key, "must be an integer") }
    return Int(x)
}

func bool(_ json: JSONValue, _ key: String, default d: Bool) throws -> Bool {
    guard let v = value(json, key) else { return d }
    guard case let .bool(b) = v else { throw bad(key, "must be true or false") }
    return b
}

func ints(_ json: JSONValue, _ key: String, default d: [Int]) throws -> [Int] {
    guard let v = value(json, key) else { return d }
    guard let a = v.arrayValue else { throw bad(key, "must be a list of integers") }
    return try a.map {
        guard let x = $0.numberValue, x == x.rounded(), abs(x) < 1e9 else { throw bad(key, "must be a list of integers") }
        return Int(x)
    }
}

func features(_ json: JSONValue, _ key: String) throws -> [(name: String, feature: LeRobotFeature)] {
    guard let o = value(json, key)?.objectValue else { throw bad(key, "must be an object of features") }
    return try o.map { name, f in
        guard let type = f["type"]?.stringValue else { throw bad("\(key).\(name).type", "must be a string") }
        let shape = try ints(f, "shape", default: [])
        guard !shape.isEmpty else { throw bad("\(key).\(name).shape", "must be a non-empty list of integers") }
        return (name, LeRobotFeature(type: type, shape: shape))
    }
}
