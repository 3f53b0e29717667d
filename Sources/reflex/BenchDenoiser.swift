import ArgumentParser
import Foundation
import ReflexCore
import ReflexNN
import ReflexPolicy

/// One denoiser evaluation at batch 1 (and K candidates), the unit cost of every sampler.
struct BenchDenoiser: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "denoiser",
        abstract: "Time one evaluation of the MLP denoiser (batch 1 and K candidates) with random weights, and one RTC-guided evaluation (forward pass plus vector-Jacobian product)."
    )

    @Option(help: "Hidden layer widths.") var hidden = "512,512,512"
    @Option(help: "Chunk horizon H.") var horizon = 16
    @Option(help: "Action size A.") var action = 6
    @Option(help: "Observation size per step.") var observation = 32
    @Option(help: "Observation steps in the condition.") var nObs = 2
    @Option(help: "Batch sizes (candidates K) to time, comma separated.") var batches = "1,8"
    @Option(help: "Kernel threads.") var threads = 1
    @Option(help: "Timed rounds.") var rounds = 21
    @Flag(help: "Print JSON instead of a table.") var json = false
    @Option(help: "Instead of timing: how much a diffusion policy's x₀ estimate depends on the noisy chunk, ‖vᵀ ∂x̂₀/∂x_t‖ for random unit v, at several timesteps (what RTC's guidance can move; docs/delay.md).")
    var jacobianOf: String?

    func run() throws {
        if let dir = jacobianOf {
            guard let policy = try PolicyDirectory.load(dir) as? DiffusionPolicy else {
                throw ValidationError("--jacobian-of needs a diffusion policy directory")
            }
            var gen = RandomGenerator(seed: 0)
            let T = policy.scheduler.config.trainTimesteps
            let steps = [T - 1, 2 * T / 3, T / 3, T / 10, 0]
            var rows: [[String]] = []
            for t in steps {
                guard let gain = policy.x0JacobianGain(timestep: t, probes: 64, generator: &gen) else {
                    throw ValidationError("the policy's denoiser has no vector-Jacobian product")
                }
                rows.append(["\(t)", String(format: "%.4f", gain)])
            }
            print("\(dir): \(policy.scheduler.config.predictionType.rawValue) prediction, 64 probes per timestep")
            print(table(["t", "mean ‖vᵀ ∂x̂₀/∂x_t‖"], rows))
            return
        }
        let sizes = hidden.split(separator: ",").compactMap { Int($0) }
        let ks = batches.split(separator: ",").compactMap { Int($0) }
        guard !sizes.isEmpty, !ks.isEmpty else { throw ValidationError("--hidden and --batches need integers") }
        KernelBuild.setThreads(threads)
        defer { KernelBuild.setThreads(1) }
        let config = MLPDenoiserConfig(hiddenSizes: sizes)
        let cond = observation * nObs
        var gen = RandomGenerator(seed: 0)
        let mlp = MLP(config: config.mlp(horizon: horizon, actionSize: action, conditionSize: cond), generator: &gen)
        let kMax = ks.max() ?? 1
        let d = MLPDenoiser(config: config, network: mlp, horizon: horizon, actionSize: action, conditionSize: cond,
                            trainTimesteps: 100, maxBatch: kMax)
        let x = Tensor(zeros: [kMax, horizon * action]), c = Tensor(zeros: [cond]), y = Tensor(zeros: [kMax, horizon * action])
        gen.fillGaussian(x)
        gen.fillGaussian(c)
        var results: [String: TimingSamples] = [:]
        for k in ks {
            results["k\(k)"] = measure(warmup: 200, rounds: rounds, calls: 500) {
                d.predict(x.data, timestep: 10, condition: c.data, conditionBatch: 1, batch: k, output: y.data)
            }
        }
        let v = Tensor(zeros: [horizon * action]), g = Tensor(zeros: [horizon * action])
        gen.fillGaussian(v)
        results["guided"] = measure(warmup: 200, rounds: rounds, calls: 500) {
            d.predictForGuidance(x.data, timestep: 10, condition: c.data, output: y.data)
            d.vectorJacobianProduct(v.data, into: g.data)
        }
        let report = ["parameters": Double(mlp.parameterCount), "threads": Double(threads)]
        if json {
            struct Out: Encodable { var meta: [String: Double]; var timings: [String: TimingSamples] }
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            print(String(decoding: try enc.encode(Out(meta: report, timings: results)), as: UTF8.self))
        } else {
            print("MLP denoiser \(mlp.config.widths), \(mlp.parameterCount) parameters (\(mlp.parameterCount * 4 / 1024) KB), \(threads) thread(s)")
            let rows = ks.map { "k\($0)" } + ["guided"]
            print(table(["K", "median µs", "p10 µs", "p90 µs"], rows.compactMap { key in
                guard let s = results[key] else { return nil }
                return [key == "guided" ? "1 + VJP (RTC guidance)" : String(key.dropFirst()), fmt(s.median), fmt(s.p10), fmt(s.p90)]
            }))
        }
    }
}
