import ArgumentParser
import Foundation
import ReflexCore
import ReflexDeployment
import ReflexNN
import ReflexPolicy

/// `reflex train`: fits a BC or diffusion policy to a demonstration directory, in Swift.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a diffusion or BC policy on demonstrations (the format `reflex collect` writes).",
        discussion: """
        Writes OUT/policy.yaml + OUT/model.safetensors (EMA weights), OUT/loss.csv and OUT/loss.svg, and a
        training state at every checkpoint: a killed run continues with --resume from the last one.
        Example: reflex train --algo diffusion --demos demos/lift --out policies/lift --steps 8000
        A camera policy, on frames recorded by reflex collect --camera front:96x96, seeing the cube only through them
        (lift's goal is 5 cm above the cube's start, so it goes too):
                 reflex train --demos demos/lift-cam --camera front --exclude-features cube,goal --out policies/lift-cam
        """)

    enum Algo: String, ExpressibleByArgument, CaseIterable { case diffusion, bc }
    enum Prediction: String, ExpressibleByArgument, CaseIterable { case epsilon, sample }

    @Option(help: "diffusion or bc.") var algo: Algo = .diffusion
    @Option(help: "Demonstration directory (meta.json + demos.safetensors).") var demos: String
    @Option(help: "Policy directory to write.") var out: String
    @Option(help: "Optimizer steps.") var steps = 8000
    @Option(help: "Minibatch size.") var batchSize = 256
    @Option(help: "Peak learning rate (AdamW, cosine decay with warm-up).") var lr: Float = 1e-3
    @Option(help: "Seed for initialization and minibatches.") var seed: UInt64 = 0
    @Option(help: "Observations per inference.") var nObsSteps = 2
    @Option(help: "Actions per predicted chunk (H).") var horizon = 16
    @Option(help: "Actions executed per chunk.") var nActionSteps = 8
    @Option(help: "Hidden layer widths, comma-separated.") var hidden = "512,512,512"
    @Option(help: "What the denoiser predicts: epsilon (as the papers) or sample (x₀).") var prediction: Prediction = .epsilon
    @Option(help: "Default sampler written to policy.yaml (ddpm, ddim:N, rti:2,1,0, …).") var sampler = "ddpm"
    @Option(help: "Gripper handling for RTI: none, clip or scale (dimensions named *gripper*).")
    var gripper: GripperConfig.Handling = .none
    @Option(help: "Write a checkpoint every N steps.") var checkpointEvery = 1000
    @Option(help: "Threads for the kernels.") var threads = 2
    @Flag(help: "Continue from OUT's training state.") var resume = false
    @Flag(help: "Save the raw weights instead of their exponential moving average.") var noEma = false
    @Option(help: ArgumentHelp("A camera of the demonstrations (reflex collect --camera) whose frames condition the policy through a trained conv encoder; repeatable; 'all' for every camera in the file (diffusion only).", valueName: "name"))
    var camera: [String] = []
    @Option(help: ArgumentHelp("Leave out of the policy's inputs every observation whose name contains one of these, comma-separated (e.g. cube: the policy sees the cube only through its camera).", valueName: "names"))
    var excludeFeatures: String?
    @Option(help: ArgumentHelp("Camera policies: weight of an auxiliary loss in which a linear head on the camera features predicts the excluded features (privileged supervision while training only; the policy still sees them only through its cameras); 0 for none.", valueName: "weight"))
    var auxiliaryWeight: Float = 0
    @Option(help: ArgumentHelp("Camera policies: shift each training frame by up to N pixels each way, edges repeated (DrQ's random shift); 0 for none.", valueName: "N"))
    var randomShift = 0
    @Option(help: ArgumentHelp("Camera policies: the encoder's stage widths, comma-separated (each stage halves the map; default 16,32,32,64).", valueName: "widths"))
    var encoderChannels: String?
    @Option(help: "Camera policies: spatial-softmax keypoints of the encoder (default 32).") var keypoints: Int?

    func run() throws {
        KernelBuild.setThreads(threads)
        var options = PolicyTrainingOptions()
        options.kind = algo == .diffusion ? .diffusion : .bc
        (options.steps, options.batchSize, options.learningRate, options.seed) = (steps, batchSize, lr, seed)
        (options.nObsSteps, options.horizon, options.nActionSteps) = (nObsSteps, horizon, nActionSteps)
        options.hiddenSizes = try hidden.split(separator: ",").map { s -> Int in
            guard let n = Int(s), n > 0 else { throw ValidationError("--hidden: '\(s)' is not a positive integer") }
            return n
        }
        options.prediction = prediction == .epsilon ? .epsilon : .sample
        options.sampler = try SamplerSpec(parsing: sampler)
        (options.gripper, options.checkpointEvery, options.noEMA) = (gripper, checkpointEvery, noEma)
        options.cameras = camera
        options.excludeFeatures = excludeFeatures.map { $0.split(separator: ",").map(String.init) } ?? []
        (options.auxiliaryWeight, options.randomShift, options.keypoints) = (auxiliaryWeight, randomShift, keypoints)
        options.encoderChannels = try encoderChannels.map { list in
            try list.split(separator: ",").map { s -> Int in
                guard let n = Int(s), n > 0 else { throw ValidationError("--encoder-channels: '\(s)' is not a positive integer") }
                return n
            }
        }
        let session = try PolicyTrainingSession(options: options, demonstrations: demos, directory: out, resume: resume,
                                                trainedWith: (["reflex"] + CommandLine.arguments.dropFirst()).joined(separator: " "))
        let t = session.trainer
        let cameraNote = t.encoders.isEmpty ? "" : " + \(t.encoders.reduce(0) { $0 + $1.parameterCount }) encoder parameters (\((t.config.cameras ?? []).map { "\($0.name) \($0.encoder.imageWidth)×\($0.encoder.imageHeight)" }.joined(separator: ", ")))"
        if resume { FileHandle.standardError.write(Data("resuming \(out) at step \(t.step)\n".utf8)) }
        print("training \(algo.rawValue) on \(t.data.episodes.count) episodes (\(t.data.stepCount) steps): " +
              "\(t.network.parameterCount) parameters\(cameraNote), batch \(batchSize), \(steps) steps, \(threads) threads")
        let progress = ProgressLine(total: steps, label: "train")
        let start = Date()
        try session.run { step, loss in
            let aux = t.auxiliary == nil ? "" : String(format: ", auxiliary %.4f", t.auxiliaryLoss)
            progress.update(step, status: String(format: "loss %.4f", loss) + aux)
        }
        progress.finish(String(format: "loss %.4f", session.losses.last?.y ?? .nan))
        print("wrote \(out) (\(String(format: "%.1f", Date().timeIntervalSince(start))) s); loss curve \(out)/loss.svg")
    }
}

extension GripperConfig.Handling: ExpressibleByArgument {}
