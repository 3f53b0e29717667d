#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore
import ReflexNN

/// Optimization settings for `PolicyTrainer`.
public struct TrainingConfig: Codable, Sendable, Equatable {
    public var steps: Int
    public var batchSize: Int
    /// Peak learning rate of AdamW (β = (0.95, 0.999), as LeRobot's diffusion preset).
    public var learningRate: Float
    public var weightDecay: Float
    /// Linear warm-up steps before the cosine decay to zero.
    public var warmupSteps: Int
    /// Exponential moving average of the weights (diffusion_policy's EMA); nil to save the raw weights.
    public var emaDecay: Float?
    public var seed: UInt64
    /// Camera policies: each training frame is shifted by up to this many pixels each way, edges repeated (DrQ's
    /// random shift, Kostrikov et al. 2020, pad 4 at 84×84); 0 for none. Never applied at run time.
    public var randomShift: Int

    public init(steps: Int = 8000, batchSize: Int = 256, learningRate: Float = 1e-3, weightDecay: Float = 1e-6,
                warmupSteps: Int = 300, emaDecay: Float? = 0.995, seed: UInt64 = 0, randomShift: Int = 0) {
        self.steps = steps
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        self.warmupSteps = warmupSteps
        self.emaDecay = emaDecay
        self.seed = seed
        self.randomShift = randomShift
    }

    /// Learning rate at `step`: linear warm-up, then cosine to zero (LeRobot's `cosine_decay_with_warmup`).
    public func learningRate(at step: Int) -> Float {
        if step < warmupSteps { return learningRate * Float(step + 1) / Float(warmupSteps) }
        let progress = Double(step - warmupSteps) / Double(max(1, steps - warmupSteps))
        return learningRate * Float(0.5 * (1 + cos(Double.pi * min(1, progress))))
    }
}

/// Privileged supervision of a camera policy's encoders, at training time only: observations left out of the
/// policy's inputs (e.g. the cube's pose) that a linear head on the encoders' features learns to predict, its
/// squared error (targets min-max normalized to [−1, 1]) added to the denoising loss with `weight`. The head is not
/// part of the saved policy: at run time the policy still sees these quantities only through its cameras.
public struct AuxiliaryTargets: Sendable {
    public var names: [String]
    /// Per episode of the training demonstrations, length × names.count, row-major (the step's own values).
    public var episodes: [[Float]]
    public var weight: Float

    public init(names: [String], episodes: [[Float]], weight: Float) {
        self.names = names
        self.episodes = episodes
        self.weight = weight
    }
}

/// Trains a BC or diffusion policy on demonstrations, in Swift, allocation-free per step.
///
/// Diffusion: the ε-prediction objective of Ho et al. 2020 (eq. 14): t ~ U{0…T−1}, ε ~ N(0, I),
/// x_t = √ᾱ_t a + √(1−ᾱ_t) ε, loss ‖ε̂(x_t, t, o) − ε‖² (or ‖â − a‖² for sample prediction). BC: ‖f(o) − a‖².
/// Actions are in network space (normalized; gripper dims divided by f under RTI's "scale").
public final class PolicyTrainer {
    public let config: PolicyConfig
    public let training: TrainingConfig
    public let data: Demonstrations
    public let network: MLP
    /// The averaged weights that get saved, when `emaDecay` is set.
    public let ema: MLP?
    public internal(set) var adam: Adam
    public internal(set) var step = 0
    public internal(set) var generator: RandomGenerator
    private let scheduler: NoiseScheduler?
    private let embedding: TimestepEmbedding?
    private let actions: ActionSpace
    private let windows: [(episode: Int, index: Int)]
    private let tape: MLPTape
    private let gradient: Tensor
    private let inputs: Tensor
    private let targets: Tensor
    private let outputGradient: Tensor
    private let observationWindow: Tensor
    private let actionWindow: Tensor
    private let noise: Tensor
    /// A camera policy's encoders (one per `config.cameras`), trained jointly with the denoiser through its input
    /// gradient; their EMA copies when `emaDecay` is set.
    public let encoders: [ConvEncoder]
    public let emaEncoders: [ConvEncoder]?
    public internal(set) var encoderAdams: [Adam]
    /// For each of `config.cameras`, its index in `data.cameras`.
    private let cameraIndices: [Int]
    private let encoderTapes: [ConvEncoderTape]
    private let encoderGradients: [Tensor]
    /// Per camera, batch × H × W × 3 floats.
    private let images: [Tensor]
    /// The MLP's input gradient (batch × input), whose condition part holds the encoders' feature gradients.
    private let inputGradient: Tensor
    /// The auxiliary loss (training only), its linear head over all cameras' features (`auxiliaryParameters`:
    /// weight targets × features, then bias) and the head's optimizer.
    public let auxiliary: AuxiliaryTargets?
    public let auxiliaryParameters: Tensor
    public internal(set) var auxiliaryAdam: Adam
    /// The last step's auxiliary mean squared error (normalized targets, before the weight); 0 without one.
    public private(set) var auxiliaryLoss: Float = 0
    private let auxiliaryHead: Linear?
    private let auxiliaryNormalizer: Normalizer?
    private let auxiliaryGradient: Tensor
    /// batch × (all cameras' features), batch × targets (targets, then prediction, then its gradient), batch × features.
    private let auxiliaryFeatures: Tensor
    private let auxiliaryTargets: Tensor
    private let auxiliaryPrediction: Tensor
    private let auxiliaryPredictionGradient: Tensor
    private let auxiliaryFeatureGradient: Tensor

    /// Sets up training. `config`'s normalization is replaced by min-max ranges of `data` (LeRobot's default for
    /// state and action features).
    public init(config: PolicyConfig, data: Demonstrations, training: TrainingConfig, auxiliary: AuxiliaryTargets? = nil) throws {
        var config = config
        guard data.observationSize == config.observationSize, data.actionSize == config.actionSize else {
            throw ReflexError(.shapeMismatch,
                              "demonstrations have observations of \(data.observationSize) and actions of \(data.actionSize); the policy expects \(config.observationSize) and \(config.actionSize)")
        }
        guard !data.episodes.isEmpty else { throw ReflexError(.invalidArgument, "no demonstrations to train on") }
        let r = data.ranges()
        config.normalization = .init(observation: try .minMax(min: r.observationMin, max: r.observationMax),
                                     action: try .minMax(min: r.actionMin, max: r.actionMax))
        try config.validate()
        guard training.steps > 0, training.batchSize > 0 else {
            throw ReflexError(.invalidValue, "steps and batch_size must be positive")
        }
        let cameraCount = config.cameras?.count ?? 0
        guard training.randomShift >= 0, training.randomShift == 0 || cameraCount > 0 else {
            throw ReflexError(.invalidValue, "random shift \(training.randomShift): it shifts camera frames, so it needs a camera policy and a shift ≥ 0")
        }
        if let auxiliary {
            guard cameraCount > 0 else {
                throw ReflexError(.invalidValue, "an auxiliary loss predicts its targets from camera features: the policy has no camera")
            }
            guard !auxiliary.names.isEmpty, auxiliary.weight > 0, auxiliary.weight.isFinite else {
                throw ReflexError(.invalidValue, "an auxiliary loss needs targets and a positive weight, got \(auxiliary.names) and \(auxiliary.weight)")
            }
            let m = auxiliary.names.count
            guard auxiliary.episodes.count == data.episodes.count,
                  zip(auxiliary.episodes, data.episodes).allSatisfy({ $0.count == $1.length * m }) else {
                throw ReflexError(.shapeMismatch, "auxiliary targets (\(m) per step) do not match the \(data.episodes.count) episodes' lengths")
            }
        }
        self.config = config
        self.training = training
        self.data = data
        var gen = RandomGenerator(seed: training.seed)
        let mlpConfig = PolicyDirectory.networkConfig(for: config)
        network = MLP(config: mlpConfig, generator: &gen)
        ema = training.emaDecay == nil ? nil : network.copy()
        let adamConfig = Adam.Config(learningRate: training.learningRate, beta1: 0.95, beta2: 0.999, epsilon: 1e-8,
                                     weightDecay: training.weightDecay, decoupled: true)
        adam = Adam(parameterCount: network.parameterCount, config: adamConfig)
        if config.kind == .diffusion, let s = config.scheduler {
            let sch = NoiseScheduler(s)
            scheduler = sch
            embedding = TimestepEmbedding(size: config.network.timeEmbeddingSize, timesteps: s.trainTimesteps)
        } else {
            scheduler = nil
            embedding = nil
        }
        actions = ActionSpace(config: config)
        var windows: [(Int, Int)] = []
        for (e, ep) in data.episodes.enumerated() { for i in 0 ..< ep.length { windows.append((e, i)) } }
        self.windows = windows
        let b = training.batchSize
        let cameras = config.cameras ?? []
        var cameraIndices: [Int] = [], encoders: [ConvEncoder] = []
        for c in cameras {
            guard let i = data.cameras.firstIndex(where: { $0.name == c.name }) else {
                throw ReflexError(.invalidArgument, "the policy sees camera '\(c.name)' but the demonstrations have frames of \(data.cameras.isEmpty ? "no camera" : data.cameras.map(\.name).joined(separator: ", "))")
            }
            let d = data.cameras[i]
            guard d.height == c.encoder.imageHeight, d.width == c.encoder.imageWidth else {
                throw ReflexError(.shapeMismatch, "camera '\(c.name)' recorded \(d.width)×\(d.height) frames; its encoder takes \(c.encoder.imageWidth)×\(c.encoder.imageHeight)")
            }
            cameraIndices.append(i)
            encoders.append(try ConvEncoder(config: c.encoder, generator: &gen))
        }
        self.cameraIndices = cameraIndices
        self.encoders = encoders
        emaEncoders = training.emaDecay == nil ? nil : try encoders.map { try ConvEncoder(config: $0.config, parameters: $0.parameters.copy()) }
        encoderAdams = encoders.map { Adam(parameterCount: $0.parameterCount, config: adamConfig) }
        encoderTapes = encoders.map { ConvEncoderTape(config: $0.config, maxBatch: b) }
        encoderGradients = encoders.map { Tensor(zeros: [$0.parameterCount]) }
        images = encoders.map { Tensor(zeros: [b * $0.imageCount]) }
        inputGradient = Tensor(zeros: [encoders.isEmpty ? 0 : b * mlpConfig.inputSize])
        self.auxiliary = auxiliary
        let m = auxiliary?.names.count ?? 0, featureCount = encoders.reduce(0) { $0 + $1.featureCount }
        auxiliaryParameters = Tensor(zeros: [m * featureCount + m])
        if let auxiliary {
            var layout = ParameterLayout()
            _ = layout.add("weight", [m, featureCount])
            _ = layout.add("bias", [m])
            let views = layout.views(of: auxiliaryParameters)
            // torch.nn.Linear's initialization, drawn after the encoders' so a run without the head is unchanged.
            let bound = 1 / Float(featureCount).squareRoot()
            gen.fillUniform(auxiliaryParameters, low: -bound, high: bound)
            auxiliaryHead = Linear(weight: views[0], bias: views[1])
            var lo = [Float](repeating: .infinity, count: m), hi = [Float](repeating: -.infinity, count: m)
            for e in auxiliary.episodes { for (i, v) in e.enumerated() { lo[i % m] = min(lo[i % m], v); hi[i % m] = max(hi[i % m], v) } }
            auxiliaryNormalizer = try .minMax(min: lo, max: hi)
        } else {
            auxiliaryHead = nil
            auxiliaryNormalizer = nil
        }
        auxiliaryAdam = Adam(parameterCount: auxiliaryParameters.count, config: adamConfig)
        auxiliaryGradient = Tensor(zeros: [auxiliaryParameters.count])
        auxiliaryFeatures = Tensor(zeros: [b * featureCount])
        auxiliaryTargets = Tensor(zeros: [b * m])
        auxiliaryPrediction = Tensor(zeros: [b * m])
        auxiliaryPredictionGradient = Tensor(zeros: [b * m])
        auxiliaryFeatureGradient = Tensor(zeros: [b * featureCount])
        generator = gen
        tape = MLPTape(config: mlpConfig, maxBatch: b)
        gradient = Tensor(zeros: [network.parameterCount])
        inputs = Tensor(zeros: [b, mlpConfig.inputSize])
        targets = Tensor(zeros: [b, mlpConfig.outputSize])
        outputGradient = Tensor(zeros: [b, mlpConfig.outputSize])
        observationWindow = Tensor(zeros: [config.nObsSteps, config.observationSize])
        actionWindow = Tensor(zeros: [config.horizon, config.actionSize])
        noise = Tensor(zeros: [config.horizon * config.actionSize])
    }

    /// One optimization step on a fresh minibatch; returns its loss.
    /// - Note: Real-time safe.
    @discardableResult
    public func trainStep() -> Float {
        let b = training.batchSize
        let width = network.config.inputSize
        let out = network.config.outputSize
        let cond = config.conditionSize
        let T = scheduler?.config.trainTimesteps ?? 1
        for r in 0 ..< b {
            let w = windows[generator.index(below: windows.count)]
            // The frame seen with the newest observation of the window (what the policy sees at inference).
            let pad = training.randomShift
            for (k, encoder) in encoders.enumerated() {
                let shift = pad == 0 ? (0, 0) : (generator.index(below: 2 * pad + 1) - pad, generator.index(below: 2 * pad + 1) - pad)
                data.withFrame(episode: w.episode, index: w.index, camera: cameraIndices[k]) {
                    encoder.loadFrame($0, into: images[k].data + r * encoder.imageCount, shift: shift)
                }
            }
            if let auxiliary, let auxiliaryNormalizer {
                let m = auxiliary.names.count, row = auxiliaryTargets.data + r * m
                auxiliary.episodes[w.episode].withUnsafeBufferPointer { row.update(from: $0.baseAddress! + w.index * m, count: m) }
                auxiliaryNormalizer.normalize(row)
            }
            data.window(episode: w.episode, index: w.index, nObs: config.nObsSteps, horizon: config.horizon,
                        observations: observationWindow.data, actions: actionWindow.data)
            config.normalization.observation.normalize(observationWindow.data, rows: config.nObsSteps)
            actions.toNetwork(actionWindow.data, rows: config.horizon)
            let row = inputs.data + r * width
            let target = targets.data + r * out
            if let scheduler, let embedding {
                let t = generator.index(below: T)
                generator.fillGaussian(noise.data, count: out)
                // x_t from the clean chunk (actionWindow is then reused as x_t).
                let clean = target
                clean.update(from: actionWindow.data, count: out)
                scheduler.addNoise(actionWindow.data, noise: noise.data, t: t, count: out)
                row.update(from: actionWindow.data, count: out)
                embedding.table.withUnsafeBufferPointer { e in
                    (row + out).update(from: e.baseAddress! + t * embedding.size, count: embedding.size)
                }
                (row + out + embedding.size).update(from: observationWindow.data, count: cond)
                if scheduler.config.predictionType == .epsilon { target.update(from: noise.data, count: out) }
            } else {
                row.update(from: observationWindow.data, count: cond)
                target.update(from: actionWindow.data, count: out)
            }
        }
        // Camera features follow the history in each row's condition: [x_t, emb(t), history, features…].
        let firstFeature = out + (embedding?.size ?? 0) + cond, featureWidth = width - firstFeature
        var featureOffset = firstFeature
        for (k, encoder) in encoders.enumerated() {
            let f = encoder.forward(images[k].data, batch: b, tape: encoderTapes[k]), n = encoder.featureCount
            for r in 0 ..< b { (inputs.data + r * width + featureOffset).update(from: f + r * n, count: n) }
            if auxiliary != nil {
                for r in 0 ..< b {
                    (auxiliaryFeatures.data + r * featureWidth + featureOffset - firstFeature).update(from: f + r * n, count: n)
                }
            }
            featureOffset += n
        }
        let pred = network.forward(inputs.data, batch: b, tape: tape)
        var loss: Float = 0
        let n = b * out
        let scale = 2 / Float(n)
        for i in 0 ..< n {
            let e = pred[i] - targets.data[i]
            loss += e * e
            outputGradient.data[i] = scale * e
        }
        gradient.fill(0)
        network.backward(tape: tape, outputGradient: outputGradient.data, gradient: gradient,
                         inputGradient: encoders.isEmpty ? nil : inputGradient.data)
        adam.config.learningRate = training.learningRate(at: step)
        adam.update(parameters: network.parameters, gradient: gradient)
        if let auxiliary, let auxiliaryHead { auxiliaryStep(auxiliary, auxiliaryHead, batch: b, firstFeature: firstFeature) }
        featureOffset = firstFeature
        for (k, encoder) in encoders.enumerated() {
            encoderGradients[k].fill(0)
            encoder.backward(tape: encoderTapes[k], outputGradient: inputGradient.data + featureOffset, rowStride: width,
                             gradient: encoderGradients[k])
            featureOffset += encoder.featureCount
            encoderAdams[k].config.learningRate = adam.config.learningRate
            encoderAdams[k].update(parameters: encoder.parameters, gradient: encoderGradients[k])
        }
        if let ema, let decay = training.emaDecay {
            // Warm-up of the average as in diffusion_policy's EMAModel: decay_t = min(decay, (1 + t) / (10 + t)).
            let d = min(decay, Float(1 + step) / Float(10 + step))
            polyakAverage(target: ema.parameters, source: network.parameters, tau: 1 - d)
            if let emaEncoders {
                for (e, s) in zip(emaEncoders, encoders) { polyakAverage(target: e.parameters, source: s.parameters, tau: 1 - d) }
            }
        }
        step += 1
        return loss / Float(n)
    }

    /// The auxiliary head's step on this step's features: its loss and gradients (`auxiliaryLoss(...)`), the
    /// features' gradient added to the denoiser's in `inputGradient`, and the head's own AdamW step at the step's
    /// learning rate.
    /// - Note: Real-time safe.
    private func auxiliaryStep(_ auxiliary: AuxiliaryTargets, _ head: Linear, batch b: Int, firstFeature: Int) {
        let fw = head.inputSize, width = network.config.inputSize
        auxiliaryGradient.fill(0)
        auxiliaryLoss = Self.auxiliaryLoss(head: head, features: auxiliaryFeatures.data, targets: auxiliaryTargets.data,
                                           batch: b, weight: auxiliary.weight, prediction: auxiliaryPrediction.data,
                                           predictionGradient: auxiliaryPredictionGradient.data,
                                           gradient: auxiliaryGradient.data, featureGradient: auxiliaryFeatureGradient.data)
        for r in 0 ..< b {
            let dst = inputGradient.data + r * width + firstFeature, src = auxiliaryFeatureGradient.data + r * fw
            for j in 0 ..< fw { dst[j] += src[j] }
        }
        auxiliaryAdam.config.learningRate = adam.config.learningRate
        auxiliaryAdam.update(parameters: auxiliaryParameters, gradient: auxiliaryGradient)
    }

    /// The auxiliary loss of a linear head ŷ = W f + b on features f (batch × in) against targets y (batch × out):
    /// returns mean((ŷ − y)²) (unweighted); accumulates the gradient of weight · mean((ŷ − y)²) with respect to
    /// (W, b) into `gradient` (W then b, the head's flat layout) and writes its gradient with respect to f into
    /// `featureGradient` (batch × in): dŷ = weight · 2(ŷ − y)/(batch · out), dW = dŷᵀ f, db = Σ dŷ, df = dŷ W.
    /// - Note: Real-time safe.
    static func auxiliaryLoss(head: Linear, features: UnsafePointer<Float>, targets: UnsafePointer<Float>, batch b: Int,
                              weight: Float, prediction: UnsafeMutablePointer<Float>,
                              predictionGradient: UnsafeMutablePointer<Float>, gradient: UnsafeMutablePointer<Float>,
                              featureGradient: UnsafeMutablePointer<Float>) -> Float {
        let m = head.outputSize, n = b * m
        head.forward(features, batch: b, output: prediction)
        var loss: Float = 0
        let scale = 2 * weight / Float(n)
        for i in 0 ..< n {
            let e = prediction[i] - targets[i]
            loss += e * e
            predictionGradient[i] = scale * e
        }
        head.backward(input: features, outputGradient: predictionGradient, batch: b, weightGradient: gradient,
                      biasGradient: gradient + m * head.inputSize, inputGradient: featureGradient)
        return loss / Float(n)
    }

    /// The weights to deploy (the EMA when kept).
    public var deployedNetwork: MLP { ema ?? network }
    /// The encoders to deploy (their EMA when kept).
    public var deployedEncoders: [ConvEncoder] { emaEncoders ?? encoders }

    /// Writes the policy directory with the deployed weights.
    public func save(to directory: String) throws {
        try PolicyDirectory.save(config: config, network: deployedNetwork, encoders: deployedEncoders, to: directory)
    }

    /// A policy object over the current deployed weights (for evaluation during training).
    public func policy(maxCandidates: Int = 1) throws -> Policy {
        let net = deployedNetwork.copy()
        if config.cameras != nil {
            let copies = try deployedEncoders.map { try ConvEncoder(config: $0.config, parameters: $0.parameters.copy()) }
            return try CameraDiffusionPolicy(config: config, network: net, encoders: copies, maxCandidates: maxCandidates)
        }
        switch config.kind {
        case .bc: return try BCPolicy(config: config, network: net)
        case .diffusion:
            let d = MLPDenoiser(config: config.network, network: net, horizon: config.horizon, actionSize: config.actionSize,
                                conditionSize: config.conditionSize, trainTimesteps: config.scheduler?.trainTimesteps ?? 100,
                                maxBatch: maxCandidates)
            return try DiffusionPolicy(config: config, denoiser: d)
        }
    }
}


extension PolicyTrainer {
    /// File (inside the output directory) holding everything needed to continue training exactly.
    public static let stateFile = "training_state.safetensors"

    /// Writes the deployable policy and the training state (raw and EMA weights, AdamW moments, step, generator)
    /// into `directory`, each file atomically, so a run killed at any moment resumes from the last checkpoint.
    public func checkpoint(to directory: String) throws {
        try save(to: directory)
        var tensors = [("network", network.parameters)] + adam.namedState(prefix: "adam.")
        if let ema { tensors.append(("ema", ema.parameters)) }
        var meta = adam.metadata(prefix: "adam.")
        for (k, c) in (config.cameras ?? []).enumerated() {
            tensors.append(("encoder.\(c.name)", encoders[k].parameters))
            if let emaEncoders { tensors.append(("ema.encoder.\(c.name)", emaEncoders[k].parameters)) }
            tensors += encoderAdams[k].namedState(prefix: "adam.encoder.\(c.name).")
            meta.merge(encoderAdams[k].metadata(prefix: "adam.encoder.\(c.name)."), uniquingKeysWith: { $1 })
        }
        if auxiliary != nil {
            tensors += [("auxiliary", auxiliaryParameters)] + auxiliaryAdam.namedState(prefix: "adam.auxiliary.")
            meta.merge(auxiliaryAdam.metadata(prefix: "adam.auxiliary."), uniquingKeysWith: { $1 })
        }
        meta["step"] = String(step)
        let g = generator.state
        meta["generator"] = g.s.map(String.init).joined(separator: ",")
        if let spare = g.spareGaussian { meta["generator.spare"] = String(spare.bitPattern) }
        try writeSafetensors(tensors, to: directory + "/" + Self.stateFile, metadata: meta)
    }

    /// Restores a state written by `checkpoint(to:)` for the same config and data (the caller rebuilt the trainer
    /// with the same arguments). Refuses a state of another shape with the file named.
    public func restore(from directory: String) throws {
        let path = directory + "/" + Self.stateFile
        let file = try SafetensorsFile(path: path)
        func load(_ name: String, into t: Tensor) throws {
            let x = try file.tensor(name)
            guard x.count == t.count else {
                throw ReflexError(.shapeMismatch, "'\(name)' holds \(x.count) values, this policy has \(t.count)",
                                  at: .init(file: path, element: "tensor '\(name)'"))
            }
            t.assign(from: x)
        }
        try load("network", into: network.parameters)
        if let ema { try load("ema", into: ema.parameters) }
        try adam.load(from: file, prefix: "adam.")
        for (k, c) in (config.cameras ?? []).enumerated() {
            try load("encoder.\(c.name)", into: encoders[k].parameters)
            if let emaEncoders { try load("ema.encoder.\(c.name)", into: emaEncoders[k].parameters) }
            try encoderAdams[k].load(from: file, prefix: "adam.encoder.\(c.name).")
        }
        if auxiliary != nil {
            try load("auxiliary", into: auxiliaryParameters)
            try auxiliaryAdam.load(from: file, prefix: "adam.auxiliary.")
        }
        guard let s = file.metadata["step"].flatMap(Int.init), s >= 0,
              let words = file.metadata["generator"]?.split(separator: ",").compactMap({ UInt64($0) }), words.count == 4 else {
            throw ReflexError(.invalidValue, "missing step or generator state in metadata", at: .init(file: path))
        }
        let spare = file.metadata["generator.spare"].flatMap(UInt64.init).map(Double.init(bitPattern:))
        generator = try RandomGenerator(state: .init(s: words, spareGaussian: spare))
        step = s
    }
}
