import ArgumentParser
import Foundation
import ReflexCore
import ReflexDeployment
import ReflexPolicy
import ReflexRuntime
import ReflexSteering

/// `reflex eval`: seeded sim evaluation runs of a policy.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a policy on a simulated task over seeded episodes.",
        discussion: """
        Episode k starts from seed S+k, so two samplers (or two policies) see the same starts. Prints success with
        a 95% Wilson interval, mean return, network evaluations per inference call and per control step, and
        inference latency p50/p99; writes the results JSON and a plot of the running success rate.
        Steering (V-GPS --value/--k/--selection/--beta, DSRL --dsrl) defaults to policy.yaml's `steering:` section; the options
        here override it field by field. --shard I/N runs one shard of the run; reflex eval-merge combines the shards
        into this command's files (docs/cluster.md; reflex slurm eval submits them as a Slurm array).
        Example: reflex eval --policy policies/lift --robot so101 --task lift --episodes 200 --sampler rti:2,1,0
        """)

    @Option(help: "Policy directory (policy.yaml + model.safetensors).") var policy: String
    @Option(help: "Robot name or description file (robots/so101.yaml).") var robot = "so101"
    @Option(help: "Task: reach, push or lift.") var task = "lift"
    @Option(help: "Episodes.") var episodes = 200
    @Option(help: "Sampler (ddpm, ddpm:N, ddim:N[:ETA], rti:2,1,0, rti-renoise:2,1,0; an RTI sampler's first chunk: rti:2,1,0/ddim:N, default /ddpm); default: policy.yaml's.")
    var sampler: String?
    @Option(help: "Actions executed per inference call (default: the policy's n_action_steps; RTI infers every step with 1).")
    var actionSteps: Int?
    @Option(help: "Inference delay in control steps: each new chunk becomes available D steps after the observation it was computed from, the previous chunk executing meanwhile (ignored under --execution sync).")
    var delay = 0
    @Option(help: "How chunks are executed while the next is inferred: sync (the robot waits; the reference), naive (switch on arrival), ensemble[:M] (ACT's temporal ensembling, m 0.01), rti-delay (RTI's warm start shifted by executed steps + D), rtc[:BETA] (RTC guidance, β 5), rtc-replace (RTC by replacement). Default: policy.yaml's `execution:`, else naive when --delay > 0, else sync.")
    var execution: String?
    @Option(help: "First episode seed.") var seed: UInt64 = 0
    @Option(help: "Worker threads (each runs its own world and policy copy).") var workers = 2
    @Option(help: "Results JSON path (default: eval-<task>-<sampler>.json).") var out: String?
    @Option(help: "Plot path (SVG; default: next to the JSON).") var plot: String?
    @Option(help: "V-GPS: value function directory (reflex train-value); scores --k candidates per call.") var value: String?
    @Option(help: "V-GPS: candidates sampled per inference call, in one batched pass (default 10).") var k: Int?
    @Option(help: "V-GPS: argmax (execute the best candidate) or softmax (draw from softmax(Q/β), the paper's setting); default: softmax when --beta is given, else argmax.")
    var selection: SteeringDefaults.Selection?
    @Option(help: "V-GPS: softmax temperature β > 0 (default 1, the paper's); refused with --selection argmax.") var beta: Float?
    @Option(help: "DSRL: a `reflex finetune --dsrl` run directory whose noise actor supplies the initial noise (sampler: its DDIM map unless --sampler).")
    var dsrl: String?
    @Flag(help: "DSRL: sample the noise actor instead of acting with tanh(μ) (always sampled when V-GPS draws K > 1 candidates).")
    var dsrlStochastic = false
    @Option(help: "Also write every episode (observations, actions, rewards) as a demonstration directory.") var record: String?
    @Flag(help: "No live progress line.") var quiet = false

    @Option(help: "Run only shard I of N (episodes k with k % N == I; I counts from 0) and write a shard file for `reflex eval-merge`: the results path (--out) with .shard-I-of-N.json; auto/N takes I from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX.")
    var shard: String?

    func run() throws {
        KernelBuild.setThreads(1) // parallelism comes from the workers
        let spec = try sampler.map(SamplerSpec.init(parsing:))
        if self.shard != nil, plot != nil { throw ValidationError("a shard writes no plot: give --plot to reflex eval-merge") }
        let shard: EvaluationShard?
        let run: EvalRun
        do {
            shard = try self.shard.map { try EvaluationShard(parsing: $0) }
            // The command line overrides policy.yaml's sampler and `steering:` section field by field.
            run = try EvalRun(policy: policy, robot: robot, task: task, sampler: spec, steering: SteeringDefaults(
                value: value, k: k, selection: selection, beta: beta, dsrlActor: dsrl, dsrlStochastic: dsrlStochastic ? true : nil),
                seed: seed, episodes: episodes, actionSteps: actionSteps, delay: delay,
                execution: try execution.map(ExecutionStrategy.init(parsing:)))
        } catch let e as ReflexError {
            throw ValidationError(e.description)
        }
        let samplerName = run.identity.label
        let runEpisodes = shard.map { $0.episodes(of: episodes).count } ?? episodes
        let progress = quiet ? nil : ProgressLine(total: runEpisodes, label: "eval \(task) \(samplerName)" + (shard.map { " shard \($0)" } ?? ""))
        let report = try run.run(workers: workers, shard: shard, record: record != nil) {
            done, ok in progress?.update(done, status: "success \(ok)/\(done)")
        }
        progress?.finish("success \(report.successes)/\(report.episodes)")
        let jsonPath = out ?? EvalResults.defaultPath(task: task, sampler: samplerName)
        if let shard {
            print(Eval.summary(report, title: "\(policy) on \(robot):\(task), sampler \(samplerName), seeds \(seed)..<\(seed + UInt64(episodes)), shard \(shard) (\(report.episodes) episodes)"))
            let path = EvalResults.defaultShardPath(for: jsonPath, shard: shard)
            try run.shardFile(report, shard: shard).write(to: path)
            print("wrote \(path)")
        } else {
            let results = run.results(report)
            print(Eval.summary(results))
            try results.write(to: jsonPath)
            let plotPath = plot ?? EvalResults.defaultPlotPath(for: jsonPath)
            try results.successPlot().write(to: plotPath)
            print("wrote \(jsonPath) and \(plotPath)")
        }
        if let record {
            let env = try run.makeEnvironment()
            // A camera policy's task renders its cameras at every recorded step (V-GPS's data for it).
            let rollouts = try Demonstrations(observationSize: env.observationSpace.size, actionSize: env.actionSpace.size,
                                              episodes: report.episodeResults.compactMap(\.trajectory),
                                              cameras: (env as? FrameRecordingEnvironment)?.recordedCameras ?? [])
            let names = { (space: BoxSpace, prefix: String) in space.names ?? (0 ..< space.size).map { "\(prefix)\($0)" } }
            try rollouts.save(to: record, metadata: .init(robot: robot, task: task, controlHz: 0,
                                                          observationNames: names(env.observationSpace, "obs"),
                                                          actionNames: names(env.actionSpace, "action")))
            print("recorded \(rollouts.episodes.count) episodes in \(record)")
        }
    }

    /// The table `reflex eval` and `reflex eval-merge` print for a whole run.
    static func summary(_ r: EvalResults) -> String {
        summary(r.report, title: "\(r.policy) on \(r.robot):\(r.task), sampler \(r.sampler), seeds \(r.seed)..<\(r.seed + UInt64(r.report.episodes))")
    }

    static func summary(_ r: EvaluationReport, title: String) -> String {
        let rows = [
            ["success", "\(fmt(100 * r.successRate, 1))%  (\(r.successes)/\(r.episodes), 95% CI \(fmt(100 * r.successInterval[0], 1))–\(fmt(100 * r.successInterval[1], 1))%)"],
            ["mean return", fmt(r.meanReturn, 3)],
            ["mean episode steps", fmt(r.meanSteps, 1)],
            ["network evaluations / inference call", fmt(r.evaluationsPerCall, 2)],
            ["network evaluations / control step", fmt(r.evaluationsPerStep, 2)],
            ["network evaluations, most in one call", "\(r.evaluationsMaxPerCall)"],
            ["RTC guidance products / inference call", fmt(r.guidanceProductsPerCall, 2)],
            ["jerk: mean (Δ³ joint target)² (rad²)", String(format: "%.3e", r.meanJerk)],
            ["largest jump at a chunk boundary: mean / max (rad)", "\(fmt(r.meanBoundaryJump, 4)) / \(fmt(r.maxBoundaryJump, 4))"],
            ["steps holding the last action", "\(r.heldSteps)"],
            ["inference latency p50 / p99 / max", "\(fmt(r.latencyP50Micros, 1)) µs / \(fmt(r.latencyP99Micros, 1)) µs / \(fmt(r.latencyMaxMicros, 1)) µs"],
        ]
        return title + "\n" + table(["metric", "value"], rows)
    }
}

extension SteeringDefaults.Selection: ExpressibleByArgument {}
