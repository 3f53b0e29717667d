import ArgumentParser
import Foundation
import ReflexCore
import ReflexNN

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Reflex's hot paths (peers run from Benchmarks/peers in the same session).",
        subcommands: [BenchNN.self, BenchDenoiser.self, BenchUnet.self, BenchEncoder.self, BenchACT.self, BenchLoop.self, BenchSAC.self, BenchSACCurves.self, BenchSim.self, BenchRender.self]
    )
}

/// The two network figures of the foundation: batch-1 MLP inference and one training step.
struct BenchNN: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nn",
        abstract: "MLP inference (batch 1, 64→3×256 Mish→16) and a training step (batch 256, 64→2×256 ReLU→16, MSE, Adam)."
    )

    @Option(help: "Timed rounds per figure.") var rounds = 21
    @Option(help: "Thread counts for the training step (comma separated).") var threads = "1,2"
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        let report = BenchNNReport.run(rounds: rounds, threadCounts: threads.split(separator: ",").compactMap { Int($0) })
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        } else {
            print("kernels: \(KernelBuild.simd) (optimized: \(KernelBuild.optimized))")
            var rows = [["mlp_infer_b1", "1", fmt(report.inference.median), fmt(report.inference.p10), fmt(report.inference.p90)]]
            for t in report.training {
                rows.append(["train_step_b256", "\(t.threads)", fmt(t.samples.median), fmt(t.samples.p10), fmt(t.samples.p90)])
            }
            print(table(["figure", "threads", "median µs", "p10 µs", "p90 µs"], rows))
        }
    }
}

struct BenchNNReport: Codable {
    struct Training: Codable {
        var threads: Int
        var samples: TimingSamples
    }

    var simd: String
    var inference: TimingSamples
    var training: [Training]

    static func run(rounds: Int, threadCounts: [Int]) -> BenchNNReport {
        var gen = RandomGenerator(seed: 0)
        // Inference: one observation through 64 → 256 → 256 → 256 → 16 with Mish, single thread.
        KernelBuild.setThreads(1)
        let inferConfig = MLPConfig(inputSize: 64, hiddenSizes: [256, 256, 256], outputSize: 16, activation: .mish)
        let infer = MLP(config: inferConfig, generator: &gen)
        let ws = MLPWorkspace(config: inferConfig, maxBatch: 1)
        let x = Tensor(zeros: [1, 64])
        gen.fillGaussian(x)
        let y = Tensor(zeros: [1, 16])
        let inference = measure(warmup: 2000, rounds: rounds, calls: 2000) {
            infer.evaluate(x.data, batch: 1, output: y.data, workspace: ws)
        }

        // Training step: forward, MSE gradient, backward, Adam — batch 256.
        let trainConfig = MLPConfig(inputSize: 64, hiddenSizes: [256, 256], outputSize: 16, activation: .relu)
        var training: [Training] = []
        for t in threadCounts {
            KernelBuild.setThreads(t)
            let net = MLP(config: trainConfig, generator: &gen)
            let tape = MLPTape(config: trainConfig, maxBatch: 256)
            let grad = Tensor(zeros: [net.parameterCount])
            var adam = Adam(parameterCount: net.parameterCount, config: .init(learningRate: 1e-3))
            let xb = Tensor(zeros: [256, 64]), yb = Tensor(zeros: [256, 16]), dy = Tensor(zeros: [256, 16])
            gen.fillGaussian(xb)
            gen.fillGaussian(yb)
            let samples = measure(warmup: 50, rounds: rounds, calls: 50) {
                let out = net.forward(xb.data, batch: 256, tape: tape)
                let scale = 2 / Float(256 * 16)
                for i in 0 ..< 256 * 16 { dy.data[i] = scale * (out[i] - yb.data[i]) }
                grad.fill(0)
                net.backward(tape: tape, outputGradient: dy.data, gradient: grad, inputGradient: nil)
                adam.update(parameters: net.parameters, gradient: grad)
            }
            training.append(Training(threads: t, samples: samples))
        }
        KernelBuild.setThreads(1)
        return BenchNNReport(simd: KernelBuild.simd, inference: inference, training: training)
    }
}
