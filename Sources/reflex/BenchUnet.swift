import ArgumentParser
import CBridge
import Foundation
import ReflexCore
import ReflexNN
import ReflexPolicy

/// One denoising step of LeRobot's default diffusion U-Net (down_dims 512/1024/2048, ≈ 249M parameters) with random
/// weights, at K = 1 and K candidates, beside the memory-bandwidth floor measured in the same run.
struct BenchUnet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unet",
        abstract: "Time one U-Net denoising step (LeRobot's default ConditionalUnet1D, random weights) at K = 1 and K.",
        discussion: "Peer: Benchmarks/peers/unet.py times LeRobot's own U-Net on the same shapes."
    )

    @Option(help: "Candidate chunks per step (also timed: K = 1).") var k = 8
    @Option(help: "Kernel threads.") var threads = 1
    @Option(help: "Timed steps per figure.") var rounds = 15
    @Option(help: "U-Net widths (down_dims).") var downDims = "512,1024,2048"
    @Option(help: "Chunk horizon.") var horizon = 16
    @Option(help: "Action size.") var action = 2
    @Option(help: "Observation size per step (state + environment state).") var observation = 18
    @Option(help: "Observation steps in the condition.") var nObs = 2
    @Flag(help: "Print JSON instead of a table.") var json = false

    struct Report: Codable {
        var parameters: Int
        var weightBytes: Int
        var threads: Int
        var simd: String
        var readBandwidthGBs: Double
        var floorMs: Double
        var steps: [String: TimingSamples]
    }

    func run() throws {
        let dims = downDims.split(separator: ",").compactMap { Int($0) }
        guard !dims.isEmpty, k >= 1, threads >= 1 else { throw ValidationError("--down-dims, --k and --threads need positive integers") }
        KernelBuild.setThreads(threads)
        defer { KernelBuild.setThreads(1) }
        let config = ConditionalUnet1DConfig(actionSize: action, globalConditionSize: observation * nObs, downDims: dims)
        var gen = RandomGenerator(seed: 0)
        let net: ConditionalUnet1D
        let denoiser: ConditionalUnetDenoiser
        do {
            net = try ConditionalUnet1D.random(config: config, generator: &gen)
            denoiser = try ConditionalUnetDenoiser(network: net, horizon: horizon, maxBatch: k)
        } catch let e as ReflexError {
            throw ValidationError(e.description)
        }
        let x = Tensor(zeros: [k, horizon, action]), y = Tensor(zeros: [k, horizon, action])
        let cond = Tensor(zeros: [config.globalConditionSize])
        gen.fillGaussian(x)
        gen.fillGaussian(cond)
        var steps: [String: TimingSamples] = [:]
        for batch in Set([1, k]).sorted() {
            var t = 0
            steps["k\(batch)"] = measure(warmup: 2, rounds: rounds, calls: 1) {
                denoiser.predict(x.data, timestep: t % 100, condition: cond.data, conditionBatch: 1, batch: batch,
                                 output: y.data)
                t += 1
            }
        }
        // The floor: bytes of weights one step must read, over the read bandwidth of a buffer ≫ L3.
        let weightBytes = net.parameterCount * 4
        let big = Tensor(shape: [weightBytes / 4], repeating: 1)
        var sink = 0.0
        let stream = measure(warmup: 1, rounds: 7, calls: 1) { sink += rx_stream_sum(big.count, big.data) }
        let bandwidth = Double(weightBytes) / (stream.median * 1e-6) / 1e9
        let report = Report(parameters: net.parameterCount, weightBytes: weightBytes, threads: threads, simd: KernelBuild.simd,
                            readBandwidthGBs: bandwidth, floorMs: stream.median / 1000, steps: steps)
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        } else {
            print("ConditionalUnet1D down_dims \(dims), \(report.parameters) parameters (\(weightBytes / 1_000_000) MB F32), horizon \(horizon), \(threads) thread(s)")
            print("read bandwidth \(fmt(bandwidth)) GB/s → floor \(fmt(report.floorMs)) ms per step (weights read once)" + (sink == 0 ? " " : ""))
            print(table(["K", "median ms", "p10 ms", "p90 ms", "× floor"], steps.keys.sorted { Int($0.dropFirst())! < Int($1.dropFirst())! }.map { key in
                let s = steps[key]!
                return [String(key.dropFirst()), fmt(s.median / 1000), fmt(s.p10 / 1000), fmt(s.p90 / 1000), fmt(s.median / 1000 / report.floorMs)]
            }))
        }
    }
}
