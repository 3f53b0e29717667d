#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore
import ReflexNN

/// A LeRobot `DiffusionPolicy` checkpoint directory as `save_pretrained` writes it, read into Reflex's pieces:
/// the validated config, the U-Net, and one `Normalizer` per feature.
///
/// Two layouts are read: lerobot 0.4.x (`policy_preprocessor.json` / `policy_postprocessor.json` whose
/// normalizer steps name a state file of `<feature>.<stat>` tensors), and the older one whose normalization buffers
/// sit in model.safetensors (`normalize_inputs.buffer_observation_state.min`, …; its MIN_MAX adds ε to every range).
public struct LeRobotCheckpoint {
    public enum Layout: String, Sendable {
        /// lerobot 0.4: normalizer statistics in the processor state files.
        case processors
        /// Before 0.4: normalization buffers inside model.safetensors.
        case legacyBuffers = "legacy buffers in model.safetensors"
    }

    public static let weightsFile = "model.safetensors"
    public static let configFile = "config.json"
    public static let preprocessorFile = "policy_preprocessor.json"
    public static let postprocessorFile = "policy_postprocessor.json"
    static let unetPrefix = "diffusion.unet."
    static let encoderPrefix = "diffusion.rgb_encoder."
    static let legacyPrefixes = ["normalize_inputs.", "normalize_targets.", "unnormalize_outputs."]

    /// Whether `directory` holds a LeRobot `config.json` (a checkpoint to read with this type).
    public static func isCheckpoint(_ directory: String) -> Bool {
        access(directory + "/" + configFile, F_OK) == 0
    }

    public let directory: String
    public let config: LeRobotDiffusionConfig
    public let layout: Layout
    public let unet: ConditionalUnet1D
    /// The image encoders: one shared by every camera, or one per camera (`use_separate_rgb_encoder_per_camera`);
    /// empty for a state-based policy.
    public let encoders: [DiffusionRgbEncoder]
    public let stateNormalizer: Normalizer
    public let environmentStateNormalizer: Normalizer?
    /// Per camera, per channel: the preprocessor's image normalization (each an affine map over C values).
    public let imageNormalizers: [Normalizer]
    /// Applied to the network's output (the postprocessor's unnormalizer).
    public let actionNormalizer: Normalizer
    /// Bytes of the U-Net weights as stored, and their dtypes.
    public let weightBytes: Int
    public let weightDTypes: Set<String>

    /// Reads and checks every file of `directory`. `storage` .bf16 keeps the U-Net's convolution weights in bfloat16
    /// (half the bytes per denoising step, F32 compute).
    public init(directory: String, storage: WeightStorage = .f32) throws {
        guard isDirectory(directory) else {
            throw ReflexError(.fileNotFound, "checkpoint directory does not exist", at: .init(file: directory))
        }
        self.directory = directory
        let config = try LeRobotDiffusionConfig(path: directory + "/" + LeRobotCheckpoint.configFile)
        self.config = config
        let weightsPath = directory + "/" + LeRobotCheckpoint.weightsFile
        let file = try SafetensorsFile(path: weightsPath)

        // The U-Net, every tensor checked for presence and shape against what config.json implies.
        let reader = CheckpointWeights(file: file, path: weightsPath)
        func source(_ prefix: String, _ what: String) -> WeightSource { reader.source(prefix, what) }
        do {
            unet = try ConditionalUnet1D(
                config: config.unet, storage: storage,
                weights: source(LeRobotCheckpoint.unetPrefix,
                                "down_dims \(config.unet.downDims), kernel_size \(config.unet.kernelSize)"))
            if let v = config.vision {
                let count = v.separateEncoderPerCamera ? config.imageFeatures.count : 1
                encoders = try (0 ..< count).map { i in
                    let prefix = LeRobotCheckpoint.encoderPrefix + (v.separateEncoderPerCamera ? "\(i)." : "")
                    return try DiffusionRgbEncoder(
                        prefix, depth: v.backbone, normalization: v.useGroupNorm ? .groupNorm : .batchNorm,
                        channels: v.channels, imageSize: v.imageSize, cropSize: v.cropShape, keypoints: v.keypoints,
                        weights: source("", "vision_backbone \(v.backbone.rawValue), use_group_norm \(v.useGroupNorm), spatial_softmax_num_keypoints \(v.keypoints)"))
                }
            } else {
                encoders = []
            }
        } catch let e as ReflexError {
            throw e.inFile(weightsPath)
        }
        weightBytes = reader.bytes
        weightDTypes = reader.dtypes
        // BatchNorm's step counter is training state; everything else must have been read.
        try reader.checkAllRead { name in
            LeRobotCheckpoint.legacyPrefixes.contains(where: { name.hasPrefix($0) })
                || (name.hasPrefix(LeRobotCheckpoint.encoderPrefix) && name.hasSuffix(".num_batches_tracked"))
        }

        // Normalization.
        let state = config.inputFeatures.first { $0.feature.type == "STATE" }!
        let env = config.inputFeatures.first { $0.feature.type == "ENV" }
        let prePath = directory + "/" + LeRobotCheckpoint.preprocessorFile
        let postPath = directory + "/" + LeRobotCheckpoint.postprocessorFile
        if fileExists(prePath) || fileExists(postPath) {
            layout = .processors
            let pre = try NormalizerStep(pipeline: prePath, registryName: "normalizer_processor", directory: directory)
            let post = try NormalizerStep(pipeline: postPath, registryName: "unnormalizer_processor", directory: directory)
            imageNormalizers = try config.imageFeatures.map {
                try pre.normalizer(for: $0.name, type: "VISUAL", size: $0.feature.shape[0])
            }
            stateNormalizer = try pre.normalizer(for: state.name, type: "STATE", size: state.feature.size)
            environmentStateNormalizer = try env.map { try pre.normalizer(for: $0.name, type: "ENV", size: $0.feature.size) }
            actionNormalizer = try post.normalizer(for: LeRobotDiffusionConfig.actionKey, type: "ACTION",
                                                   size: config.actionFeature.size)
        } else {
            layout = .legacyBuffers
            func legacy(_ module: String, _ key: String, _ type: String, _ size: Int) throws -> Normalizer {
                let mode = config.normalizationMapping[type] ?? "IDENTITY"
                let prefix = "\(module).buffer_" + String(key.map { $0 == "." ? "_" : $0 }) + "."
                let made = try makeNormalizer(mode: mode, key: key, size: size, epsilon: 1e-8, legacy: true,
                                              where: weightsPath) { stat in
                    guard file.contains(prefix + stat) else { return nil }
                    return try file.tensor(prefix + stat)
                }
                guard let made else {
                    throw ReflexError(.invalidPolicy,
                                      "no normalization statistics: neither \(LeRobotCheckpoint.preprocessorFile) nor buffer '\(prefix)\(mode == "MEAN_STD" ? "mean" : "min")' in model.safetensors",
                                      at: .init(file: directory))
                }
                return made
            }
            imageNormalizers = try config.imageFeatures.map {
                try legacy("normalize_inputs", $0.name, "VISUAL", $0.feature.shape[0])
            }
            stateNormalizer = try legacy("normalize_inputs", state.name, "STATE", state.feature.size)
            environmentStateNormalizer = try env.map { try legacy("normalize_inputs", $0.name, "ENV", $0.feature.size) }
            actionNormalizer = try legacy("unnormalize_outputs", LeRobotDiffusionConfig.actionKey, "ACTION",
                                          config.actionFeature.size)
        }
    }
}

/// Reads a checkpoint's tensors for the network's constructors, checking each for presence and shape against what
/// config.json implies, and keeps count of what was read (so that tensors nothing read are reported).
final class CheckpointWeights {
    let file: SafetensorsFile
    let path: String
    private(set) var used: Set<String> = []
    private(set) var bytes = 0
    private(set) var dtypes: Set<String> = []

    init(file: SafetensorsFile, path: String) {
        self.file = file
        self.path = path
    }

    /// Tensors under `prefix`; `what` names the config options that imply their shapes (for the error).
    func source(_ prefix: String, _ what: String) -> WeightSource {
        { [self] name, shape in
            let full = prefix + name
            guard let entry = file.entry(full) else {
                throw ReflexError(.safetensorsMissingTensor, "missing tensor: config.json (\(what)) needs it with shape \(shape)",
                                  at: .init(file: path, element: "tensor '\(full)'"))
            }
            guard entry.shape == shape else {
                throw ReflexError(.shapeMismatch,
                                  "has shape \(entry.shape) but config.json implies \(shape) (config and weights disagree)",
                                  at: .init(file: path, element: "tensor '\(full)'"))
            }
            used.insert(full)
            bytes += entry.dataRange.count
            dtypes.insert(entry.dtype.rawValue)
            return try file.tensor(full)
        }
    }

    /// Throws when a tensor was neither read nor `ignored`.
    func checkAllRead(ignoring ignored: (String) -> Bool) throws {
        let unexpected = file.names.filter { !used.contains($0) && !ignored($0) }
        if !unexpected.isEmpty {
            let shown = unexpected.prefix(5).joined(separator: ", ") + (unexpected.count > 5 ? ", …" : "")
            throw ReflexError(.shapeMismatch,
                              "\(unexpected.count) tensors are not part of the network config.json describes (config and weights disagree): \(shown)",
                              at: .init(file: path))
        }
    }
}

/// A (un)normalizer step of a lerobot 0.4 processor pipeline: its norm_map, ε and statistics.
struct NormalizerStep {
    var normMap: [String: String]
    var epsilon: Float
    var stats: SafetensorsFile?
    var path: String

    init(pipeline path: String, registryName: String, directory: String) throws {
        let json: JSONValue
        do {
            let bytes = try readFile(path)
            json = try bytes.withUnsafeBufferPointer { try JSONParser.parse($0) }
        } catch let e as ReflexError {
            throw e.inFile(path)
        }
        try self.init(pipeline: json, path: path, registryName: registryName, directory: directory)
    }

    /// The step from the pipeline file's parsed JSON (`path` names it in errors; `directory` holds its state file).
    init(pipeline json: JSONValue, path: String, registryName: String, directory: String) throws {
        self.path = path
        guard let steps = json["steps"]?.arrayValue else {
            throw ReflexError(.invalidPolicy, "processor pipeline has no 'steps' list", at: .init(file: path, keyPath: "steps"))
        }
        guard let step = steps.first(where: { $0["registry_name"]?.stringValue == registryName }) else {
            throw ReflexError(.invalidPolicy, "processor pipeline has no '\(registryName)' step", at: .init(file: path, keyPath: "steps"))
        }
        let config = step["config"]
        epsilon = Float(config?["eps"]?.numberValue ?? 1e-8)
        var map: [String: String] = [:]
        for (k, v) in config?["norm_map"]?.objectValue ?? [] { map[k] = v.stringValue ?? "" }
        normMap = map
        if let file = step["state_file"]?.stringValue {
            stats = try SafetensorsFile(path: directory + "/" + file)
        } else {
            stats = nil
        }
    }

    func normalizer(for key: String, type: String, size: Int) throws -> Normalizer {
        let mode = normMap[type] ?? "IDENTITY"
        // As lerobot's _apply_transform: a feature without statistics passes through unchanged.
        let made = try makeNormalizer(mode: mode, key: key, size: size, epsilon: epsilon, legacy: false,
                                      where: stats?.path ?? path) { stat in
            guard let stats, stats.contains(key + "." + stat) else { return nil }
            return try stats.tensor(key + "." + stat)
        }
        return made ?? .identity(size: size)
    }
}

/// A `Normalizer` for `mode` from the statistics `lookup` finds (nil when a needed one is absent).
func makeNormalizer(mode: String, key: String, size: Int, epsilon: Float, legacy: Bool, where file: String,
                    lookup: (String) throws -> Tensor?) throws -> Normalizer? {
    func stat(_ name: String) throws -> [Float]? {
        guard let t = try lookup(name) else { return nil }
        guard t.count == size else {
            throw ReflexError(.shapeMismatch, "statistic has \(t.count) values but feature '\(key)' has \(size)",
                              at: .init(file: file, element: "\(key).\(name)"))
        }
        let v = t.scalars
        guard v.allSatisfy({ $0.isFinite }) else {
            throw ReflexError(.invalidValue, "statistic is not finite (never filled in by training?)",
                              at: .init(file: file, element: "\(key).\(name)"))
        }
        return v
    }
    switch mode {
    case "IDENTITY":
        return .identity(size: size)
    case "MIN_MAX":
        guard let lo = try stat("min"), let hi = try stat("max") else { return nil }
        return try .minMax(min: lo, max: hi, epsilon: epsilon, legacy: legacy)
    case "MEAN_STD":
        guard let m = try stat("mean"), let s = try stat("std") else { return nil }
        return try .meanStd(mean: m, std: s, epsilon: epsilon)
    default:
        throw ReflexError(.unsupportedCheckpoint,
                          "normalization mode \(mode) of feature '\(key)' is not supported (IDENTITY, MIN_MAX, MEAN_STD)",
                          at: .init(file: file))
    }
}

func fileExists(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0
}
