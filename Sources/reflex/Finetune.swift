import ArgumentParser
import Foundation
import ReflexCore
import ReflexNN
import ReflexRL
import ReflexPolicy
import ReflexSim
import ReflexSteering

/// What a run directory's `run.json` records: enough to rebuild the run exactly on `--resume`.
struct FinetuneSpec: Codable {
    var algo: String
    var env: String
    var seed: UInt64
    var threads: Int
    var learner: OffPolicyConfig
    var trainer: TrainerConfig
    /// DSRL: the learner acts on this frozen diffusion policy's initial noise instead of on the joints.
    var dsrl: DSRLSettings? = nil
}

/// DSRL-SAC settings (Wagenmaker et al. 2025): which policy is steered and how its noise space is set up.
struct DSRLSettings: Codable {
    var policy: String
    /// Noise actions live in [−magnitude, magnitude] (the paper's `action_magnitude`, 1.5).
    var magnitude: Float
    /// DDIM steps (η = 0) of the deterministic map w ↦ chunk.
    var ddimSteps: Int
    /// sparse (1 on success, the paper's setting) or task (the task's dense reward).
    var reward: String
    /// sac (DSRL-SAC, the default; absent in older run.json files) or na (DSRL-NA, `DSRLNoiseAliasing`).
    var variant: String? = nil
    /// DSRL-NA: Q^W distillation steps per gradient update (default 1).
    var noiseCriticSteps: Int? = nil
}

/// `reflex finetune`: SAC or DSAC-T in simulation, resumable from the run directory.
struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a SAC or DSAC-T policy in simulation; checkpoints atomically, resumes exactly with --resume.",
        discussion: """
        Environments: pendulum (gymnasium Pendulum-v1) or a ReflexSim task robot:task (so101:reach, so101:push,
        so101:lift; dense reward, actions are joint position targets scaled from [-1, 1] to the joint limits).
        Presets: sac (Haarnoja et al.: 2x256 ReLU, lr 3e-4), dsac-t (3x256 GELU, lr 1e-4, policy delay 2),
        rltools (2x64, batch 100, lr 1e-3), sb3 (rl-zoo3 Pendulum: 2x256, batch 256, lr 1e-3).
        The run directory gets run.json, checkpoint.safetensors (+ .prev), metrics.csv, learning_curve.svg and
        policy.safetensors.
        """
    )

    @Option(help: "sac or dsac-t.") var algo: String?
    @Option(help: "pendulum, or so101:<task>.") var env: String?
    @Option(help: "Seed of the whole run.") var seed: UInt64?
    @Option(help: "Environment steps.") var steps: Int?
    @Option(help: "Hyperparameter preset: sac, dsac-t, rltools, sb3 (default: the algorithm's own).") var preset: String?
    @Option(help: "Hidden widths of actor and critics, e.g. 256,256.") var hidden: String?
    @Option(help: "Hidden activation (relu, gelu, tanh, mish, silu, …).") var activation: String?
    @Option(help: "Minibatch size.") var batch: Int?
    @Option(help: "Learning rate of actor, critics and temperature.") var lr: Float?
    @Option(help: "Gradient updates per environment step (UTD ratio).") var utd: Int?
    @Option(help: "Uniform-random warm-up steps.") var warmup: Int?
    @Option(help: "Actor/target update every N critic updates.") var policyDelay: Int?
    @Option(help: "DSAC-T critic gradient: paper or huber-ratio-2025.") var dsacLoss: String?
    @Option(help: "Evaluate every N steps (0: only at the end).") var evalEvery: Int?
    @Option(help: "Deterministic episodes per evaluation.") var evalEpisodes: Int?
    @Option(help: "Checkpoint at the first episode end after every N steps (0: only at the end).") var checkpointEvery: Int?
    @Option(help: "Kernel threads (1 makes runs bit-reproducible).") var threads: Int?
    @Option(help: "DSRL: steer this diffusion policy directory by learning its initial noise (robot:task envs).") var dsrl: String?
    @Option(help: "DSRL: noise action magnitude.") var dsrlMagnitude: Float?
    @Option(help: "DSRL: DDIM steps of the frozen policy.") var dsrlDdimSteps: Int?
    @Option(help: "DSRL: reward, sparse (1 on success) or task (dense).") var dsrlReward: String?
    @Option(help: "DSRL: sac (SAC on the noise) or na (noise aliasing: Q^A on executed chunks, Q^W distilled from it).") var dsrlVariant: String?
    @Option(help: "DSRL-NA: Q^W distillation steps per gradient update (default 1).") var dsrlNoiseCriticSteps: Int?
    @Option(help: "Run directory to create.") var out: String?
    @Option(help: "Run directory to continue from its last checkpoint (its run.json fixes every option but --steps, which extends or ends the run).") var resume: String?
    @Flag(help: "No progress line.") var quiet = false

    func run() throws {
        do {
            let (spec, dir, resuming) = try prepare()
            try FinetuneEnvironment.parse(spec.env).run(spec: spec, directory: dir, resuming: resuming, quiet: quiet)
        } catch let e as ReflexError {
            throw ValidationError(e.description)
        }
    }

    private func prepare() throws -> (FinetuneSpec, RunDirectory, Bool) {
        if let resume {
            let given: [String?] = [algo, env, seed.map(String.init), preset, hidden, activation,
                                    batch.map(String.init), lr.map { "\($0)" }, utd.map(String.init), warmup.map(String.init),
                                    policyDelay.map(String.init), dsacLoss, evalEvery.map(String.init),
                                    evalEpisodes.map(String.init), checkpointEvery.map(String.init), threads.map(String.init), out,
                                    dsrl, dsrlMagnitude.map { "\($0)" }, dsrlDdimSteps.map(String.init), dsrlReward,
                                    dsrlVariant, dsrlNoiseCriticSteps.map(String.init)]
            guard given.allSatisfy({ $0 == nil }) else {
                throw ValidationError("--resume continues \(resume) exactly as its run.json says; give no other options but --steps")
            }
            let dir = RunDirectory(path: resume)
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: dir.runFile)) } catch {
                throw ReflexError(.fileNotFound, "not a run directory (no run.json)", at: .init(file: dir.runFile))
            }
            var spec: FinetuneSpec
            do {
                spec = try JSONDecoder().decode(FinetuneSpec.self, from: data)
            } catch {
                throw ReflexError(.invalidValue, "cannot read run.json: \(error)", at: .init(file: dir.runFile))
            }
            if let steps, steps != spec.trainer.totalSteps {
                // Only the budget may change: the steps before it are the same whatever the budget (nothing is
                // scheduled on the total), so extending or ending a run early keeps it reproducible.
                spec.trainer.totalSteps = steps
                try spec.trainer.validate()
                try writeFileAtomically(Array(try Self.encode(spec)), to: dir.runFile)
            }
            return (spec, dir, true)
        }
        guard let out else { throw ValidationError("give --out RUN (a new run directory) or --resume RUN") }
        if dsrl == nil, dsrlVariant != nil || dsrlNoiseCriticSteps != nil {
            throw ValidationError("--dsrl-variant and --dsrl-noise-critic-steps need --dsrl POLICY")
        }
        let algo = self.algo ?? "sac"
        guard ["sac", "dsac-t"].contains(algo) else { throw ValidationError("--algo must be sac or dsac-t, not '\(algo)'") }
        var learner: OffPolicyConfig
        switch preset ?? (dsrl != nil ? "dsrl" : algo) {
        case "sac": learner = OffPolicyConfig()
        case "dsrl":
            // DSRL's released defaults: 3×256 Tanh MLPs with LayerNorm, lr 3e-4, batch 256, τ 0.005, target entropy 0.
            learner = OffPolicyConfig(actorHiddenSizes: [256, 256, 256], criticHiddenSizes: [256, 256, 256], activation: .tanh,
                                      layerNorm: true, batchSize: 256, gamma: 0.99, tau: 0.005, actorLearningRate: 3e-4,
                                      criticLearningRate: 3e-4, alphaLearningRate: 3e-4, targetEntropy: 0)
            // α starts small: with D = H·A ≈ 100 noise dimensions, α = 1 makes the entropy bonus (≈ α·D per step)
            // dwarf a 0/1 task reward for thousands of updates while α decays toward target entropy 0.
            learner.initialAlpha = 0.01
        case "dsac-t": learner = .dsacT
        case "rltools": learner = .rltools
        case "sb3": learner = .sb3Zoo
        case let p: throw ValidationError("--preset must be sac, dsac-t, dsrl, rltools or sb3, not '\(p)'")
        }
        if algo == "dsac-t" { learner.policyDelay = 2 }
        if let hidden {
            let widths = hidden.split(separator: ",").compactMap { Int($0) }
            guard !widths.isEmpty, widths.count == hidden.split(separator: ",").count else {
                throw ValidationError("--hidden takes comma-separated widths, e.g. 256,256")
            }
            learner.actorHiddenSizes = widths
            learner.criticHiddenSizes = widths
        }
        if let activation {
            guard let a = Activation(rawValue: activation) else {
                throw ValidationError("--activation must be one of \(Activation.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            learner.activation = a
        }
        if let batch { learner.batchSize = batch }
        if let lr { (learner.actorLearningRate, learner.criticLearningRate, learner.alphaLearningRate) = (lr, lr, lr) }
        if let policyDelay { learner.policyDelay = policyDelay }
        if let dsacLoss {
            switch dsacLoss {
            case "paper": learner.distributionalLoss = .paper
            case "huber-ratio-2025": learner.distributionalLoss = .huberRatio2025
            default: throw ValidationError("--dsac-loss must be paper or huber-ratio-2025")
            }
        }
        try learner.validate()
        let totalSteps = steps ?? 20_000
        let trainer = TrainerConfig(totalSteps: totalSteps, warmupSteps: warmup ?? 100, updatesPerStep: utd ?? 1,
                                    evaluationInterval: evalEvery ?? 1000,
                                    evaluationEpisodes: evalEpisodes ?? 10, checkpointInterval: checkpointEvery ?? 2000)
        try trainer.validate()
        var spec = FinetuneSpec(algo: algo, env: env ?? "pendulum", seed: seed ?? 0, threads: threads ?? 1,
                                learner: learner, trainer: trainer)
        if let dsrl {
            guard spec.env.contains(":") else { throw ValidationError("--dsrl steers a policy on a robot:task environment") }
            let reward = dsrlReward ?? "sparse"
            guard LatentNoiseEnvironment<ArmTaskEnvironment>.RewardMode(rawValue: reward) != nil else {
                throw ValidationError("--dsrl-reward must be sparse or task")
            }
            // Absolute path: resuming from another directory must find the same policy.
            let path = dsrl.hasPrefix("/") ? dsrl : FileManager.default.currentDirectoryPath + "/" + dsrl
            guard try PolicyDirectory.readConfig(path).kind == .diffusion else {
                throw ValidationError("--dsrl needs a diffusion policy; \(dsrl) is not one")
            }
            let variant = dsrlVariant ?? "sac"
            guard ["sac", "na"].contains(variant) else { throw ValidationError("--dsrl-variant must be sac or na, not '\(variant)'") }
            if variant == "na" {
                guard algo == "sac" else { throw ValidationError("--dsrl-variant na is SAC-based; drop --algo \(algo)") }
                guard (dsrlNoiseCriticSteps ?? 1) >= 1 else { throw ValidationError("--dsrl-noise-critic-steps must be at least 1") }
            } else if dsrlNoiseCriticSteps != nil {
                throw ValidationError("--dsrl-noise-critic-steps applies to --dsrl-variant na only")
            }
            spec.dsrl = DSRLSettings(policy: path, magnitude: dsrlMagnitude ?? 1.5, ddimSteps: dsrlDdimSteps ?? 10, reward: reward,
                                     variant: variant, noiseCriticSteps: variant == "na" ? dsrlNoiseCriticSteps ?? 1 : nil)
            // Warm up with the base policy's own noise, N(0, I) (DSRL's init_rollout_steps).
            spec.trainer.warmupGaussianStd = 1 / (dsrlMagnitude ?? 1.5)
        }
        _ = try FinetuneEnvironment.parse(spec.env)
        let dir = RunDirectory(path: out)
        if FileManager.default.fileExists(atPath: dir.runFile) {
            throw ValidationError("\(out) already holds a run; continue it with --resume \(out) or pick another --out")
        }
        try dir.create()
        try writeFileAtomically(Array(try Self.encode(spec)), to: dir.runFile)
        return (spec, dir, false)
    }

    static func encode(_ spec: FinetuneSpec) throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try enc.encode(spec)
    }
}

/// The environments `reflex finetune` can drive. Each case builds its `Environment` type and runs the generic
/// session over it, so a new task is one case here.
enum FinetuneEnvironment {
    case pendulum
    /// A ReflexSim arm task, `robot:task`.
    case sim(spec: String)

    static func parse(_ name: String) throws -> FinetuneEnvironment {
        if name == "pendulum" { return .pendulum }
        if name.contains(":") {
            _ = try SimTask.parse(name)
            return .sim(spec: name)
        }
        throw ReflexError(.invalidArgument, "unknown environment '\(name)' (pendulum, or robot:task such as so101:reach)")
    }

    func run(spec: FinetuneSpec, directory: RunDirectory, resuming: Bool, quiet: Bool) throws {
        switch self {
        case .pendulum:
            try FinetuneSession(spec: spec, directory: directory, quiet: quiet)
                .run(environment: Pendulum(), evaluationEnvironment: Pendulum(), resuming: resuming)
        case .sim(let name):
            let session = FinetuneSession(spec: spec, directory: directory, quiet: quiet)
            if let d = spec.dsrl {
                func latent() throws -> LatentNoiseEnvironment<ArmTaskEnvironment> {
                    guard let policy = try PolicyDirectory.load(d.policy) as? DiffusionPolicy else {
                        throw ReflexError(.invalidPolicy, "not a diffusion policy", at: .init(file: d.policy))
                    }
                    return try LatentNoiseEnvironment(base: try SimTask.make(name, sparseReward: d.reward == "sparse"), policy: policy,
                                                      magnitude: d.magnitude, ddimSteps: d.ddimSteps,
                                                      rewardMode: d.reward == "sparse" ? .sparse : .task)
                }
                try session.run(environment: try latent(), evaluationEnvironment: try latent(), resuming: resuming)
            } else {
                try session.run(environment: try SimTask.make(name), evaluationEnvironment: try SimTask.make(name), resuming: resuming)
            }
        }
    }
}
