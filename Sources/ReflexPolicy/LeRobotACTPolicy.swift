#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore
import ReflexNN

/// Which LeRobot policy a checkpoint directory holds (config.json's `type`), read before anything else so that
/// callers can pick the loader.
public enum LeRobotPolicyType: String, Sendable {
    case diffusion
    case act

    /// Reads `directory/config.json`'s `type`; an unknown type is refused by name.
    public init(directory: String) throws {
        let path = directory + "/" + LeRobotCheckpoint.configFile
        let bytes = try readFile(path)
        do {
            let json = try bytes.withUnsafeBufferPointer { try JSONParser.parse($0) }
            let name = try string(json, "type")
            guard let type = LeRobotPolicyType(rawValue: name) else {
                throw ReflexError(.unsupportedCheckpoint, "policy type '\(name)' is not supported (diffusion, act)",
                                  at: .init(keyPath: "type"))
            }
            self = type
        } catch let e as ReflexError {
            throw e.inFile(path)
        }
    }
}

/// A LeRobot `ACTPolicy` checkpoint directory as `save_pretrained` writes it (lerobot 0.4: config.json,
/// model.safetensors, and the processor files that hold the normalization), read into Reflex's pieces. The VAE
/// encoder's tensors (`model.vae_encoder*`) are training-only and skipped by name.
public struct LeRobotACTCheckpoint {
    static let prefix = "model."
    static let vaePrefix = "model.vae_encoder"

    public let directory: String
    public let config: LeRobotACTConfig
    public let network: ActionChunkingTransformer
    public let stateNormalizer: Normalizer?
    public let environmentStateNormalizer: Normalizer?
    /// Per camera, per channel.
    public let imageNormalizers: [Normalizer]
    public let actionNormalizer: Normalizer
    /// Bytes of the tensors read, as stored, and their dtypes.
    public let weightBytes: Int
    public let weightDTypes: Set<String>

    public init(directory: String) throws {
        guard isDirectory(directory) else {
            throw ReflexError(.fileNotFound, "checkpoint directory does not exist", at: .init(file: directory))
        }
        self.directory = directory
        let config = try LeRobotACTConfig(path: directory + "/" + LeRobotCheckpoint.configFile)
        self.config = config
        let prePath = directory + "/" + LeRobotCheckpoint.preprocessorFile
        let postPath = directory + "/" + LeRobotCheckpoint.postprocessorFile
        guard fileExists(prePath), fileExists(postPath) else {
            throw ReflexError(.unsupportedCheckpoint,
                              "no \(LeRobotCheckpoint.preprocessorFile) / \(LeRobotCheckpoint.postprocessorFile): ACT checkpoints are read in lerobot 0.4's layout (re-save with lerobot >= 0.4)",
                              at: .init(file: directory))
        }
        let weightsPath = directory + "/" + LeRobotCheckpoint.weightsFile
        let file = try SafetensorsFile(path: weightsPath)
        let reader = CheckpointWeights(file: file, path: weightsPath)
        let t = config.network.transformer
        do {
            network = try ActionChunkingTransformer(
                LeRobotACTCheckpoint.prefix, config: config.network,
                weights: reader.source("", "dim_model \(t.dimModel), dim_feedforward \(t.dimFeedforward), n_encoder_layers \(t.encoderLayers), n_decoder_layers \(t.decoderLayers), vision_backbone \(config.network.backbone.rawValue)"))
        } catch let e as ReflexError {
            throw e.inFile(weightsPath)
        }
        try reader.checkAllRead { name in
            name.hasPrefix(LeRobotACTCheckpoint.vaePrefix) || name.hasSuffix(".num_batches_tracked")
        }
        weightBytes = reader.bytes
        weightDTypes = reader.dtypes

        let pre = try NormalizerStep(pipeline: prePath, registryName: "normalizer_processor", directory: directory)
        let post = try NormalizerStep(pipeline: postPath, registryName: "unnormalizer_processor", directory: directory)
        let inputs = config.inputFeatureNames
        stateNormalizer = try config.stateFeature.map { f in
            try pre.normalizer(for: inputs.first { $0 == LeRobotDiffusionConfig.stateKey } ?? LeRobotDiffusionConfig.stateKey, type: "STATE", size: f.size)
        }
        environmentStateNormalizer = try config.environmentStateFeature.map { f in
            try pre.normalizer(for: LeRobotDiffusionConfig.environmentStateKey, type: "ENV", size: f.size)
        }
        imageNormalizers = try config.imageFeatures.map { try pre.normalizer(for: $0.name, type: "VISUAL", size: $0.feature.shape[0]) }
        actionNormalizer = try post.normalizer(for: LeRobotDiffusionConfig.actionKey, type: "ACTION", size: config.actionFeature.size)
    }
}

/// ACT's temporal ensembling as LeRobot's `ACTTemporalEnsembler` computes it (Zhao et al. 2023, Algorithm 2): every
/// step a fresh chunk joins an online weighted average of the actions predicted for each future step, weights
/// wᵢ = exp(−m·i) with w₀ on the oldest prediction, and the first action is consumed.
public struct ACTTemporalEnsembler: Sendable {
    public let coefficient: Float
    public let chunkSize: Int
    public let actionSize: Int
    let weights: [Float]
    let cumulative: [Float]
    /// The running averages (up to chunk_size rows) and how many chunks each has seen.
    var ensembled: [Float]
    var counts: [Int]
    var length = 0

    public init(coefficient: Float, chunkSize: Int, actionSize: Int) {
        self.coefficient = coefficient
        self.chunkSize = chunkSize
        self.actionSize = actionSize
        // In float32 as torch: exp(−m · arange(chunk)), then its cumulative sum.
        let w = (0 ..< chunkSize).map { expf(-coefficient * Float($0)) }
        var c = [Float](repeating: 0, count: chunkSize)
        var s: Float = 0
        for i in 0 ..< chunkSize { s += w[i]; c[i] = s }
        weights = w
        cumulative = c
        ensembled = [Float](repeating: 0, count: chunkSize * actionSize)
        counts = [Int](repeating: 0, count: chunkSize)
    }

    public mutating func reset() { length = 0 }

    /// Adds `chunk` (chunk_size × action size) and writes the next action to `action`.
    /// - Note: Real-time safe.
    public mutating func update(chunk: UnsafePointer<Float>, action: UnsafeMutablePointer<Float>) {
        let a = actionSize, n = chunkSize
        let w = weights, cum = cumulative
        ensembled.withUnsafeMutableBufferPointer { e in
            counts.withUnsafeMutableBufferPointer { counts in
                if length == 0 {
                    for i in 0 ..< n * a { e[i] = chunk[i] }
                    for i in 0 ..< n { counts[i] = 1 }
                } else {
                    for i in 0 ..< length {
                        let c = counts[i]
                        for j in 0 ..< a {
                            var v = e[i * a + j] * cum[c - 1]
                            v += chunk[i * a + j] * w[c]
                            e[i * a + j] = v / cum[c]
                        }
                        counts[i] = min(c + 1, n)
                    }
                    for j in 0 ..< a { e[length * a + j] = chunk[(n - 1) * a + j] }
                    counts[length] = 1
                }
                length = n
                for j in 0 ..< a { action[j] = e[j] }
                for i in 0 ..< (n - 1) * a { e[i] = e[i + a] }
                for i in 0 ..< n - 1 { counts[i] = counts[i + 1] }
                length = n - 1
            }
        }
    }
}

/// A LeRobot ACT checkpoint as a Reflex `Policy`: observations are [observation.state, each camera's image (C × H ×
/// W, channel-major floats as LeRobot's pipeline has them), observation.environment_state] (raw units, one step),
/// each part normalized with its own LeRobot normalizer; one network pass gives the chunk, unnormalized by the
/// postprocessor's statistics. `selectAction` is LeRobot's `select_action`: the action queue of n_action_steps, or
/// temporal ensembling (a chunk every step) when the config has `temporal_ensemble_coeff`.
public final class LeRobotACTPolicy: Policy {
    public let checkpoint: LeRobotACTCheckpoint
    public let config: PolicyConfig
    public let workspace: ACTWorkspace
    /// The temporal ensembler when the checkpoint (or the caller) asks for one; nil runs the action queue.
    public var ensembler: ACTTemporalEnsembler?
    /// The last chunk, normalized (chunk_size × action size).
    public let chunk: Tensor
    private let state: Tensor
    private let environment: Tensor
    private let images: Tensor
    private let imageScale: [Tensor]
    private let imageShift: [Tensor]
    private var queued = 0
    private var queuePosition = 0

    public convenience init(directory: String) throws {
        try self.init(checkpoint: LeRobotACTCheckpoint(directory: directory))
    }

    public init(checkpoint: LeRobotACTCheckpoint) throws {
        self.checkpoint = checkpoint
        let c = checkpoint.config
        config = PolicyConfig(
            kind: .bc, observationSize: c.observationSize, actionSize: c.actionFeature.size, nObsSteps: 1,
            horizon: c.chunkSize, nActionSteps: c.nActionSteps,
            normalization: .init(observation: .identity(size: c.observationSize), action: checkpoint.actionNormalizer),
            network: NetworkConfig(), notes: ["source": "LeRobot ACT checkpoint \(checkpoint.directory)"])
        workspace = ACTWorkspace(network: checkpoint.network)
        ensembler = c.temporalEnsembleCoeff.map {
            ACTTemporalEnsembler(coefficient: $0, chunkSize: c.chunkSize, actionSize: c.actionFeature.size)
        }
        chunk = Tensor(zeros: [c.chunkSize, c.actionFeature.size])
        state = Tensor(zeros: [max(c.stateFeature?.size ?? 0, 1)])
        environment = Tensor(zeros: [max(c.environmentStateFeature?.size ?? 0, 1)])
        let n = c.network
        images = Tensor(zeros: [max(n.cameras * n.imageSize.pixels * n.channels, 1)])
        imageScale = checkpoint.imageNormalizers.map { $0.affine.scale }
        imageShift = checkpoint.imageNormalizers.map { $0.affine.shift }
    }

    /// Forgets the queue and the ensemble (LeRobot's `reset`, at an episode's start).
    public func reset() {
        queued = 0
        queuePosition = 0
        ensembler?.reset()
    }

    /// One chunk into `chunk`, normalized, from one raw observation.
    /// - Note: Real-time safe.
    public func predictNormalizedChunk(observation raw: UnsafePointer<Float>) {
        let c = checkpoint.config, n = c.network
        var offset = 0
        if let s = c.stateFeature {
            state.data.update(from: raw, count: s.size)
            checkpoint.stateNormalizer?.normalize(state.data)
            offset += s.size
        }
        let imageFloats = n.imageSize.pixels * n.channels
        for k in 0 ..< n.cameras {
            layOutPositionMajor(raw + offset, channels: n.channels, size: n.imageSize, crop: n.imageSize,
                                scale: imageScale[k].data, shift: imageShift[k].data, output: images.data + k * imageFloats)
            offset += imageFloats
        }
        if let e = c.environmentStateFeature {
            environment.data.update(from: raw + offset, count: e.size)
            checkpoint.environmentStateNormalizer?.normalize(environment.data)
        }
        checkpoint.network.evaluate(state: c.stateFeature == nil ? nil : UnsafePointer(state.data),
                                    environmentState: c.environmentStateFeature == nil ? nil : UnsafePointer(environment.data),
                                    images: n.cameras == 0 ? nil : UnsafePointer(images.data), imageStride: imageFloats,
                                    output: chunk.data, workspace: workspace)
    }

    /// The raw chunk (chunk_size × action size) for one observation; the generator is not used (ACT is deterministic).
    /// - Note: Real-time safe.
    public func predictChunk(history raw: UnsafePointer<Float>, stepsExecuted: Int, output: UnsafeMutablePointer<Float>,
                             generator: inout RandomGenerator) -> InferenceInfo {
        predictNormalizedChunk(observation: raw)
        output.update(from: chunk.data, count: chunk.count)
        checkpoint.actionNormalizer.unnormalize(output, rows: checkpoint.config.chunkSize)
        return InferenceInfo(networkEvaluations: 1, warmStarted: false)
    }

    /// LeRobot's `select_action` on one raw observation: the next raw action into `action`. With the queue, a chunk is
    /// inferred only when the n_action_steps queued actions are spent; with temporal ensembling, every call.
    /// - Note: Real-time safe.
    public func selectAction(observation raw: UnsafePointer<Float>, action: UnsafeMutablePointer<Float>) {
        let a = checkpoint.config.actionFeature.size
        if ensembler != nil {
            predictNormalizedChunk(observation: raw)
            ensembler!.update(chunk: chunk.data, action: action)
        } else {
            if queued == 0 {
                predictNormalizedChunk(observation: raw)
                queued = checkpoint.config.nActionSteps
                queuePosition = 0
            }
            action.update(from: chunk.data + queuePosition * a, count: a)
            queuePosition += 1
            queued -= 1
        }
        checkpoint.actionNormalizer.unnormalize(action)
    }
}
