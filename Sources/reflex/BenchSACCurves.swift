import ArgumentParser
import Foundation
import ReflexCore
import ReflexDeployment
import ReflexRL
import ReflexSim

/// `reflex bench sac-curves`: SAC and DSAC-T on one environment over several seeds — learning curves on one plot,
/// and each critic's Q-estimate bias against Monte-Carlo returns of its own policy at every evaluation.
struct BenchSACCurves: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sac-curves",
        abstract: "SAC vs DSAC-T learning curves over seeds (one plot) and Q-bias against Monte-Carlo returns.",
        discussion: """
        Both learners use the same network sizes and learning rates (--preset, default rltools: 2x64 ReLU, batch 100,
        lr 1e-3), so the comparison is of the algorithms; DSAC-T updates its actor every 2nd critic update.
        Writes <env>-curves.svg, <env>-qbias.svg and <env>-curves.csv into --out.
        """
    )

    @Option(help: "pendulum or robot:task (so101:reach, …).") var env = "pendulum"
    @Option(help: "Seeds, comma separated.") var seeds = "0,1,2,3,4"
    @Option(help: "Environment steps per run.") var steps = 10_000
    @Option(help: "Evaluate (and measure Q-bias) every N steps.") var evalEvery = 1000
    @Option(help: "Deterministic evaluation episodes.") var evalEpisodes = 10
    @Option(help: "Stochastic episodes for the Q-bias measurement.") var biasEpisodes = 3
    @Option(help: "rltools, sb3, sac or dsac-t sizes for both learners.") var preset = "rltools"
    @Option(help: "Output directory.") var out = "sac-curves"

    struct Point: Codable {
        var algo: String
        var seed: UInt64
        var step: Int
        var meanReturn: Double
        var successRate: Double
        var qBias: Double
        var qBiasStd: Double
        var monteCarloReturn: Double
    }

    func run() throws {
        let seedList = seeds.split(separator: ",").compactMap { UInt64($0) }
        guard !seedList.isEmpty, evalEvery > 0 else { throw ValidationError("--seeds needs integers, --eval-every > 0") }
        guard let base = OffPolicyPreset(rawValue: preset)?.config else {
            throw ValidationError("--preset must be one of \(OffPolicyPreset.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        KernelBuild.setThreads(1)
        var points: [Point] = []
        for algo in ["sac", "dsac-t"] {
            for seed in seedList {
                var config = base
                config.policyDelay = algo == "dsac-t" ? 2 : 1
                do {
                    if env == "pendulum" {
                        points += try runOne(algo: algo, seed: seed, config: config, make: { Pendulum() })
                    } else {
                        _ = try SimTask.parse(env)
                        points += try runOne(algo: algo, seed: seed, config: config, make: { try SimTask.make(env) })
                    }
                } catch let e as ReflexError {
                    throw ValidationError(e.description)
                }
            }
        }
        try write(points)
    }

    func runOne<Env: Environment>(algo: String, seed: UInt64, config: OffPolicyConfig, make: () throws -> Env) throws -> [Point] {
        let environment = try make()
        let o = environment.observationSpace.size, a = environment.actionSpace.size
        let learner = try (algo == "dsac-t" ? OffPolicyAlgorithm.dsacT : .sac)
            .makeLearner(observationSize: o, actionSize: a, config: config, seed: seed)
        let trainer = try OffPolicyTrainer(environment: environment, evaluationEnvironment: try make(), learner: learner,
                                           config: TrainerConfig(totalSteps: steps, warmupSteps: 100, evaluationInterval: 0,
                                                                 checkpointInterval: 0),
                                           seed: seed)
        let biasEnvironment = try make()
        var out: [Point] = []
        let t0 = monotonicNanoseconds()
        while !trainer.finished {
            trainer.advance()
            if trainer.step % evalEvery == 0 || trainer.finished {
                let e = trainer.evaluate(episodes: evalEpisodes)
                let b = QBias.measure(learner: learner, environment: biasEnvironment, episodes: biasEpisodes,
                                      extraSteps: 3 * biasEnvironment.maxEpisodeSteps / 2)
                out.append(Point(algo: algo, seed: seed, step: trainer.step, meanReturn: e.meanReturn,
                                 successRate: e.successRate, qBias: b.meanBias, qBiasStd: b.stdBias,
                                 monteCarloReturn: b.meanReturn))
            }
        }
        let last = out[out.count - 1]
        FileHandle.standardError.write(Data(("\(algo) seed \(seed): return \(fmt(last.meanReturn, 1)), Q-bias \(fmt(last.qBias, 1)) "
            + "(MC return \(fmt(last.monteCarloReturn, 1))), \(fmt(Double(monotonicNanoseconds() - t0) / 1e9, 1)) s\n").utf8))
        return out
    }

    func write(_ points: [Point]) throws {
        let name = env.replacingOccurrences(of: ":", with: "-")
        var csv = "algo,seed,step,mean_return,success_rate,q_bias,q_bias_std,mc_return\n"
        for p in points {
            csv += "\(p.algo),\(p.seed),\(p.step),\(p.meanReturn),\(p.successRate),\(p.qBias),\(p.qBiasStd),\(p.monteCarloReturn)\n"
        }
        try writeFileAtomically(Array(csv.utf8), to: "\(out)/\(name)-curves.csv")
        var curves = LinePlot(title: "SAC vs DSAC-T on \(env): evaluation return, mean ± std over seeds",
                              xLabel: "environment steps", yLabel: "mean return (deterministic policy)")
        var bias = LinePlot(title: "Q-estimate bias against Monte-Carlo soft returns (mean ± std over seeds)",
                            xLabel: "environment steps", yLabel: "mean (Q̂ − G)")
        var rows: [[String]] = []
        for algo in ["sac", "dsac-t"] {
            let mine = points.filter { $0.algo == algo }
            let steps = Array(Set(mine.map(\.step))).sorted()
            func summary(_ key: KeyPath<Point, Double>) -> (pts: [(x: Double, y: Double)], band: [(low: Double, high: Double)]) {
                var pts: [(x: Double, y: Double)] = [], band: [(low: Double, high: Double)] = []
                for s in steps {
                    let v = mine.filter { $0.step == s }.map { $0[keyPath: key] }
                    let m = Statistics.mean(v), sd = Statistics.standardDeviation(v)
                    pts.append((Double(s), m))
                    band.append((m - sd, m + sd))
                }
                return (pts, band)
            }
            let r = summary(\.meanReturn), b = summary(\.qBias)
            let label = algo == "sac" ? "SAC" : "DSAC-T"
            curves.series.append(.init(name: label, points: r.pts, band: r.band, markers: true))
            bias.series.append(.init(name: label, points: b.pts, band: b.band, markers: true))
            let finals = mine.filter { $0.step == steps.last }
            let ret = finals.map(\.meanReturn), qb = finals.map(\.qBias), mc = finals.map(\.monteCarloReturn)
            rows.append([label, "\(finals.count)", "\(fmt(Statistics.mean(ret), 1)) ± \(fmt(Statistics.standardDeviation(ret), 1))",
                         "\(fmt(Statistics.mean(finals.map(\.successRate)) * 100, 0))%",
                         "\(fmt(Statistics.mean(qb), 2)) ± \(fmt(Statistics.standardDeviation(qb), 2))",
                         fmt(Statistics.mean(mc), 1)])
        }
        try curves.write(to: "\(out)/\(name)-curves.svg")
        try bias.write(to: "\(out)/\(name)-qbias.svg")
        print("\(env), \(steps) steps, preset \(preset), final evaluation (mean ± std over seeds)")
        print(table(["algo", "seeds", "return", "success", "Q-bias (Q̂ − G)", "MC return G"], rows))
        print("wrote \(out)/\(name)-curves.svg, \(name)-qbias.svg, \(name)-curves.csv")
    }
}
