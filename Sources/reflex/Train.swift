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

    func run() throws {
        KernelBuild.setThreads(threads)
        let (data, meta) = try Demonstrations.load(directory: demos)
        let gripperDims = meta.actionNames.enumerated().filter { $0.element.lowercased().contains("gripper") }.map(\.offset)
        let sampleSpec = try SamplerSpec(parsing: sampler)
        let hiddenSizes = try hidden.split(separator: ",").map { s -> Int in
            guard let n = Int(s), n > 0 else { throw ValidationError("--hidden: '\(s)' is not a positive integer") }
            return n
        }
        var scheduler = NoiseScheduler.Config()
        scheduler.predictionType = prediction == .epsilon ? .epsilon : .sample
        let config = PolicyConfig(
            kind: algo == .diffusion ? .diffusion : .bc, observationSize: data.observationSize, actionSize: data.actionSize,
            nObsSteps: nObsSteps, horizon: horizon, nActionSteps: nActionSteps,
            normalization: .init(observation: .identity(size: data.observationSize), action: .identity(size: data.actionSize)),
            network: .init(hiddenSizes: hiddenSizes, activation: .mish, layerNorm: true, timeEmbeddingSize: 64),
            gripper: gripperDims.isEmpty ? nil : GripperConfig(dims: gripperDims, handling: gripper),
            scheduler: algo == .diffusion ? scheduler : nil, sampler: algo == .diffusion ? sampleSpec : nil,
            notes: ["robot": meta.robot, "task": meta.task, "demonstrations": demos,
                    "episodes": String(data.episodes.count), "observation_names": meta.observationNames.joined(separator: ","),
                    "action_names": meta.actionNames.joined(separator: ","), "control_hz": String(meta.controlHz),
                    "trained_with": (["reflex"] + CommandLine.arguments.dropFirst()).joined(separator: " ")])
        let training = TrainingConfig(steps: steps, batchSize: batchSize, learningRate: lr, warmupSteps: min(300, steps / 10),
                                      emaDecay: noEma ? nil : 0.995, seed: seed)
        let trainer = try PolicyTrainer(config: config, data: data, training: training)
        try makeDirectory(out)
        var losses: [(x: Double, y: Double)] = []
        let csvPath = out + "/loss.csv"
        if resume {
            try trainer.restore(from: out)
            if let text = try? String(contentsOfFile: csvPath, encoding: .utf8) {
                for line in text.split(separator: "\n").dropFirst() {
                    let f = line.split(separator: ",")
                    if f.count == 2, let x = Double(f[0]), let y = Double(f[1]), Int(x) < trainer.step { losses.append((x, y)) }
                }
            }
            FileHandle.standardError.write(Data("resuming \(out) at step \(trainer.step)\n".utf8))
        }
        print("training \(algo.rawValue) on \(data.episodes.count) episodes (\(data.stepCount) steps) of \(meta.robot):\(meta.task): " +
              "\(trainer.network.parameterCount) parameters, batch \(batchSize), \(steps) steps, \(threads) threads")
        let progress = ProgressLine(total: steps, label: "train")
        var window: [Float] = []
        let start = Date()
        func writeCurves() throws {
            let csv = "step,loss\n" + losses.map { "\(Int($0.x)),\($0.y)" }.joined(separator: "\n") + "\n"
            try writeFileAtomically(Array(csv.utf8), to: csvPath)
            var plot = LinePlot(title: "\(algo.rawValue) training loss — \(meta.task)", xLabel: "step", yLabel: "loss (mean of 50 steps)")
            plot.logY = true
            plot.series = [.init(name: "loss", points: losses)]
            try plot.write(to: out + "/loss.svg")
        }
        while trainer.step < steps {
            window.append(trainer.trainStep())
            if window.count == 50 || trainer.step == steps {
                let mean = Double(window.reduce(0, +)) / Double(window.count)
                losses.append((Double(trainer.step), mean))
                window.removeAll(keepingCapacity: true)
                progress.update(trainer.step, status: String(format: "loss %.4f", mean))
            }
            if trainer.step % checkpointEvery == 0 || trainer.step == steps {
                try trainer.checkpoint(to: out)
                try writeCurves()
            }
        }
        progress.finish(String(format: "loss %.4f", losses.last?.y ?? .nan))
        print("wrote \(out) (\(String(format: "%.1f", Date().timeIntervalSince(start))) s); loss curve \(out)/loss.svg")
    }
}

extension GripperConfig.Handling: ExpressibleByArgument {}
