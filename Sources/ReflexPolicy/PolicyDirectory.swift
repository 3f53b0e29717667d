#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore
import ReflexNN

extension ReflexError.Code {
    /// A policy directory is missing a file or holds one that does not fit the others.
    public static let invalidPolicy = Self("invalidPolicy")
}

/// A Reflex policy on disk: a directory with `policy.yaml` (architecture, normalization, horizons, sampler) and
/// `model.safetensors` (the network, tensors named `network.layers.i.weight`, …).
public enum PolicyDirectory {
    public static let configFile = "policy.yaml"
    public static let weightsFile = "model.safetensors"
    static let weightPrefix = "network."

    static let encoderPrefix = "encoders."

    /// Writes `config` and `network` (and a camera policy's `encoders`, one per `config.cameras` in order, under
    /// `encoders.<camera>.` in PyTorch's names) into `directory` (created if needed); each file is written atomically.
    public static func save(config: PolicyConfig, network: MLP, encoders: [ConvEncoder] = [], to directory: String) throws {
        try config.validate()
        let cameras = config.cameras ?? []
        guard encoders.count == cameras.count, zip(encoders, cameras).allSatisfy({ $0.config == $1.encoder }) else {
            throw ReflexError(.shapeMismatch, "\(encoders.count) encoders for cameras \(cameras.map(\.name)) of other shapes")
        }
        try makeDirectory(directory)
        let yaml = "# Reflex policy (see docs/policies.md). Weights: model.safetensors.\n" + (try YAMLEncoder().encode(config))
        try writeFileAtomically(Array(yaml.utf8), to: directory + "/" + configFile)
        var tensors = network.namedParameters(prefix: weightPrefix)
        for (camera, encoder) in zip(cameras, encoders) {
            tensors += encoder.namedParameters(prefix: encoderPrefix + camera.name + ".")
        }
        try writeSafetensors(tensors, to: directory + "/" + weightsFile,
                             metadata: ["format": "reflex", "kind": config.kind.rawValue])
    }

    /// Whether `directory` holds a Reflex policy (`policy.yaml`), as opposed to a LeRobot checkpoint (`config.json`).
    public static func isPolicyDirectory(_ directory: String) -> Bool {
        access(directory + "/" + configFile, F_OK) == 0
    }

    /// Reads and validates `policy.yaml`.
    public static func readConfig(_ directory: String) throws -> PolicyConfig {
        let path = directory + "/" + configFile
        guard isDirectory(directory) else {
            throw ReflexError(.fileNotFound, "policy directory does not exist", at: .init(file: directory))
        }
        if access(path, F_OK) != 0, access(directory + "/" + LeRobotCheckpoint.configFile, F_OK) == 0 {
            // A LeRobot checkpoint: say what runs it instead of "policy.yaml not found".
            let lerobot = directory + "/" + LeRobotCheckpoint.configFile
            let act = (try? LeRobotPolicyType(directory: directory)) == .act
            let cameras = act ? ((try? LeRobotACTConfig(path: lerobot))?.imageFeatures.map(\.name) ?? [])
                : ((try? LeRobotDiffusionConfig(path: lerobot))?.imageFeatures.map(\.name) ?? [])
            let why = cameras.isEmpty ? ""
                : "; it is a camera policy (\(cameras.joined(separator: ", "))) and needs camera frames, which the simulator does not render yet"
            throw ReflexError(.invalidPolicy,
                              "this is a LeRobot checkpoint (config.json, no policy.yaml): run it with `reflex predict` or \(act ? "LeRobotACTPolicy" : "LeRobotDiffusionPolicy")\(why)",
                              at: .init(file: directory))
        }
        let config = try YAMLDecoder().decode(PolicyConfig.self, fromFile: path)
        do {
            try config.validate()
        } catch let e as ReflexError {
            throw e.inFile(path)
        }
        return config
    }

    /// The network a policy config describes.
    public static func networkConfig(for config: PolicyConfig) -> MLPConfig {
        switch config.kind {
        case .diffusion: return config.network.mlp(horizon: config.horizon, actionSize: config.actionSize,
                                                   conditionSize: config.denoiserConditionSize)
        case .bc: return BCPolicy.networkConfig(for: config)
        }
    }

    /// Reads the network weights, checking every tensor's presence and shape.
    public static func readNetwork(_ directory: String, config: PolicyConfig) throws -> MLP {
        let file = try SafetensorsFile(path: directory + "/" + weightsFile)
        let mlpConfig = networkConfig(for: config)
        let network = MLP(config: mlpConfig, parameters: Tensor(zeros: [MLP.layout(for: mlpConfig).count]))
        try network.layout.load(into: network.parameters, from: file, prefix: weightPrefix)
        return network
    }

    /// Loads a policy ready to run. `maxCandidates` sizes the batch of a diffusion policy (V-GPS's K).
    public static func load(_ directory: String, maxCandidates: Int = 1) throws -> Policy {
        let config = try readConfig(directory)
        if let cameras = config.cameras {
            // Without frames its features would be stale zeros: say what runs it rather than run it blind.
            throw ReflexError(.invalidPolicy,
                              "a camera policy (\(cameras.map(\.name).joined(separator: ", "))): it needs frames each step; load it with PolicyDirectory.loadCameraPolicy (reflex predict --image, reflex serve's /v1/predict, reflex_policy_set_image)",
                              at: .init(file: directory))
        }
        let network = try readNetwork(directory, config: config)
        switch config.kind {
        case .bc:
            return try BCPolicy(config: config, network: network)
        case .diffusion:
            let denoiser = MLPDenoiser(config: config.network, network: network, horizon: config.horizon,
                                       actionSize: config.actionSize, conditionSize: config.conditionSize,
                                       trainTimesteps: config.scheduler?.trainTimesteps ?? 100, maxBatch: maxCandidates)
            return try DiffusionPolicy(config: config, denoiser: denoiser)
        }
    }
}


extension PolicyDirectory {
    /// Reads a camera policy's encoders (`encoders.<camera>.` in model.safetensors), each tensor checked.
    public static func readEncoders(_ directory: String, config: PolicyConfig) throws -> [ConvEncoder] {
        let file = try SafetensorsFile(path: directory + "/" + weightsFile)
        return try (config.cameras ?? []).map { c in
            try ConvEncoder.load(config: c.encoder, from: file, prefix: encoderPrefix + c.name + ".")
        }
    }

    /// Loads a camera policy (policy.yaml with `cameras:`) ready to run on state and frames, sampling up to
    /// `maxCandidates` chunks per call (V-GPS's K, DSRL-NA's minibatch).
    public static func loadCameraPolicy(_ directory: String, maxCandidates: Int = 1) throws -> CameraDiffusionPolicy {
        let config = try readConfig(directory)
        guard config.cameras != nil else {
            throw ReflexError(.invalidPolicy, "not a camera policy (policy.yaml has no cameras); load it with PolicyDirectory.load",
                              at: .init(file: directory))
        }
        let network = try readNetwork(directory, config: config)
        let encoders = try readEncoders(directory, config: config)
        return try CameraDiffusionPolicy(config: config, network: network, encoders: encoders, maxCandidates: maxCandidates)
    }
}
