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
        Steering (V-GPS --value/--k/--beta, DSRL --dsrl) defaults to policy.yaml's `steering:` section; the options
        here override it field by field.
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
    @Option(help: "V-GPS: softmax temperature β; 0 executes the argmax (default 0).") var beta: Float?
    @Option(help: "DSRL: a `reflex finetune --dsrl` run directory whose noise actor supplies the initial noise (sampler: its DDIM map unless --sampler).")
    var dsrl: String?
    @Flag(help: "DSRL: sample the noise actor instead of acting with tanh(μ) (always sampled when V-GPS draws K > 1 candidates).")
    var dsrlStochastic = false
    @Option(help: "Also write every episode (observations, actions, rewards) as a demonstration directory.") var record: String?
    @Flag(help: "No live progress line.") var quiet = false

    func run() throws {
        KernelBuild.setThreads(1) // parallelism comes from the workers
        let spec = try sampler.map(SamplerSpec.init(parsing:))
        guard delay >= 0 else { throw ReflexError(.invalidValue, "--delay must be at least 0, got \(delay)") }
        let makeEnv = try SimTasks.environmentFactory(robot: robot, task: task)
        // The command line overrides policy.yaml's sampler and `steering:` section field by field.
        let pipeline = try SteeringPipeline(directory: policy, sampler: spec, overrides: SteeringDefaults(
            value: value, k: k, beta: beta, dsrlActor: dsrl, dsrlStochastic: dsrlStochastic ? true : nil))
        let evaluator = Evaluator(environment: makeEnv, policy: { try pipeline.makePolicy() })
        let strategy = try execution.map(ExecutionStrategy.init(parsing:)) ?? pipeline.config.execution ?? (delay > 0 ? .naive : .sync)
        switch strategy {
        case .rtiDelay, .rtc, .rtcReplace:
            let made = try pipeline.makePolicy()
            guard let diffusion = (made as? DiffusionPolicy) ?? (made as? LeRobotDiffusionPolicy)?.diffusion else {
                throw ReflexError(.invalidValue, "--execution \(strategy) needs a diffusion policy without steering")
            }
            if case .rtc = strategy, !diffusion.supportsGuidance {
                throw ReflexError(.invalidValue, "--execution rtc needs a denoiser with a vector-Jacobian product (the MLP denoiser; not LeRobot's U-Net); use rtc-replace")
            }
        default: break
        }
        let samplerName = pipeline.label + (strategy == .sync ? "" : " \(strategy) D=\(delay)")
        let progress = quiet ? nil : ProgressLine(total: episodes, label: "eval \(task) \(samplerName)")
        let report = try evaluator.run(EvaluationConfig(episodes: episodes, seed: seed, workers: workers, actionSteps: actionSteps,
                                                        record: record != nil, delay: delay, execution: strategy)) {
            done, ok in progress?.update(done, status: "success \(ok)/\(done)")
        }
        progress?.finish("success \(report.successes)/\(report.episodes)")
        print(Eval.summary(report, title: "\(policy) on \(robot):\(task), sampler \(samplerName), seeds \(seed)..<\(seed + UInt64(episodes))"))
        let jsonPath = out ?? "eval-\(task)-\(samplerName.replacingOccurrences(of: " ", with: "-").replacingOccurrences(of: "=", with: "").replacingOccurrences(of: ":", with: "_").replacingOccurrences(of: ",", with: "-").replacingOccurrences(of: "/", with: "+")).json"
        let results = EvalResults(policy: policy, robot: robot, task: task, sampler: samplerName, seed: seed,
                                  actionSteps: actionSteps, report: report, delay: delay, execution: strategy.description)
        try results.write(to: jsonPath)
        let plotPath = plot ?? (jsonPath.hasSuffix(".json") ? String(jsonPath.dropLast(5)) : jsonPath) + ".svg"
        try report.successPlot(title: "\(task): \(samplerName)").write(to: plotPath)
        print("wrote \(jsonPath) and \(plotPath)")
        if let record {
            let env = try makeEnv()
            let rollouts = try Demonstrations(observationSize: env.observationSpace.size, actionSize: env.actionSpace.size,
                                              episodes: report.episodeResults.compactMap(\.trajectory))
            let names = { (space: BoxSpace, prefix: String) in space.names ?? (0 ..< space.size).map { "\(prefix)\($0)" } }
            try rollouts.save(to: record, metadata: .init(robot: robot, task: task, controlHz: 0,
                                                          observationNames: names(env.observationSpace, "obs"),
                                                          actionNames: names(env.actionSpace, "action")))
            print("recorded \(rollouts.episodes.count) episodes in \(record)")
        }
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
