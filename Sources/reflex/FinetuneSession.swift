import Foundation
import ReflexCore
import ReflexNN
import ReflexPolicy
import ReflexRL
import ReflexSteering

/// Runs one fine-tuning session over any `Environment`: builds the learner, resumes from the run directory when
/// asked, steps the trainer with a progress line, checkpoints between episodes, and writes the metrics CSV, the
/// learning-curve SVG and the final policy.
struct FinetuneSession {
    let spec: FinetuneSpec
    let directory: RunDirectory
    let quiet: Bool

    /// The learner in reports: the algorithm, or dsrl-sac / dsrl-na when steering a diffusion policy.
    var name: String { spec.dsrl.map { $0.variant == "na" ? "dsrl-na" : "dsrl-\(spec.algo)" } ?? spec.algo }

    func makeLearner(observationSize: Int, actionSize: Int) throws -> any OffPolicyLearner {
        // The networks' initial weights come from the run seed's first split, the trainer's stream from the seed.
        var gen = RandomGenerator(seed: spec.seed ^ 0x5EED_1EA2_0000_0000)
        if let d = spec.dsrl, d.variant == "na" {
            // Its own copy of the frozen policy, sized to denoise whole minibatches in one pass.
            guard let diffusion = try PolicyDirectory.load(d.policy, maxCandidates: spec.learner.batchSize) as? DiffusionPolicy else {
                throw ReflexError(.invalidPolicy, "not a diffusion policy", at: .init(file: d.policy))
            }
            let na = try DSRLNoiseAliasing(diffusion: diffusion, magnitude: d.magnitude, ddimSteps: d.ddimSteps,
                                           noiseCriticSteps: d.noiseCriticSteps ?? 1, config: spec.learner, generator: &gen)
            guard na.observationSize == observationSize, na.actionSize == actionSize else {
                throw ReflexError(.shapeMismatch, "DSRL-NA learner is \(na.observationSize)→\(na.actionSize), environment \(observationSize)→\(actionSize)")
            }
            return na
        }
        switch spec.algo {
        case "dsac-t": return try DSACT(observationSize: observationSize, actionSize: actionSize, config: spec.learner, generator: &gen)
        default: return try SAC(observationSize: observationSize, actionSize: actionSize, config: spec.learner, generator: &gen)
        }
    }

    func run<Env: Environment>(environment: Env, evaluationEnvironment: Env, resuming: Bool) throws {
        KernelBuild.setThreads(spec.threads)
        defer { KernelBuild.setThreads(1) }
        let learner = try makeLearner(observationSize: environment.observationSpace.size, actionSize: environment.actionSpace.size)
        let trainer = try OffPolicyTrainer(environment: environment, evaluationEnvironment: evaluationEnvironment,
                                           learner: learner, config: spec.trainer, seed: spec.seed)
        if resuming {
            let file = try directory.resumableCheckpoint()
            do {
                try RunDirectory.loadCheckpoint(file, into: trainer)
            } catch let e as ReflexError where e.code == .checkpointCorrupt {
                var e = e
                if file == directory.latestCheckpoint, FileManager.default.fileExists(atPath: directory.previousCheckpoint) {
                    e.message += "; the previous checkpoint \(directory.previousCheckpoint) is kept untouched — move it to checkpoint.safetensors to resume from it"
                }
                throw e
            }
            if !quiet { FileHandle.standardError.write(Data("resuming \(directory.path) at step \(trainer.step)\n".utf8)) }
        }
        let progress = quiet ? nil : ProgressLine(total: spec.trainer.totalSteps, label: "finetune \(name) \(spec.env)")
        let interval = spec.trainer.checkpointInterval
        var nextCheckpoint = interval > 0 ? (trainer.step / interval + 1) * interval : Int.max
        let start = monotonicNanoseconds()
        let startStep = trainer.step
        while !trainer.finished {
            trainer.advance()
            if trainer.atEpisodeBoundary && trainer.step >= nextCheckpoint && !trainer.finished {
                try directory.saveCheckpoint(trainer)
                try writeReports(trainer)
                nextCheckpoint = (trainer.step / interval + 1) * interval
            }
            if let progress {
                var status = "α \(fmt(Double(trainer.learner.alpha), 3))"
                if let r = trainer.episodeReturns.last { status += " return \(fmt(r.episodeReturn, 1))" }
                if let e = trainer.evaluations.last { status += " eval \(fmt(e.meanReturn, 1))" }
                progress.update(trainer.step, status: status)
            }
        }
        if spec.trainer.evaluationInterval == 0 || trainer.evaluations.last?.step != trainer.step {
            // Always end with an evaluation, so every run reports a final return.
            _ = appendFinalEvaluation(trainer)
        }
        let seconds = Double(monotonicNanoseconds() - start) / 1e9
        try directory.saveCheckpoint(trainer)
        try writeReports(trainer)
        try writeSafetensors(learner.policy.network.namedParameters(prefix: "policy."), to: directory.path + "/policy.safetensors",
                             metadata: ["algorithm": name, "environment": spec.env,
                                        "observation_size": String(learner.observationSize),
                                        "action_size": String(learner.actionSize),
                                        "action_low": environment.actionSpace.low.map { "\($0)" }.joined(separator: ","),
                                        "action_high": environment.actionSpace.high.map { "\($0)" }.joined(separator: ","),
                                        "hidden_sizes": spec.learner.actorHiddenSizes.map(String.init).joined(separator: ","),
                                        "activation": spec.learner.activation.rawValue])
        progress?.finish()
        let final = trainer.evaluations.last
        print("\(name) on \(spec.env): \(trainer.step) steps (\(trainer.step - startStep) this session) in \(fmt(seconds, 2)) s, "
              + "final mean return \(fmt(final?.meanReturn ?? .nan, 1)) ± \(fmt(final?.stdReturn ?? .nan, 1)) over \(final?.episodes ?? 0) episodes "
              + "(success \(fmt(100 * (final?.successRate ?? 0), 0))%); "
              + "wrote \(directory.path)")
    }

    private func appendFinalEvaluation<Env>(_ trainer: OffPolicyTrainer<Env>) -> EvaluationRecord {
        trainer.appendEvaluation(episodes: max(spec.trainer.evaluationEpisodes, 1))
    }

    /// metrics.csv (episode returns and evaluations by step) and learning_curve.svg, rewritten whole each time so a
    /// resumed run's files are complete.
    func writeReports<Env>(_ trainer: OffPolicyTrainer<Env>) throws {
        var rows: [(Int, String)] = trainer.episodeReturns.map { ($0.step, "\($0.step),\($0.episodeReturn),,,,,,,") }
        rows += trainer.evaluations.map {
            ($0.step, "\($0.step),,\($0.meanReturn),\($0.stdReturn),\($0.successRate),\($0.alpha),\($0.criticLoss),\($0.meanQ),\($0.meanSigma)")
        }
        rows.sort { $0.0 < $1.0 }
        let csv = "step,episode_return,eval_mean_return,eval_std_return,eval_success_rate,alpha,critic_loss,mean_q,mean_sigma\n"
            + rows.map(\.1).joined(separator: "\n") + "\n"
        try writeFileAtomically(Array(csv.utf8), to: directory.path + "/metrics.csv")
        var plot = LinePlot(title: "\(name) on \(spec.env) (seed \(spec.seed))", xLabel: "environment steps", yLabel: "return")
        plot.series.append(.init(name: "training episodes", points: trainer.episodeReturns.map { (Double($0.step), $0.episodeReturn) }))
        if !trainer.evaluations.isEmpty {
            plot.series.append(.init(name: "evaluation (mean ± std)",
                                     points: trainer.evaluations.map { (Double($0.step), $0.meanReturn) },
                                     band: trainer.evaluations.map { ($0.meanReturn - $0.stdReturn, $0.meanReturn + $0.stdReturn) },
                                     markers: true))
        }
        try writeFileAtomically(Array(plot.svg().utf8), to: directory.path + "/learning_curve.svg")
    }
}
