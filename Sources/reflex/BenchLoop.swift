import ArgumentParser
import Foundation
import ReflexCore
import ReflexNN
import ReflexPolicy
import ReflexRobot
import ReflexRuntime

/// The control loop's timing with a real policy inferring beside it, against a `FakeRobot` (so the figure is the
/// loop's and the machine's, not a bus's).
struct BenchLoop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loop",
        abstract: "Run the control loop against a fake arm with a diffusion policy inferring beside it; report jitter, misses and inference latency.",
        discussion: "Without --policy, a randomly initialised diffusion policy is used: MLP denoiser (3×512 unless --hidden), H = 16, n_obs_steps = 2, n_action_steps = 8 — the shape of BENCHMARKS.md's trained 3×512 policies, not the bundled policies/so101-lift (3×256, n_action_steps 4; pass --policy for it). Compare with Benchmarks/compare_loop.py."
    )

    @Option(help: "Control rate (Hz).") var rate = 100.0
    @Option(help: "Seconds to run.") var seconds = 10.0
    @Option(help: "A policy directory (default: random weights).") var policy: String?
    @Option(help: "Sampler (ddpm, ddpm:N, ddim:N, rti:2,1,0); default ddim:10 for the random policy, the policy's own otherwise.")
    var sampler: String?
    @Option(help: "Hidden widths of the random policy's denoiser.") var hidden = "512,512,512"
    @Option(help: "Task features in the random policy's observation (after 6 joint positions and 6 velocities).")
    var features = 20
    @Option(help: "Actions executed per chunk (default: the policy's n_action_steps).") var actionSteps: Int?
    @Option(help: "SCHED_FIFO priority to ask for (0: do not ask).") var priority: Int32 = 80
    @Flag(help: "Do not ask for mlockall.") var noMlock = false
    @Flag(help: "Infer inside the tick (a synchronous loop, as in Python), not on the worker thread.") var inline = false
    @Option(help: "Kernel threads for inference.") var threads = 1
    @Option(help: "Microseconds before each deadline spent spinning on the clock instead of sleeping (0: sleep all the way).")
    var wakeSpin = ControlLoopConfig.defaultWakeSpinMicroseconds
    @Flag(help: "Print JSON instead of tables.") var json = false

    struct Output: Encodable {
        var meta: [String: String]
        var realtime: RealTimeReport
        var snapshot: LoopSnapshot
    }

    func run() throws {
        guard rate > 0, seconds > 0 else { throw ValidationError("--rate and --seconds must be positive") }
        KernelBuild.setThreads(threads)
        let robot = FakeRobot.sixJoint()
        let loaded: Policy
        if let dir = policy {
            loaded = try PolicyDirectory.load(dir)
        } else {
            let sizes = hidden.split(separator: ",").compactMap { Int($0) }
            guard !sizes.isEmpty else { throw ValidationError("--hidden needs integers") }
            loaded = try randomDiffusionPolicy(hidden: sizes, observation: 12 + features, action: 6, seed: 1)
        }
        if let s = sampler {
            guard let d = loaded as? DiffusionPolicy else { throw ValidationError("--sampler needs a diffusion policy") }
            d.sampler = try SamplerSpec(parsing: s)
        } else if policy == nil, let d = loaded as? DiffusionPolicy {
            d.sampler = .ddim(steps: 10, eta: 0)
        }
        let featureCount = loaded.config.observationSize - 12
        guard featureCount >= 0, loaded.config.actionSize == 6 else {
            throw ValidationError("the fake arm gives 12 joint values and takes 6 actions; the policy observes \(loaded.config.observationSize) and acts on \(loaded.config.actionSize)")
        }
        // Constant task features, as a camera's cube estimate would be between frames.
        var gen = RandomGenerator(seed: 7)
        let constants = (0 ..< featureCount).map { _ in Float(gen.gaussian()) }
        let observation = try ObservationBuilder(jointCount: 6, includeVelocities: true, featureCount: featureCount) { out in
            for i in 0 ..< constants.count { out[i] = constants[i] }
            return true
        }
        try robot.configure()
        try robot.activate()
        let safety = try SafetyLayer(limits: robot.limits, config: SafetyConfig(), period: 1 / rate)
        let config = ControlLoopConfig(rate: rate, realTimePriority: priority > 0 ? priority : nil, lockMemory: !noMlock,
                                       actionSteps: actionSteps, inlineInference: inline, seed: 0,
                                       wakeSpinMicroseconds: wakeSpin)
        let loop = try ControlLoop(robot: robot, safety: safety, policy: loaded, observation: observation, config: config)
        let rt = try loop.start()
        if !json { FileHandle.standardError.write(Data("real time: \(rt)\n".utf8)) }
        let total = Int(seconds * rate)
        let progress = json ? nil : ProgressLine(total: total, label: "loop")
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            Thread.sleep(forTimeInterval: min(0.25, max(0, end.timeIntervalSinceNow)))
            let s = loop.snapshot()
            progress?.update(min(s.counters.ticks, total), status: "misses \(s.counters.deadlineMisses)")
        }
        loop.stop()
        robot.finalize()
        progress?.finish()
        let s = loop.snapshot()
        let samplerText = (loaded as? DiffusionPolicy)?.sampler.description ?? loaded.config.kind.rawValue
        let meta = ["rate": "\(rate)", "seconds": "\(seconds)", "sampler": samplerText, "inline": "\(inline)",
                    "policy": policy ?? "random \(hidden)", "action_steps": "\(loop.actionSteps)",
                    "threads": "\(threads)", "wake_spin_us": "\(wakeSpin)"]
        if json {
            try printJSON(Output(meta: meta, realtime: rt, snapshot: s))
        } else {
            print("control loop at \(rate) Hz for \(seconds) s, policy \(meta["policy"] ?? "?") (\(samplerText)), inference \(inline ? "inside the tick" : "on the worker thread"), wake spin \(wakeSpin) µs")
            print("real time: \(rt)")
            print(loopCounts(s))
            print(loopTable(s))
        }
    }
}

/// A random diffusion policy (MLP denoiser of the given widths, H = 16, n_obs_steps = 2, n_action_steps = 8)
/// with random weights: what costs time in a tick is the shape, not the values.
func randomDiffusionPolicy(hidden: [Int], observation: Int, action: Int, seed: UInt64) throws -> DiffusionPolicy {
    let network = MLPDenoiserConfig(hiddenSizes: hidden)
    let config = PolicyConfig(kind: .diffusion, observationSize: observation, actionSize: action, nObsSteps: 2,
                              horizon: 16, nActionSteps: 8,
                              normalization: .init(observation: .identity(size: observation), action: .identity(size: action)),
                              network: network, scheduler: NoiseScheduler.Config(), sampler: .ddim(steps: 10, eta: 0))
    var gen = RandomGenerator(seed: seed)
    let mlp = MLP(config: network.mlp(horizon: 16, actionSize: action, conditionSize: config.conditionSize), generator: &gen)
    let denoiser = MLPDenoiser(config: network, network: mlp, horizon: 16, actionSize: action,
                               conditionSize: config.conditionSize, trainTimesteps: 100, maxBatch: 1)
    return try DiffusionPolicy(config: config, denoiser: denoiser)
}
