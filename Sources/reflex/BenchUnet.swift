import ArgumentParser
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
    @Option(help: "Weight storage: f32, or bf16 (F32 compute; also reports its error against F32).") var weights = "f32"
    @Flag(help: "Print JSON instead of a table.") var json = false

    struct Report: Codable {
        var parameters: Int
        var weightBytes: Int
        var threads: Int
        var simd: String
        var readBandwidthGBs: Double
        var floorMs: Double
        var steps: [String: TimingSamples]
        var storage: String
        /// bf16 only: max |y_bf16 − y_f32| / max |y_f32| over one K-chunk step.
        var relativeErrorVsF32: Double?
    }

    func run() throws {
        let dims = downDims.split(separator: ",").compactMap { Int($0) }
        guard !dims.isEmpty, k >= 1, threads >= 1 else { throw ValidationError("--down-dims, --k and --threads need positive integers") }
        KernelBuild.setThreads(threads)
        defer { KernelBuild.setThreads(1) }
        let config = ConditionalUnet1DConfig(actionSize: action, globalConditionSize: observation * nObs, downDims: dims)
        guard let storage = WeightStorage(rawValue: weights) else { throw ValidationError("--weights must be f32 or bf16") }
        var gen = RandomGenerator(seed: 0)
        let net: ConditionalUnet1D
        let denoiser: ConditionalUnetDenoiser
        var reference: ConditionalUnetDenoiser?
        do {
            var g2 = gen
            net = try ConditionalUnet1D.random(config: config, storage: storage, generator: &gen)
            denoiser = try ConditionalUnetDenoiser(network: net, horizon: horizon, maxBatch: k)
            if storage != .f32 { // the same random weights in F32, for the error
                reference = try ConditionalUnetDenoiser(network: try ConditionalUnet1D.random(config: config, generator: &g2),
                                                        horizon: horizon, maxBatch: k)
            }
        } catch let e as ReflexError {
            throw ValidationError(e.description)
        }
        let x = Tensor(zeros: [k, horizon, action]), y = Tensor(zeros: [k, horizon, action])
        let cond = Tensor(zeros: [config.globalConditionSize])
        gen.fillGaussian(x)
        gen.fillGaussian(cond)
        var relativeError: Double?
        if let reference {
            let yRef = Tensor(zeros: [k, horizon, action])
            reference.predict(x.data, timestep: 10, condition: cond.data, conditionBatch: 1, batch: k, output: yRef.data)
            denoiser.predict(x.data, timestep: 10, condition: cond.data, conditionBatch: 1, batch: k, output: y.data)
            var diff: Float = 0, scale: Float = 0
            for i in 0 ..< yRef.count {
                diff = max(diff, abs(y.data[i] - yRef.data[i]))
                scale = max(scale, abs(yRef.data[i]))
            }
            relativeError = Double(diff / max(scale, 1e-30))
        }
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
        let weightBytes = net.parameterCount * (storage == .f32 ? 4 : 2)
        let big = Tensor(shape: [weightBytes / 4], repeating: 1)
        var sink = 0.0
        let stream = measure(warmup: 1, rounds: 7, calls: 1) { sink += MachineProbe.streamSum(big.data, count: big.count) }
        let bandwidth = Double(weightBytes) / (stream.median * 1e-6) / 1e9
        let report = Report(parameters: net.parameterCount, weightBytes: weightBytes, threads: threads, simd: KernelBuild.simd,
                            readBandwidthGBs: bandwidth, floorMs: stream.median / 1000, steps: steps,
                            storage: storage.rawValue, relativeErrorVsF32: relativeError)
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        } else {
            print("ConditionalUnet1D down_dims \(dims), \(report.parameters) parameters (\(weightBytes / 1_000_000) MB \(storage.rawValue)), horizon \(horizon), \(threads) thread(s)")
            if let relativeError { print("bf16 weights: max relative error of one step against F32 \(relativeError)") }
            print("read bandwidth \(fmt(bandwidth)) GB/s → floor \(fmt(report.floorMs)) ms per step (weights read once)" + (sink == 0 ? " " : ""))
            print(table(["K", "median ms", "p10 ms", "p90 ms", "× floor"], steps.sorted { (Int($0.key.dropFirst()) ?? 0) < (Int($1.key.dropFirst()) ?? 0) }.map { key, s in
                return [String(key.dropFirst()), fmt(s.median / 1000), fmt(s.p10 / 1000), fmt(s.p90 / 1000), fmt(s.median / 1000 / report.floorMs)]
            }))
        }
    }
}
