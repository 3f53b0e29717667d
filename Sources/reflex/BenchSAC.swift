import ArgumentParser
import Foundation
import ReflexCore
import ReflexNN
import ReflexRL

/// `reflex bench sac`: a whole SAC training run on Pendulum in one of the peers' configurations, timed end to end
/// (environment steps, acting, updates; no evaluation inside the timed part), then a final evaluation.
struct BenchSAC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sac",
        abstract: "Time SAC training on Pendulum in RLtools' or rl-zoo3/SB3's configuration; report wall time, steps/s and the final return.",
        discussion: """
        rltools: 2 hidden layers of 64 ReLU, batch 100, Adam lr 1e-3 (eps 1e-7), alpha0 0.5, 10,000 steps, 100 warm-up.
        sb3:     2x256 ReLU, batch 256, lr 1e-3, alpha0 1, 20,000 steps, 100 warm-up (rl-zoo3 hyperparams/sac.yml).
        Peers: Benchmarks/peers/sac_rltools.py and sac_sb3.py; Benchmarks/peers/sac_compare.py runs both side by side.
        """
    )

    @Option(help: "rltools or sb3.") var preset = "rltools"
    @Option(help: "Seeds to run, comma separated (one run each).") var seeds = "0"
    @Option(help: "Kernel threads.") var threads = 1
    @Option(help: "Override the preset's step count.") var steps: Int?
    @Option(help: "Evaluation episodes after training.") var evalEpisodes = 10
    @Option(help: "sac or dsac-t (DSAC-T with the preset's sizes and policy delay 2).") var algo = "sac"
    @Flag(help: "Print JSON instead of a table.") var json = false

    struct Run: Codable {
        var seed: UInt64
        var seconds: Double
        /// Process CPU time (user + system) of the timed loop: on a shared machine, the fairer single-thread figure.
        var cpuSeconds: Double
        var stepsPerSecond: Double
        var finalMeanReturn: Double
        var finalStdReturn: Double
    }

    struct Report: Codable {
        var preset: String
        var algo: String
        var threads: Int
        var steps: Int
        var simd: String
        var runs: [Run]
        var medianSeconds: Double
        var meanFinalReturn: Double
    }

    func run() throws {
        var config: OffPolicyConfig
        var totalSteps: Int
        switch preset {
        case "rltools": (config, totalSteps) = (.rltools, 10_000)
        case "sb3": (config, totalSteps) = (.sb3Zoo, 20_000)
        default: throw ValidationError("--preset must be rltools or sb3")
        }
        if algo == "dsac-t" { config.policyDelay = 2 } else if algo != "sac" { throw ValidationError("--algo must be sac or dsac-t") }
        if let steps { totalSteps = steps }
        let seedList = seeds.split(separator: ",").compactMap { UInt64($0) }
        guard !seedList.isEmpty else { throw ValidationError("--seeds needs integers") }
        KernelBuild.setThreads(threads)
        defer { KernelBuild.setThreads(1) }
        var runs: [Run] = []
        for seed in seedList {
            let learner = try (algo == "dsac-t" ? OffPolicyAlgorithm.dsacT : .sac)
                .makeLearner(observationSize: 3, actionSize: 1, config: config, seed: seed)
            let trainer = try OffPolicyTrainer(environment: Pendulum(), evaluationEnvironment: Pendulum(), learner: learner,
                                               config: TrainerConfig(totalSteps: totalSteps, warmupSteps: 100,
                                                                     evaluationInterval: 0, checkpointInterval: 0),
                                               seed: seed)
            let c0 = processCPUSeconds(), t0 = monotonicNanoseconds()
            while !trainer.finished { trainer.advance() }
            let seconds = Double(monotonicNanoseconds() - t0) / 1e9, cpu = processCPUSeconds() - c0
            let eval = trainer.evaluate(episodes: evalEpisodes)
            runs.append(Run(seed: seed, seconds: seconds, cpuSeconds: cpu, stepsPerSecond: Double(totalSteps) / seconds,
                            finalMeanReturn: eval.meanReturn, finalStdReturn: eval.stdReturn))
            if !json {
                FileHandle.standardError.write(Data("seed \(seed): \(fmt(seconds, 3)) s, return \(fmt(eval.meanReturn, 1))\n".utf8))
            }
        }
        let report = Report(preset: preset, algo: algo, threads: threads, steps: totalSteps, simd: KernelBuild.simd, runs: runs,
                            medianSeconds: Statistics.median(runs.map(\.seconds)),
                            meanFinalReturn: Statistics.mean(runs.map(\.finalMeanReturn)))
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        } else {
            print("\(algo) on Pendulum, preset \(preset): \(totalSteps) steps, \(threads) thread(s), kernels \(KernelBuild.simd)")
            print(table(["seed", "wall s", "cpu s", "steps/s", "final return (mean ± std)"], runs.map {
                ["\($0.seed)", fmt($0.seconds, 3), fmt($0.cpuSeconds, 3), fmt($0.stepsPerSecond, 0), "\(fmt($0.finalMeanReturn, 1)) ± \(fmt($0.finalStdReturn, 1))"]
            }))
            print("median wall time \(fmt(report.medianSeconds, 3)) s, mean final return \(fmt(report.meanFinalReturn, 1))")
        }
    }
}

/// User + system CPU time of this process so far.
func processCPUSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
}
