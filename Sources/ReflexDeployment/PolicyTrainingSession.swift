import Foundation
import ReflexCore
import ReflexNN
import ReflexPolicy

/// What a behaviour-cloning or diffusion policy is trained with: the policy's shape, its sampler and the optimizer's
/// schedule. What `reflex train` parses and an embedder fills in.
public struct PolicyTrainingOptions: Sendable {
    public var kind: PolicyConfig.Kind = .diffusion
    public var steps = 8000
    public var batchSize = 256
    /// Peak learning rate (AdamW, cosine decay with warm-up).
    public var learningRate: Float = 1e-3
    public var seed: UInt64 = 0
    public var nObsSteps = 2
    public var horizon = 16
    public var nActionSteps = 8
    public var hiddenSizes = [512, 512, 512]
    /// What the denoiser predicts (diffusion).
    public var prediction: PredictionType = .epsilon
    /// The sampler written to policy.yaml (diffusion).
    public var sampler: SamplerSpec = .ddpm(steps: nil)
    /// RTI's handling of the action dimensions named *gripper*.
    public var gripper: GripperConfig.Handling = .none
    public var checkpointEvery = 1000
    /// Save the raw weights instead of their exponential moving average.
    public var noEMA = false
    /// Cameras of the demonstrations whose frames condition the policy (diffusion), each through its own
    /// `ConvEncoder` trained with the denoiser; `["all"]` takes every camera the file has. Empty: a state policy.
    public var cameras: [String] = []
    /// Observation dimensions left out of the policy's inputs: every name containing one of these (e.g. `cube`,
    /// so a camera policy sees the cube only through its cameras).
    public var excludeFeatures: [String] = []
    /// Weight of an auxiliary loss in which a linear head on the camera features predicts the excluded features
    /// (`AuxiliaryTargets`: privileged supervision at training time only; the saved policy still sees them only
    /// through its cameras); 0 for none.
    public var auxiliaryWeight: Float = 0
    /// DrQ random shift of training frames, in pixels each way (`TrainingConfig.randomShift`); 0 for none.
    public var randomShift = 0
    /// The camera encoders' stage widths (each stage halves the map) and spatial-softmax keypoints; nil: the
    /// `ConvEncoderConfig` defaults.
    public var encoderChannels: [Int]?
    public var keypoints: Int?

    public init() {}

    /// Checks the camera-only options against the rest, saying why a combination is meaningless.
    public func validateCameraOptions() throws {
        let camera = !cameras.isEmpty
        guard auxiliaryWeight >= 0, auxiliaryWeight.isFinite else {
            throw ReflexError(.invalidValue, "--auxiliary-weight must be a finite weight ≥ 0, got \(auxiliaryWeight)")
        }
        if auxiliaryWeight > 0 {
            guard camera else {
                throw ReflexError(.invalidValue, "--auxiliary-weight trains a camera encoder to predict the excluded features; without --camera there is no encoder to train")
            }
            guard !excludeFeatures.isEmpty else {
                throw ReflexError(.invalidValue, "--auxiliary-weight predicts the features left out with --exclude-features (e.g. cube); none are left out")
            }
        }
        guard randomShift >= 0 else { throw ReflexError(.invalidValue, "--random-shift must be ≥ 0 pixels, got \(randomShift)") }
        if randomShift > 0 && !camera { throw ReflexError(.invalidValue, "--random-shift shifts camera frames; without --camera there are none") }
        if (encoderChannels != nil || keypoints != nil) && !camera {
            throw ReflexError(.invalidValue, "--encoder-channels and --keypoints shape a camera encoder; without --camera there is none")
        }
    }

    /// The excluded observations of `all` as auxiliary targets (nil when `auxiliaryWeight` is 0).
    public func auxiliaryTargets(_ all: Demonstrations, _ meta: Demonstrations.Metadata) throws -> AuxiliaryTargets? {
        guard auxiliaryWeight > 0 else { return nil }
        try validateCameraOptions()
        let excluded = meta.observationNames.indices.filter { i in
            excludeFeatures.contains { meta.observationNames[i].lowercased().contains($0.lowercased()) }
        }
        let only = try all.keepingObservations(excluded)
        return AuxiliaryTargets(names: excluded.map { meta.observationNames[$0] }, episodes: only.episodes.map(\.observations),
                                weight: auxiliaryWeight)
    }

    /// The demonstrations with `excludeFeatures` removed from the observations (and their names).
    public func selectingInputs(_ data: Demonstrations, _ meta: Demonstrations.Metadata) throws
        -> (Demonstrations, Demonstrations.Metadata) {
        guard !excludeFeatures.isEmpty else { return (data, meta) }
        let kept = meta.observationNames.indices.filter { i in
            !excludeFeatures.contains { meta.observationNames[i].lowercased().contains($0.lowercased()) }
        }
        for f in excludeFeatures where !meta.observationNames.contains(where: { $0.lowercased().contains(f.lowercased()) }) {
            throw ReflexError(.invalidValue, "--exclude-features: no observation is named like '\(f)' (observations: \(meta.observationNames.joined(separator: ", ")))")
        }
        guard !kept.isEmpty else { throw ReflexError(.invalidValue, "--exclude-features \(excludeFeatures) leaves no observation") }
        var m = meta
        m.observationNames = kept.map { meta.observationNames[$0] }
        return (try data.keepingObservations(kept), m)
    }

    /// The policy's config for demonstrations `data` described by `meta`, with where it came from in its notes.
    public func policyConfig(data: Demonstrations, meta: Demonstrations.Metadata, demonstrations: String,
                             trainedWith: String) throws -> PolicyConfig {
        guard steps > 0, batchSize > 0, checkpointEvery > 0 else {
            throw ReflexError(.invalidValue, "steps, batch size and checkpoint interval must be positive")
        }
        guard !hiddenSizes.isEmpty, hiddenSizes.allSatisfy({ $0 > 0 }) else {
            throw ReflexError(.invalidValue, "hidden widths must be positive, got \(hiddenSizes)")
        }
        guard learningRate > 0, learningRate.isFinite else { throw ReflexError(.invalidValue, "learning rate must be positive") }
        try validateCameraOptions()
        let gripperDims = meta.actionNames.enumerated().filter { $0.element.lowercased().contains("gripper") }.map(\.offset)
        if gripper != .none, gripperDims.isEmpty {
            throw ReflexError(.invalidValue, "gripper handling \(gripper.rawValue) needs an action named *gripper*; the demonstrations have \(meta.actionNames)")
        }
        var scheduler = NoiseScheduler.Config()
        scheduler.predictionType = prediction
        var config = PolicyConfig(
            kind: kind, observationSize: data.observationSize, actionSize: data.actionSize,
            nObsSteps: nObsSteps, horizon: horizon, nActionSteps: nActionSteps,
            normalization: .init(observation: .identity(size: data.observationSize), action: .identity(size: data.actionSize)),
            network: .init(hiddenSizes: hiddenSizes, activation: .mish, layerNorm: true, timeEmbeddingSize: 64),
            gripper: gripperDims.isEmpty ? nil : GripperConfig(dims: gripperDims, handling: gripper),
            scheduler: kind == .diffusion ? scheduler : nil, sampler: kind == .diffusion ? sampler : nil,
            notes: ["robot": meta.robot, "task": meta.task, "demonstrations": demonstrations,
                    "episodes": String(data.episodes.count), "observation_names": meta.observationNames.joined(separator: ","),
                    "action_names": meta.actionNames.joined(separator: ","), "control_hz": String(meta.controlHz),
                    "trained_with": trainedWith])
        if !cameras.isEmpty {
            guard kind == .diffusion else { throw ReflexError(.invalidValue, "camera inputs are supported for diffusion policies only") }
            let names = cameras == ["all"] ? data.cameras.map(\.name) : cameras
            guard !names.isEmpty else { throw ReflexError(.invalidValue, "--camera all: the demonstrations hold no frames (record them with reflex collect --camera)") }
            config.cameras = try names.map { name in
                guard let c = data.cameras.first(where: { $0.name == name }) else {
                    throw ReflexError(.invalidValue, "no frames of camera '\(name)' in \(demonstrations) (it has \(data.cameras.isEmpty ? "none" : data.cameras.map(\.name).joined(separator: ", ")))")
                }
                var encoder = ConvEncoderConfig(imageHeight: c.height, imageWidth: c.width)
                if let encoderChannels { encoder.channels = encoderChannels }
                if let keypoints { encoder.keypoints = keypoints }
                try encoder.validate()
                return PolicyCamera(name: name, encoder: encoder)
            }
            if auxiliaryWeight > 0 || randomShift > 0 {
                // Training-only settings: recorded where the policy came from, not in what it runs.
                var notes = config.notes ?? [:]
                if auxiliaryWeight > 0 {
                    notes["auxiliary_loss"] = "weight \(auxiliaryWeight), predicting the excluded \(excludeFeatures.joined(separator: ",")) features from the camera features (training only)"
                }
                if randomShift > 0 { notes["random_shift"] = String(randomShift) }
                config.notes = notes
            }
        }
        try config.validate()
        return config
    }

    public var training: TrainingConfig {
        TrainingConfig(steps: steps, batchSize: batchSize, learningRate: learningRate, warmupSteps: min(300, steps / 10),
                       emaDecay: noEMA ? nil : 0.995, seed: seed, randomShift: randomShift)
    }
}

/// One training run of a policy into a directory: `policy.yaml` + `model.safetensors`, a training state at every
/// checkpoint (a killed run continues from the last one), `loss.csv` and `loss.svg` (the mean loss of every 50 steps).
public final class PolicyTrainingSession {
    public let trainer: PolicyTrainer
    public let directory: String
    public let kind: PolicyConfig.Kind
    public let checkpointEvery: Int
    public private(set) var losses: [(x: Double, y: Double)] = []
    private let task: String

    /// Prepares the run; with `resume`, continues from `directory`'s training state and keeps its loss curve.
    public init(options: PolicyTrainingOptions, demonstrations: String, directory: String, resume: Bool, trainedWith: String) throws {
        let (all, allMeta) = try Demonstrations.load(directory: demonstrations)
        let (data, meta) = try options.selectingInputs(all, allMeta)
        let config = try options.policyConfig(data: data, meta: meta, demonstrations: demonstrations, trainedWith: trainedWith)
        trainer = try PolicyTrainer(config: config, data: data, training: options.training,
                                    auxiliary: try options.auxiliaryTargets(all, allMeta))
        self.directory = directory
        kind = options.kind
        checkpointEvery = options.checkpointEvery
        task = meta.task
        try makeDirectory(directory)
        if resume {
            try trainer.restore(from: directory)
            if let text = try? readTextFile(csvPath) {
                for line in text.split(separator: "\n").dropFirst() {
                    let f = line.split(separator: ",")
                    if f.count == 2, let x = Double(f[0]), let y = Double(f[1]), Int(x) < trainer.step { losses.append((x, y)) }
                }
            }
        }
    }

    private var csvPath: String { directory + "/loss.csv" }

    /// Trains to the end, checkpointing every `checkpointEvery` steps; `progress` hears each 50-step mean loss.
    public func run(progress: (_ step: Int, _ meanLoss: Double) -> Void = { _, _ in }) throws {
        let steps = trainer.training.steps
        var window: [Float] = []
        while trainer.step < steps {
            window.append(trainer.trainStep())
            if window.count == 50 || trainer.step == steps {
                let mean = Double(window.reduce(0, +)) / Double(window.count)
                losses.append((Double(trainer.step), mean))
                window.removeAll(keepingCapacity: true)
                progress(trainer.step, mean)
            }
            if trainer.step % checkpointEvery == 0 || trainer.step == steps {
                try trainer.checkpoint(to: directory)
                try writeCurves()
            }
        }
    }

    private func writeCurves() throws {
        let csv = "step,loss\n" + losses.map { "\(Int($0.x)),\($0.y)" }.joined(separator: "\n") + "\n"
        try writeFileAtomically(Array(csv.utf8), to: csvPath)
        var plot = LinePlot(title: "\(kind.rawValue) training loss — \(task)", xLabel: "step", yLabel: "loss (mean of 50 steps)")
        plot.logY = true
        plot.series = [.init(name: "loss", points: losses)]
        try plot.write(to: directory + "/loss.svg")
    }
}
