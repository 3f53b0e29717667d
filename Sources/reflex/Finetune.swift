import ArgumentParser
import Foundation
import ReflexCore
import ReflexDeployment
import ReflexNN
import ReflexRL
import ReflexSteering
import Synchronization

/// `reflex finetune`: SAC or DSAC-T in simulation, resumable from the run directory.
struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a SAC or DSAC-T policy in simulation; checkpoints atomically, resumes exactly with --resume.",
        discussion: """
        Environments: pendulum (gymnasium Pendulum-v1) or a ReflexSim task robot:task (so101:reach, so101:push,
        so101:lift; dense reward, actions are joint position targets scaled from [-1, 1] to the joint limits).
        Presets: sac (Haarnoja et al.: 2x256 ReLU, lr 3e-4), dsac-t (3x256 GELU, lr 1e-4, policy delay 2),
        rltools (2x64, batch 100, lr 1e-3), sb3 (rl-zoo3 Pendulum: 2x256, batch 256, lr 1e-3), dsrl (3x256 Tanh with
        LayerNorm, lr 3e-4, target entropy 0; the default with --dsrl).
        The run directory gets run.json, checkpoint.safetensors (+ .prev), metrics.csv, learning_curve.svg and
        policy.safetensors.
        """
    )

    @Option(help: "sac or dsac-t.") var algo: OffPolicyAlgorithm?
    @Option(help: "pendulum, or so101:<task>.") var env: String?
    @Option(help: "Seed of the whole run.") var seed: UInt64?
    @Option(help: "Environment steps.") var steps: Int?
    @Option(help: "Hyperparameter preset: sac, dsac-t, rltools, sb3 (default: the algorithm's own).") var preset: String?
    @Option(help: "Hidden widths of actor and critics, e.g. 256,256.") var hidden: String?
    @Option(help: "Hidden activation (relu, gelu, tanh, mish, silu, …).") var activation: Activation?
    @Option(help: "Minibatch size.") var batch: Int?
    @Option(help: "Learning rate of actor, critics and temperature.") var lr: Float?
    @Option(help: "Gradient updates per environment step (UTD ratio).") var utd: Int?
    @Option(help: "Uniform-random warm-up steps.") var warmup: Int?
    @Option(help: "Actor/target update every N critic updates.") var policyDelay: Int?
    @Option(help: "DSAC-T critic gradient: paper or huber-ratio-2025 (the official code since July 2025).") var dsacLoss: DistributionalCriticLoss?
    @Option(help: "Evaluate every N steps (0: only at the end).") var evalEvery: Int?
    @Option(help: "Deterministic episodes per evaluation.") var evalEpisodes: Int?
    @Option(help: "Checkpoint at the first episode end after every N steps (0: only at the end).") var checkpointEvery: Int?
    @Option(help: "Kernel threads (1 makes runs bit-reproducible).") var threads: Int?
    @Option(help: "DSRL: steer this diffusion policy directory by learning its initial noise (robot:task envs).") var dsrl: String?
    @Option(help: "DSRL: noise action magnitude.") var dsrlMagnitude: Float?
    @Option(help: "DSRL: DDIM steps of the frozen policy.") var dsrlDdimSteps: Int?
    @Option(help: "DSRL: reward, sparse (the paper's: −1 per chunk until success, 0 on the chunk that succeeds) or task (dense).") var dsrlReward: DSRLSettings.Reward?
    @Option(help: "DSRL: sac (SAC on the noise) or na (noise aliasing: Q^A on executed chunks, Q^W distilled from it).") var dsrlVariant: DSRLSettings.Variant?
    @Option(help: "DSRL-NA: Q^W distillation steps per gradient update (default 1).") var dsrlNoiseCriticSteps: Int?
    @Option(help: "Which actor becomes policy.safetensors: last, or best-evaluation (the best periodic evaluation on the trainer's own starts; the last stays in policy-last.safetensors).")
    var keep: FinetuneSpec.PolicySelection?
    @Option(help: "SAC: critics in the ensemble (default 2; above 2, REDQ: the target's min over a random --critic-subset, the actor on the mean of all).") var critics: Int?
    @Option(help: "SAC with --critics above 2: critics the TD target's min is over (default 2).") var criticSubset: Int?
    @Option(help: "Clip each critic and actor gradient to this global norm.") var gradClip: Float?
    @Option(help: "Target entropy of the learned temperature (default: −dim, or 0 with --dsrl).") var targetEntropy: Float?
    @Option(help: "Run directory to create.") var out: String?
    @Option(help: "Run directory to continue from its last checkpoint (its run.json fixes every option but --steps, which extends or ends the run).") var resume: String?
    @Flag(help: "No progress line.") var quiet = false

    /// The options as the library takes them.
    var options: FinetuneOptions {
        get throws {
            var o = FinetuneOptions()
            (o.algo, o.env, o.seed, o.steps, o.preset) = (algo, env, seed, steps, preset)
            o.hidden = try hidden.map { text in
                let widths = text.split(separator: ",").compactMap { Int($0) }
                guard !widths.isEmpty, widths.count == text.split(separator: ",").count else {
                    throw ValidationError("--hidden takes comma-separated widths, e.g. 256,256")
                }
                return widths
            }
            (o.activation, o.batch, o.learningRate, o.updatesPerStep, o.warmup) = (activation, batch, lr, utd, warmup)
            (o.policyDelay, o.distributionalLoss, o.threads) = (policyDelay, dsacLoss, threads)
            (o.evaluationInterval, o.evaluationEpisodes, o.checkpointInterval) = (evalEvery, evalEpisodes, checkpointEvery)
            (o.dsrlPolicy, o.dsrlMagnitude, o.dsrlDDIMSteps) = (dsrl, dsrlMagnitude, dsrlDdimSteps)
            (o.dsrlReward, o.dsrlVariant, o.dsrlNoiseCriticSteps) = (dsrlReward, dsrlVariant, dsrlNoiseCriticSteps)
            o.keep = keep
            (o.critics, o.criticSubset, o.gradientClip, o.targetEntropy) = (critics, criticSubset, gradClip, targetEntropy)
            return o
        }
    }

    func run() throws {
        let options = try self.options
        let session: FinetuneSession
        do {
            if let resume {
                let extra = options.setOptionsBesidesSteps + (out != nil ? ["out"] : [])
                guard extra.isEmpty else {
                    throw ValidationError("--resume continues \(resume) exactly as its run.json says; give no other options but --steps (got --\(extra.joined(separator: ", --")))")
                }
                session = try FinetuneSession.resume(path: resume, steps: steps)
                if !quiet { FileHandle.standardError.write(Data("resuming \(resume)\n".utf8)) }
            } else {
                guard let out else { throw ValidationError("give --out RUN (a new run directory) or --resume RUN") }
                session = try FinetuneSession.create(spec: try options.makeSpec(), path: out)
            }
        } catch let e as ReflexError {
            throw ValidationError(e.description)
        }
        let spec = session.spec
        let progress = quiet ? nil : ProgressLine(total: spec.run.trainer.totalSteps, label: "finetune \(spec.learnerName) \(spec.run.env)")
        // SIGTERM (a Slurm preemption or requeue, a Kubernetes eviction) checkpoints at the next episode end.
        let terminate = TerminationRequest()
        let outcome: FinetuneOutcome
        do {
            outcome = try session.run(progress: { p in
                guard let progress else { return }
                var status = "α \(fmt(p.alpha, 3))"
                if let r = p.lastEpisodeReturn { status += " return \(fmt(r, 1))" }
                if let e = p.lastEvaluation { status += " eval \(fmt(e, 1))" }
                progress.update(p.step, status: status)
            }, stopRequested: { terminate.requested })
        } catch let e as ReflexError where e.code == .stopped {
            progress?.finish()
            FileHandle.standardError.write(Data((e.description + "\n").utf8))
            throw ExitCode(143) // 128 + SIGTERM, as if the signal had ended the process
        }
        progress?.finish()
        let final = outcome.finalEvaluation
        print("\(outcome.learner) on \(outcome.environment): \(outcome.steps) steps (\(outcome.stepsThisSession) this session) in \(fmt(outcome.seconds, 2)) s, "
              + "final mean return \(fmt(final?.meanReturn ?? .nan, 1)) ± \(fmt(final?.stdReturn ?? .nan, 1)) over \(final?.episodes ?? 0) episodes "
              + "(success \(fmt(100 * (final?.successRate ?? 0), 0))%); wrote \(outcome.directory)")
        if let s = outcome.selectedEvaluation {
            print("kept the best evaluation's policy: step \(s.step), success \(fmt(100 * s.successRate, 0))%, mean return \(fmt(s.meanReturn, 1)) (the last is policy-last.safetensors)")
        }
    }
}

extension OffPolicyAlgorithm: ExpressibleByArgument {}
extension Activation: ExpressibleByArgument {}
extension FinetuneSpec.PolicySelection: ExpressibleByArgument {}
extension DistributionalCriticLoss: ExpressibleByArgument {
    /// The command line's spelling (run.json keeps the enum's raw value).
    public init?(argument: String) {
        switch argument {
        case "paper": self = .paper
        case "huber-ratio-2025": self = .huberRatio2025
        default: return nil
        }
    }

    public static var allValueStrings: [String] { ["paper", "huber-ratio-2025"] }
}
extension DSRLSettings.Reward: ExpressibleByArgument {}
extension DSRLSettings.Variant: ExpressibleByArgument {}

/// Set when SIGTERM arrives; the signal no longer ends the process by itself.
final class TerminationRequest {
    private final class Flag: Sendable { let value = Atomic<Bool>(false) }
    private let flag = Flag()
    private let source: DispatchSourceSignal

    init() {
        signal(SIGTERM, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        source.setEventHandler { [flag] in flag.value.store(true, ordering: .relaxed) }
        source.resume()
    }

    var requested: Bool { flag.value.load(ordering: .relaxed) }
}
