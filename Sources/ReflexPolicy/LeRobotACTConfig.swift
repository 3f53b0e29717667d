import ReflexCore
import ReflexNN

/// The part of a LeRobot `ACTConfig` (config.json with `"type": "act"`, lerobot 0.4.x) that decides inference,
/// validated as `ACTConfig.__post_init__` and `validate_features` do, plus Reflex's own limits: an option Reflex does
/// not run is refused by name before any weight is read.
public struct LeRobotACTConfig: Sendable, Equatable {
    public var chunkSize: Int
    public var nActionSteps: Int
    /// ACT's temporal ensembling coefficient m (weights exp(−m·i), oldest first), nil for the action queue.
    public var temporalEnsembleCoeff: Float?
    public var inputFeatureNames: [String]
    public var stateFeature: LeRobotFeature?
    public var environmentStateFeature: LeRobotFeature?
    /// Cameras (type VISUAL, C × H × W, one shape) in config order, the order LeRobot stacks their tokens in.
    public var imageFeatures: [(name: String, feature: LeRobotFeature)]
    public var actionFeature: LeRobotFeature
    public var network: ACTNetworkConfig

    public static func == (a: Self, b: Self) -> Bool {
        a.chunkSize == b.chunkSize && a.nActionSteps == b.nActionSteps && a.temporalEnsembleCoeff == b.temporalEnsembleCoeff
            && a.inputFeatureNames == b.inputFeatureNames && a.stateFeature == b.stateFeature
            && a.environmentStateFeature == b.environmentStateFeature && a.imageFeatures.map(\.name) == b.imageFeatures.map(\.name)
            && a.imageFeatures.map(\.feature) == b.imageFeatures.map(\.feature) && a.actionFeature == b.actionFeature
            && a.network == b.network
    }

    /// Raw values per observation, as `LeRobotACTPolicy` takes them: [state, each camera's image (C × H × W,
    /// channel-major), environment state].
    public var observationSize: Int {
        (stateFeature?.size ?? 0) + imageFeatures.reduce(0) { $0 + $1.feature.size } + (environmentStateFeature?.size ?? 0)
    }

    static let knownKeys: Set<String> = [
        "type", "n_obs_steps", "chunk_size", "n_action_steps", "input_features", "output_features", "normalization_mapping",
        "vision_backbone", "pretrained_backbone_weights", "replace_final_stride_with_dilation", "pre_norm", "dim_model",
        "n_heads", "dim_feedforward", "feedforward_activation", "n_encoder_layers", "n_decoder_layers", "use_vae",
        "latent_dim", "n_vae_encoder_layers", "temporal_ensemble_coeff",
        // not used by inference
        "dropout", "kl_weight", "optimizer_lr", "optimizer_weight_decay", "optimizer_lr_backbone",
        "device", "use_amp", "use_peft", "push_to_hub", "repo_id", "private", "tags", "license", "pretrained_path",
    ]

    /// Parses and validates config.json at `path`.
    public init(path: String) throws {
        let bytes = try readFile(path)
        do {
            let json = try bytes.withUnsafeBufferPointer { try JSONParser.parse($0) }
            try self.init(json: json)
        } catch let e as ReflexError {
            throw e.inFile(path)
        }
    }

    public init(json: JSONValue) throws {
        guard let members = json.objectValue else { throw bad("", "config.json is not a JSON object") }
        let type = try string(json, "type")
        guard type == "act" else {
            throw ReflexError(.unsupportedCheckpoint, "policy type '\(type)' is not ACT", at: .init(keyPath: "type"))
        }
        for (key, _) in members where !LeRobotACTConfig.knownKeys.contains(key) {
            throw ReflexError(.unsupportedCheckpoint, "unknown ACTConfig option '\(key)'", at: .init(keyPath: key))
        }
        let nObs = try int(json, "n_obs_steps", default: 1)
        guard nObs == 1 else { throw bad("n_obs_steps", "ACT takes one observation step (LeRobot's own check), got \(nObs)") }
        chunkSize = try int(json, "chunk_size", default: 100)
        nActionSteps = try int(json, "n_action_steps", default: 100)
        guard chunkSize >= 1 else { throw bad("chunk_size", "must be at least 1, got \(chunkSize)") }
        guard nActionSteps >= 1, nActionSteps <= chunkSize else {
            throw bad("n_action_steps", "must be in 1...chunk_size (\(chunkSize)), got \(nActionSteps)")
        }
        if let v = value(json, "temporal_ensemble_coeff") {
            guard let m = v.numberValue, m.isFinite else { throw bad("temporal_ensemble_coeff", "must be a number or null") }
            guard nActionSteps == 1 else {
                throw bad("n_action_steps", "must be 1 with temporal_ensemble_coeff (a chunk every step), got \(nActionSteps)")
            }
            temporalEnsembleCoeff = Float(m)
        } else {
            temporalEnsembleCoeff = nil
        }

        let inputs = try features(json, "input_features")
        inputFeatureNames = inputs.map(\.name)
        let outputs = try features(json, "output_features")
        guard let action = outputs.first(where: { $0.feature.type == "ACTION" }), action.feature.shape.count == 1 else {
            throw bad("output_features", "needs a one-dimensional ACTION feature")
        }
        actionFeature = action.feature
        try LeRobotFeature.validateInputs(inputs) { name, shape in
            ReflexError(.unsupportedCheckpoint, "cameras of different shapes are not supported (one backbone workspace), got \(shape)",
                        at: .init(keyPath: "input_features.\(name).shape"))
        }
        guard inputs.filter({ $0.feature.type == "STATE" }).count <= 1, inputs.filter({ $0.feature.type == "ENV" }).count <= 1 else {
            throw bad("input_features", "at most one robot state (STATE) and one environment state (ENV) feature")
        }
        stateFeature = inputs.first { $0.feature.type == "STATE" }?.feature
        environmentStateFeature = inputs.first { $0.feature.type == "ENV" }?.feature
        imageFeatures = inputs.filter { $0.feature.type == "VISUAL" }
        guard !imageFeatures.isEmpty || environmentStateFeature != nil else {
            throw bad("input_features", "ACT needs an image or an environment state among the inputs (LeRobot's validate_features); this one has neither")
        }

        let backboneName = try string(json, "vision_backbone", default: "resnet18")
        guard let depth = ResNet.Depth(rawValue: backboneName) else {
            throw ReflexError(.unsupportedCheckpoint,
                              "vision_backbone '\(backboneName)' is not supported (\(ResNet.Depth.allCases.map(\.rawValue).joined(separator: ", ")))",
                              at: .init(keyPath: "vision_backbone"))
        }
        if try bool(json, "replace_final_stride_with_dilation", default: false), !imageFeatures.isEmpty {
            throw ReflexError(.unsupportedCheckpoint,
                              "replace_final_stride_with_dilation is not supported (a dilated layer4; torchvision refuses it for resnet18/34 anyway)",
                              at: .init(keyPath: "replace_final_stride_with_dilation"))
        }
        let activationName = try string(json, "feedforward_activation", default: "relu")
        let activation: Activation
        switch activationName {
        case "relu": activation = .relu
        case "gelu": activation = .gelu
        case "glu":
            throw ReflexError(.unsupportedCheckpoint,
                              "feedforward_activation 'glu' is not supported (it halves the width linear2 expects; LeRobot's own ACT fails with it)",
                              at: .init(keyPath: "feedforward_activation"))
        default:
            throw bad("feedforward_activation", "must be relu, gelu or glu, got '\(activationName)'")
        }
        let transformer = ACTTransformerConfig(
            dimModel: try int(json, "dim_model", default: 512), heads: try int(json, "n_heads", default: 8),
            dimFeedforward: try int(json, "dim_feedforward", default: 3200), activation: activation,
            preNorm: try bool(json, "pre_norm", default: false), encoderLayers: try int(json, "n_encoder_layers", default: 4),
            decoderLayers: try int(json, "n_decoder_layers", default: 1))
        guard transformer.dimModel >= 1, transformer.heads >= 1, transformer.dimModel % transformer.heads == 0 else {
            throw bad("n_heads", "dim_model (\(transformer.dimModel)) must be a positive multiple of n_heads (\(transformer.heads))")
        }
        guard transformer.dimModel % 2 == 0 else { throw bad("dim_model", "must be even (the 2-D position embedding), got \(transformer.dimModel)") }
        guard transformer.dimFeedforward >= 1 else { throw bad("dim_feedforward", "must be positive") }
        guard transformer.encoderLayers >= 1 else { throw bad("n_encoder_layers", "must be at least 1") }
        guard transformer.decoderLayers >= 1 else { throw bad("n_decoder_layers", "must be at least 1") }
        let latentDim = try int(json, "latent_dim", default: 32)
        guard latentDim >= 1 else { throw bad("latent_dim", "must be at least 1") }
        _ = try bool(json, "use_vae", default: true)
        let image = imageFeatures.first?.feature.shape ?? [3, 0, 0]
        network = ACTNetworkConfig(
            transformer: transformer, chunkSize: chunkSize, latentDim: latentDim, actionSize: action.feature.size,
            stateSize: stateFeature?.size, environmentStateSize: environmentStateFeature?.size, cameras: imageFeatures.count,
            channels: image[0], imageSize: ImageSize(height: image[1], width: image[2]), backbone: depth)
    }
}
