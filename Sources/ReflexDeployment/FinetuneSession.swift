import Foundation
import ReflexCore
import ReflexNN
import ReflexPolicy
import ReflexRL
import ReflexRobot
import ReflexSim
import ReflexSteering

/// The options of a new fine-tuning run, each optional (unset: the preset's or the default): what `reflex finetune`
/// parses and an embedder fills in. `makeSpec()` turns them into a validated `FinetuneSpec`.
public struct FinetuneOptions: Sendable {
    public var algo: OffPolicyAlgorithm?
    public var env: String?
    public var seed: UInt64?
    public var steps: Int?
    public var preset: String?
    public var hidden: [Int]?
    public var activation: Activation?
    public var batch: Int?
    public var learningRate: Float?
    public var updatesPerStep: Int?
    public var warmup: Int?
    public var policyDelay: Int?
    public var distributionalLoss: DistributionalCriticLoss?
    public var evaluationInterval: Int?
    public var evaluationEpisodes: Int?
    public var checkpointInterval: Int?
    public var threads: Int?
    /// DSRL: the diffusion policy directory whose initial noise is learned.
    public var dsrlPolicy: String?
    public var dsrlMagnitude: Float?
    public var dsrlDDIMSteps: Int?
    public var dsrlReward: DSRLSettings.Reward?
    public var dsrlVariant: DSRLSettings.Variant?
    public var dsrlNoiseCriticSteps: Int?
    public var keep: FinetuneSpec.PolicySelection?
    /// SAC: critics in the ensemble (REDQ above 2) and how many the target's min is over.
    public var critics: Int?
    public var criticSubset: Int?
    /// Global gradient-norm bound of critic and actor steps.
    public var gradientClip: Float?
    /// The temperature's target entropy H̄.
    public var targetEntropy: Float?

    public init() {}

    /// The options set besides `steps`, by name (a resumed run takes only `steps`: its run.json fixes the rest).
    public var setOptionsBesidesSteps: [String] {
        let set: [(String, Bool)] = [
            ("algo", algo != nil), ("env", env != nil), ("seed", seed != nil), ("preset", preset != nil),
            ("hidden", hidden != nil), ("activation", activation != nil), ("batch", batch != nil), ("lr", learningRate != nil),
            ("utd", updatesPerStep != nil), ("warmup", warmup != nil), ("policy-delay", policyDelay != nil),
            ("dsac-loss", distributionalLoss != nil), ("eval-every", evaluationInterval != nil),
            ("eval-episodes", evaluationEpisodes != nil), ("checkpoint-every", checkpointInterval != nil),
            ("threads", threads != nil), ("dsrl", dsrlPolicy != nil), ("dsrl-magnitude", dsrlMagnitude != nil),
            ("dsrl-ddim-steps", dsrlDDIMSteps != nil), ("dsrl-reward", dsrlReward != nil), ("dsrl-variant", dsrlVariant != nil),
            ("dsrl-noise-critic-steps", dsrlNoiseCriticSteps != nil), ("keep", keep != nil),
            ("critics", critics != nil), ("critic-subset", criticSubset != nil), ("grad-clip", gradientClip != nil),
            ("target-entropy", targetEntropy != nil),
        ]
        return set.filter(\.1).map(\.0)
    }

    /// The presets `preset` may name: the algorithms' own, `dsrl`, `rltools` and `sb3`.
    public static let presetNames = OffPolicyPreset.allCases.map(\.rawValue) + ["dsrl"]

    /// A validated spec; relative policy paths become absolute against `currentDirectory`.
    public func makeSpec(currentDirectory: String = FileManager.default.currentDirectoryPath) throws -> FinetuneSpec {
        func bad(_ message: String) -> ReflexError { ReflexError(.invalidArgument, message) }
        if dsrlPolicy == nil, dsrlMagnitude != nil || dsrlDDIMSteps != nil || dsrlReward != nil || dsrlVariant != nil
            || dsrlNoiseCriticSteps != nil {
            throw bad("the DSRL options need a policy to steer (--dsrl POLICY)")
        }
        let algo = self.algo ?? .sac
        var learner: OffPolicyConfig
        switch preset ?? (dsrlPolicy != nil ? "dsrl" : OffPolicyPreset.default(for: algo).rawValue) {
        case "dsrl": learner = DSRLSettings.learnerPreset
        case let name:
            guard let p = OffPolicyPreset(rawValue: name) else {
                throw bad("unknown preset '\(name)' (\(Self.presetNames.joined(separator: ", ")))")
            }
            learner = p.config
        }
        if algo == .dsacT { learner.policyDelay = 2 }
        if let hidden {
            guard !hidden.isEmpty, hidden.allSatisfy({ $0 > 0 }) else { throw bad("hidden widths must be positive, got \(hidden)") }
            learner.actorHiddenSizes = hidden
            learner.criticHiddenSizes = hidden
        }
        if let activation { learner.activation = activation }
        if let batch { learner.batchSize = batch }
        if let learningRate { (learner.actorLearningRate, learner.criticLearningRate, learner.alphaLearningRate) = (learningRate, learningRate, learningRate) }
        if let policyDelay { learner.policyDelay = policyDelay }
        if let distributionalLoss {
            guard algo == .dsacT else { throw bad("the distributional critic loss applies to dsac-t, not \(algo.rawValue)") }
            learner.distributionalLoss = distributionalLoss
        }
        if let critics {
            guard algo == .sac, dsrlVariant ?? .sac == .sac else {
                throw bad("--critics applies to SAC and DSRL-SAC (DSAC-T's twin distributions and DSRL-NA's critics are two by design)")
            }
            learner.critics = critics
        }
        if let criticSubset {
            guard learner.criticCount > 2 else {
                throw bad("--critic-subset needs more than two critics (--critics N): with two, the target is already the min of both")
            }
            learner.criticSubset = criticSubset
        }
        if let gradientClip { learner.gradientClipNorm = gradientClip }
        if let targetEntropy {
            guard learner.learnAlpha else { throw bad("--target-entropy needs a learned temperature") }
            learner.targetEntropy = targetEntropy
        }
        let totalSteps = steps ?? 20_000
        var trainer = TrainerConfig(totalSteps: totalSteps, warmupSteps: warmup ?? 100, updatesPerStep: updatesPerStep ?? 1,
                                    evaluationInterval: evaluationInterval ?? 1000, evaluationEpisodes: evaluationEpisodes ?? 10,
                                    checkpointInterval: checkpointInterval ?? 2000)
        let env = self.env ?? "pendulum"
        _ = try FinetuneEnvironment(parsing: env)
        var spec = FinetuneSpec(run: TrainingRunSpec(algo: algo, env: env, seed: seed ?? 0, threads: threads ?? 1,
                                                     learner: learner, trainer: trainer), keep: keep)
        if let dsrlPolicy {
            // Absolute path: resuming from another directory must find the same policy.
            let path = dsrlPolicy.hasPrefix("/") ? dsrlPolicy : currentDirectory + "/" + dsrlPolicy
            guard try PolicyDirectory.readConfig(path).kind == .diffusion else {
                throw bad("DSRL steers a diffusion policy; \(dsrlPolicy) is not one")
            }
            let variant = dsrlVariant ?? .sac
            let d = DSRLSettings(policy: path, magnitude: dsrlMagnitude ?? 1.5, ddimSteps: dsrlDDIMSteps ?? 10,
                                 reward: dsrlReward ?? .sparse, variant: variant,
                                 noiseCriticSteps: variant == .na ? dsrlNoiseCriticSteps ?? 1 : dsrlNoiseCriticSteps)
            // Warm up with the base policy's own noise, N(0, I) (DSRL's init_rollout_steps).
            trainer.warmupGaussianStd = 1 / d.magnitude
            spec.run.trainer = trainer
            spec.dsrl = d
        }
        try spec.validate()
        return spec
    }
}

/// The environments fine-tuning can drive. Each case builds its `Environment` type and runs the generic session
/// over it, so a new task is one case here.
public enum FinetuneEnvironment: Sendable, Equatable {
    /// gymnasium's Pendulum-v1.
    case pendulum
    /// A ReflexSim arm task, `robot:task`.
    case sim(robot: String, task: TaskKind)

    public init(parsing name: String) throws {
        if name == "pendulum" {
            self = .pendulum
            return
        }
        guard name.contains(":") else {
            throw ReflexError(.invalidArgument, "unknown environment '\(name)' (pendulum, or robot:task such as so101:reach)")
        }
        let (robot, task) = try SimTask.parse(name)
        self = .sim(robot: robot, task: task)
    }
}

/// What a session reports when it ends.
public struct FinetuneOutcome: Sendable {
    public var learner: String
    public var environment: String
    public var steps: Int
    /// Steps run in this session (less than `steps` after a resume).
    public var stepsThisSession: Int
    public var seconds: Double
    public var finalEvaluation: EvaluationRecord?
    /// With `keep: best-evaluation`: the evaluation whose weights became `policy.safetensors`.
    public var selectedEvaluation: EvaluationRecord?
    public var directory: String
}

/// Progress of a running session, for a progress line.
public struct FinetuneProgress: Sendable {
    public var step: Int
    public var totalSteps: Int
    public var alpha: Double
    public var lastEpisodeReturn: Double?
    public var lastEvaluation: Double?
}

extension ReflexError.Code {
    /// A fine-tuning session stopped on request (SIGTERM) after checkpointing.
    public static let stopped = Self("stopped")
}

/// One fine-tuning session in a run directory: creates the run (or resumes it from its last checkpoint), steps the
/// trainer, checkpoints between episodes, and writes the metrics CSV, the learning-curve SVG and the final policy.
/// A killed session resumes exactly (`resume(directory:)`).
public struct FinetuneSession {
    public let spec: FinetuneSpec
    public let directory: RunDirectory
    public let resuming: Bool

    /// A new run in `path` (which must not hold one); writes `run.json`.
    public static func create(spec: FinetuneSpec, path: String) throws -> FinetuneSession {
        try spec.validate()
        let dir = RunDirectory(path: path)
        if FileManager.default.fileExists(atPath: dir.runFile) {
            throw ReflexError(.invalidArgument, "\(path) already holds a run; continue it with --resume \(path) or pick another directory")
        }
        try dir.create()
        try spec.write(to: dir)
        return FinetuneSession(spec: spec, directory: dir, resuming: false)
    }

    /// Continues the run in `path` as its `run.json` says; `steps` (if given) extends or ends it early. Only the
    /// budget may change: the steps before it are the same whatever the budget (nothing is scheduled on the
    /// total), so extending or ending a run early keeps it reproducible.
    public static func resume(path: String, steps: Int? = nil) throws -> FinetuneSession {
        let dir = RunDirectory(path: path)
        var spec = try FinetuneSpec.read(directory: dir)
        if let steps, steps != spec.run.trainer.totalSteps {
            // The default replay capacity is the budget (up to 10⁶): an extended run's buffer grows with it, as the
            // buffer of a run given the larger budget from the start would be.
            let t = spec.run.trainer
            if steps > t.totalSteps, t.replayCapacity == TrainerConfig.defaultReplayCapacity(totalSteps: t.totalSteps) {
                spec.run.trainer.replayCapacity = TrainerConfig.defaultReplayCapacity(totalSteps: steps)
            }
            spec.run.trainer.totalSteps = steps
            try spec.validate()
            try spec.write(to: dir)
        }
        return FinetuneSession(spec: spec, directory: dir, resuming: true)
    }

    /// Runs the session to the end of its budget. `progress` is called after every environment step.
    /// `stopRequested` is asked after every step; once it says yes (SIGTERM from a scheduler preempting or
    /// requeueing the task), the session checkpoints at the next episode end and throws `.stopped`: `resume`
    /// continues exactly from there, losing nothing.
    public func run(progress: (FinetuneProgress) -> Void = { _ in }, stopRequested: () -> Bool = { false }) throws -> FinetuneOutcome {
        switch try FinetuneEnvironment(parsing: spec.run.env) {
        case .pendulum:
            return try run(environment: Pendulum(), evaluationEnvironment: Pendulum(), progress: progress, stopRequested: stopRequested)
        case let .sim(robot, task):
            let description = try RobotDescription.named(robot)
            let sparse = spec.dsrl?.reward == .sparse
            func sim() throws -> ArmTaskEnvironment { try SimTask.make(robot: description, task: task.rawValue, sparseReward: sparse) }
            guard let d = spec.dsrl else {
                return try run(environment: try sim(), evaluationEnvironment: try sim(), progress: progress, stopRequested: stopRequested)
            }
            let config = try PolicyDirectory.readConfig(d.policy)
            if config.cameras != nil {
                // A camera policy: the task narrowed to its observations, its cameras rendered after every chunk.
                func latent() throws -> LatentNoiseEnvironment<CameraTaskEnvironment> {
                    let env = try CameraTaskEnvironment(robot: robot, task: task.rawValue, config: config, sparseReward: sparse)
                    let policy = try PolicyDirectory.loadCameraPolicy(d.policy)
                    return try LatentNoiseEnvironment(base: env, policy: policy.diffusion, magnitude: d.magnitude,
                                                      ddimSteps: d.ddimSteps, rewardMode: d.reward == .sparse ? .sparse : .task,
                                                      camera: CameraTaskPolicy(policy: policy, environment: env))
                }
                return try run(environment: try latent(), evaluationEnvironment: try latent(), progress: progress, stopRequested: stopRequested)
            }
            func latent() throws -> LatentNoiseEnvironment<ArmTaskEnvironment> {
                guard let policy = try PolicyDirectory.load(d.policy) as? DiffusionPolicy else {
                    throw ReflexError(.invalidPolicy, "not a diffusion policy", at: .init(file: d.policy))
                }
                return try LatentNoiseEnvironment(base: try sim(), policy: policy, magnitude: d.magnitude, ddimSteps: d.ddimSteps,
                                                  rewardMode: d.reward == .sparse ? .sparse : .task)
            }
            return try run(environment: try latent(), evaluationEnvironment: try latent(), progress: progress, stopRequested: stopRequested)
        }
    }

    func run<Env: Environment>(environment: Env, evaluationEnvironment: Env, progress: (FinetuneProgress) -> Void,
                               stopRequested: () -> Bool = { false }) throws -> FinetuneOutcome {
        // The kernel pool is process-wide: resize it only when the run asks for another size (a resize ends the
        // pool's workers, which an embedding process's other users of the pool would notice).
        let threadsBefore = KernelBuild.threads
        if spec.run.threads != threadsBefore { KernelBuild.setThreads(spec.run.threads) }
        defer { if spec.run.threads != threadsBefore { KernelBuild.setThreads(threadsBefore) } }
        let learner = try spec.makeLearner(observationSize: environment.observationSpace.size, actionSize: environment.actionSpace.size)
        let trainer = try OffPolicyTrainer(environment: environment, evaluationEnvironment: evaluationEnvironment,
                                           learner: learner, config: spec.run.trainer, seed: spec.run.seed)
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
        }
        let interval = spec.run.trainer.checkpointInterval
        var nextCheckpoint = interval > 0 ? (trainer.step / interval + 1) * interval : Int.max
        let start = monotonicNanoseconds()
        let startStep = trainer.step
        // The best evaluation so far, from the restored history on a resume: its weights are already on disk, and a
        // better one found again after the checkpoint is rewritten identically (the run replays exactly).
        var best: EvaluationRecord?
        for e in trainer.evaluations where best.map({ Self.isBetter(e, than: $0) }) ?? true { best = e }
        var evaluationsSeen = trainer.evaluations.count
        func noteEvaluations() throws {
            guard spec.keep == .bestEvaluation else { return }
            while evaluationsSeen < trainer.evaluations.count {
                let e = trainer.evaluations[evaluationsSeen]
                evaluationsSeen += 1
                if best.map({ Self.isBetter(e, than: $0) }) ?? true {
                    best = e
                    try writePolicy(learner, environment: environment, to: directory.path + "/policy-best.safetensors",
                                    selected: e)
                }
            }
        }
        while !trainer.finished {
            trainer.advance()
            try noteEvaluations()
            if trainer.atEpisodeBoundary && trainer.step >= nextCheckpoint && !trainer.finished {
                try directory.saveCheckpoint(trainer)
                try writeReports(trainer)
                nextCheckpoint = (trainer.step / interval + 1) * interval
            }
            if trainer.atEpisodeBoundary && !trainer.finished && stopRequested() {
                try directory.saveCheckpoint(trainer)
                try writeReports(trainer)
                throw ReflexError(.stopped, "stopped on request at step \(trainer.step) of \(spec.run.trainer.totalSteps); checkpoint saved, --resume \(directory.path) continues it",
                                  at: .init(file: directory.latestCheckpoint))
            }
            progress(FinetuneProgress(step: trainer.step, totalSteps: spec.run.trainer.totalSteps, alpha: Double(trainer.learner.alpha),
                                      lastEpisodeReturn: trainer.episodeReturns.last?.episodeReturn,
                                      lastEvaluation: trainer.evaluations.last?.meanReturn))
        }
        if spec.run.trainer.evaluationInterval == 0 || trainer.evaluations.last?.step != trainer.step {
            // Always end with an evaluation, so every run reports a final return.
            _ = trainer.appendEvaluation(episodes: max(spec.run.trainer.evaluationEpisodes, 1))
        }
        try noteEvaluations()
        let seconds = Double(monotonicNanoseconds() - start) / 1e9
        try directory.saveCheckpoint(trainer)
        try writeReports(trainer)
        var selected: EvaluationRecord?
        if spec.keep == .bestEvaluation, let best {
            try writePolicy(learner, environment: environment, to: directory.path + "/policy-last.safetensors", selected: nil)
            try writeFileAtomically(try readFile(directory.path + "/policy-best.safetensors"), to: directory.path + "/policy.safetensors")
            selected = best
        } else {
            try writePolicy(learner, environment: environment, to: directory.path + "/policy.safetensors", selected: nil)
        }
        return FinetuneOutcome(learner: spec.learnerName, environment: spec.run.env, steps: trainer.step,
                               stepsThisSession: trainer.step - startStep, seconds: seconds,
                               finalEvaluation: trainer.evaluations.last, selectedEvaluation: selected,
                               directory: directory.path)
    }

    /// `a` beats `b`: a higher success rate, or the same and a higher mean return.
    static func isBetter(_ a: EvaluationRecord, than b: EvaluationRecord) -> Bool {
        a.successRate != b.successRate ? a.successRate > b.successRate : a.meanReturn > b.meanReturn
    }

    /// The actor's weights with what `DSRLActorDirectory` and `reflex eval` need to rebuild it; `selected` names the
    /// evaluation a best-evaluation policy comes from.
    func writePolicy(_ learner: any OffPolicyLearner, environment: some Environment, to path: String,
                     selected: EvaluationRecord?) throws {
        let l = spec.run.learner
        var metadata = ["algorithm": spec.learnerName, "environment": spec.run.env,
                        "observation_size": String(learner.observationSize),
                        "action_size": String(learner.actionSize),
                        "action_low": environment.actionSpace.low.map { "\($0)" }.joined(separator: ","),
                        "action_high": environment.actionSpace.high.map { "\($0)" }.joined(separator: ","),
                        "hidden_sizes": l.actorHiddenSizes.map(String.init).joined(separator: ","),
                        "activation": l.activation.rawValue]
        if let selected {
            metadata["selected_step"] = String(selected.step)
            metadata["selected_success_rate"] = String(selected.successRate)
            metadata["selected_mean_return"] = String(selected.meanReturn)
        }
        try writeSafetensors(learner.policy.network.namedParameters(prefix: "policy."), to: path, metadata: metadata)
    }

    /// metrics.csv (episode returns and evaluations by step) and learning_curve.svg, rewritten whole each time so a
    /// resumed run's files are complete.
    func writeReports<Env>(_ trainer: OffPolicyTrainer<Env>) throws {
        func cell<T>(_ value: T?) -> String { value.map { "\($0)" } ?? "" }
        var rows: [(Int, String)] = trainer.episodeReturns.map { ($0.step, "\($0.step),\($0.episodeReturn)" + String(repeating: ",", count: 17)) }
        rows += trainer.evaluations.map {
            ($0.step, "\($0.step),,\($0.meanReturn),\($0.stdReturn),\($0.successRate),\($0.alpha),\($0.criticLoss),\($0.meanQ),\($0.meanSigma),\(cell($0.entropy)),\(cell($0.actionSaturation)),\(cell($0.meanAbsAction)),"
                + "\(cell($0.meanTarget)),\(cell($0.evaluationQ)),\(cell($0.evaluationReturn)),\(cell($0.successQ)),\(cell($0.successReturn)),\(cell($0.replaySize)),\(cell($0.replayTerminals))")
        }
        rows.sort { $0.0 < $1.0 }
        let csv = "step,episode_return,eval_mean_return,eval_std_return,eval_success_rate,alpha,critic_loss,mean_q,mean_sigma,entropy,action_saturation,mean_abs_action,"
            + "td_target,eval_q,eval_mc_return,success_q,success_mc_return,replay_size,replay_terminals\n"
            + rows.map(\.1).joined(separator: "\n") + "\n"
        try writeFileAtomically(Array(csv.utf8), to: directory.path + "/metrics.csv")
        var plot = LinePlot(title: "\(spec.learnerName) on \(spec.run.env) (seed \(spec.run.seed))", xLabel: "environment steps",
                            yLabel: "return")
        plot.series.append(.init(name: "training episodes", points: trainer.episodeReturns.map { (Double($0.step), $0.episodeReturn) }))
        if !trainer.evaluations.isEmpty {
            plot.series.append(.init(name: "evaluation (mean ± std)",
                                     points: trainer.evaluations.map { (Double($0.step), $0.meanReturn) },
                                     band: trainer.evaluations.map { ($0.meanReturn - $0.stdReturn, $0.meanReturn + $0.stdReturn) },
                                     markers: true))
        }
        try plot.write(to: directory.path + "/learning_curve.svg")
    }
}
