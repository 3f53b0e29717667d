import ArgumentParser
import Foundation
import ReflexCore
import ReflexDeployment
import ReflexHardware
import ReflexPolicy
import ReflexRobot
import ReflexRuntime
import Synchronization

/// `reflex run`: a policy driving an arm through the real-time loop and the safety layer, until Ctrl-C.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a policy on an arm (simulated, on a serial bus, or a fake for a dry run) through the real-time loop.",
        discussion: """
        Start-up goes through the lifecycle: configure (link open, torque off), activate (torque on, holding), then the \
        loop, which moves slowly to the policy's first pose before following it. Ctrl-C or SIGTERM stops the loop and \
        switches torque off (as LeRobot does on disconnect); `kill -USR1 <pid>` is an emergency stop.
        """
    )

    @Option(help: "Robot description (a path or a name under robots/).") var robot = "so101"
    @Option(help: "Policy directory (policy.yaml + model.safetensors).") var policy: String
    @Option(help: "Control rate (Hz); default: the policy's control_hz note, else 20 (Reflex's simulated tasks).")
    var rate: Double?
    @Flag(help: "Drive the Bullet-simulated arm in real time.") var sim = false
    @Option(help: "Serial device of the arm's servo bus (e.g. /dev/ttyACM0, or an emulator's link).") var port: String?
    @Flag(help: "Dry run against a fake arm (first-order joints, no task features).") var fake = false
    @Option(help: "Task whose scene and features (cube, goal) feed the policy on --sim.") var task = "lift"
    @Option(help: "Seed of the --sim scene (joint noise and cube placement, as reflex eval's episode seed); with --episodes, the first episode's.")
    var seed: UInt64 = 0
    @Option(help: "On --port: the camera channel of the scene (reflex emulate --sim lift --camera PATH): the cube's pose comes from there, the end effector from the joints' forward kinematics.")
    var camera: String?
    @Option(help: "Oldest camera estimate (and, for a camera policy, frame) the policy may act on (s); older counts as none and the loop holds.")
    var cameraMaxAge: Double = 0.25
    @Option(help: "On --port with --camera and a camera policy: the frame ring's file (default /dev/shm/<camera channel name>.frames, where reflex emulate --frames writes).")
    var frames: String?
    @Option(help: "Evaluate: run this many lift episodes (seeds --seed, --seed+1, …) on --sim, or on --port with --camera (the scene resets over the camera channel), and report the success rate.")
    var episodes: Int?
    @Option(help: "Loop time per episode with --episodes (s); default: the task's episode length at the control rate (reflex eval's budget).")
    var episodeSeconds: Double?
    @Option(help: "With --episodes: write the per-episode results as JSON to this file.") var report: String?
    @Option(help: "Calibration file for --port (from reflex calibrate; default: the description's offsets).")
    var calibration: String?
    @Option(help: "On --port: a LeRobot calibration file (~/.cache/huggingface/lerobot/calibration/robots/<type>/<id>.json) for a LeRobot-trained checkpoint; goes with --motor-units.")
    var lerobotCalibration: String?
    @Option(help: "On --port: how long the bus waits for a servo's reply (ms, 1–1000; default 10). Raise it for a USB adapter with a 16 ms latency timer (FTDI, U2D2).")
    var busReplyTimeoutMs: Double?
    @Option(help: "Joint-position units the policy was trained in: radians (default), lerobot_degrees (LeRobot use_degrees, SO followers' default) or lerobot_range (±100, Koch's default).")
    var motorUnits: ArmConfig.MotorUnits?
    @Flag(help: "On --port, feed zeros for task features the arm cannot provide (a dry run of a task policy).")
    var zeroFeatures = false
    @Flag(help: "On --sim, stop as soon as the task succeeds.") var untilSuccess = false
    @Option(help: "Stop after this many seconds (default: run until Ctrl-C).") var seconds: Double?
    @Option(help: "Safety settings (YAML: position_margin, velocity_scale, max_step_per_tick, watchdog_timeout, watchdog_action, stop_action, approach_speed).")
    var safety: String?
    @Option(help: "Sampler override (ddpm, ddim:N, rti:2,1,0).") var sampler: String?
    @Option(help: "How chunks join while the next is inferred: naive (default), rti-delay, rtc[:BETA], rtc-replace; the worker's measured latency (in periods) is the delay RTC freezes; default: policy.yaml's `execution:`. docs/delay.md.")
    var execution: String?
    @Flag(help: "Anytime denoising: a diffusion sampler that would deliver its chunk after the executing one runs out returns its x₀ estimate instead (counted in the loop report).")
    var anytime = false
    @Option(help: "DSRL: a `reflex finetune --dsrl` run whose noise actor supplies the initial noise.") var dsrl: String?
    @Option(help: "V-GPS: value function directory (reflex train-value).") var value: String?
    @Option(help: "V-GPS: candidates per inference call (default 10).") var k: Int?
    @Option(help: "V-GPS: argmax or softmax (default: softmax when --beta is given, else argmax).") var selection: SteeringDefaults.Selection?
    @Option(help: "V-GPS: softmax temperature β > 0 (default 1); refused with --selection argmax.") var beta: Float?
    @Option(help: "SCHED_FIFO priority to ask for (0: do not ask).") var priority: Int32 = 80
    @Flag(help: "Infer inside the tick on the loop thread (synchronous, as reflex eval steps) instead of on the worker.")
    var inline = false
    @Flag(help: "Leave torque on when the run ends (default: torque off, as LeRobot).") var keepTorque = false
    @Flag(help: "Print the final figures as JSON.") var json = false

    func validate() throws {
        let chosen = [sim, port != nil, fake].filter { $0 }.count
        guard chosen == 1 else { throw ValidationError("choose exactly one of --sim, --port DEV, --fake") }
        if let rate, !(rate > 0 && rate <= 1000) { throw ValidationError("--rate must be in (0, 1000] Hz") }
        if camera != nil && port == nil { throw ValidationError("--camera goes with --port (on --sim the scene is in the process)") }
        if frames != nil && camera == nil { throw ValidationError("--frames goes with --camera (the frame ring beside the camera channel)") }
        if let episodes {
            guard episodes > 0 else { throw ValidationError("--episodes must be positive") }
            guard sim || (port != nil && camera != nil) else {
                throw ValidationError("--episodes needs --sim, or --port with --camera (something has to reset the scene)")
            }
            if untilSuccess { throw ValidationError("--until-success applies to a single run; --episodes ends each episode at success already") }
            if seconds != nil { throw ValidationError("--seconds applies to a single run; give --episode-seconds with --episodes") }
            if keepTorque { throw ValidationError("--keep-torque applies to a single run") }
        } else {
            if episodeSeconds != nil { throw ValidationError("--episode-seconds goes with --episodes") }
            if report != nil { throw ValidationError("--report goes with --episodes") }
        }
        if untilSuccess && !sim { throw ValidationError("--until-success needs --sim (the scene that judges success)") }
        if zeroFeatures && port == nil { throw ValidationError("--zero-features applies to --port (the simulator has the features; --fake feeds zeros)") }
        if calibration != nil && port == nil { throw ValidationError("--calibration goes with --port") }
        if let seconds, !(seconds > 0) { throw ValidationError("--seconds must be positive") }
        if k != nil && value == nil { throw ValidationError("--k picks among candidates scored by a value function: give --value too") }
        guard cameraMaxAge > 0 else { throw ValidationError("--camera-max-age must be positive") }
    }

    /// The arm the flags choose.
    var arm: ArmConfig {
        var config = ArmConfig(robot: robot, sim: sim ? task : nil, port: port, fake: fake ? true : nil, seed: sim || camera != nil ? seed : nil,
                  calibration: calibration, zeroFeatures: zeroFeatures ? true : nil, camera: camera,
                  cameraMaxAge: camera != nil ? cameraMaxAge : nil, lerobotCalibration: lerobotCalibration, motorUnits: motorUnits)
        config.frames = frames
        config.busReplyTimeoutMs = busReplyTimeoutMs
        return config
    }

    func run() throws {
        // policy.yaml's sampler and steering section, with the command line on top (the same pipeline as eval).
        let loaded = try PolicyLoader.loadForLoop(directory: policy, sampler: try sampler.map(SamplerSpec.init(parsing:)),
                                           steering: SteeringDefaults(value: value, k: k, selection: selection, beta: beta, dsrlActor: dsrl))
        let rate = self.rate ?? loaded.config.notes?["control_hz"].flatMap { Double($0) } ?? 20
        let safetyConfig = try safety.map { try YAMLDecoder().decode(SafetyConfig.self, fromFile: $0) } ?? SafetyConfig()
        let priority = self.priority > 0 ? self.priority : nil
        let strategy = try execution.map(ExecutionStrategy.init(parsing:)) ?? loaded.config.execution
        if let strategy, strategy == .sync || { if case .ensemble = strategy { return true }; return false }() {
            throw ReflexError(.invalidValue, "--execution \(strategy): the real-time loop switches chunks on arrival; it takes naive, rti-delay, rtc or rtc-replace")
        }
        RunSignals.install()
        if let episodes {
            var runner = try EpisodeRunner(arm: arm, rate: rate, safety: safetyConfig, priority: priority, inlineInference: inline,
                                           episodeSeconds: episodeSeconds)
            runner.execution = strategy
            runner.anytime = anytime
            note("\(episodes) \(runner.task.rawValue) episodes, seeds \(seed)…\(seed + UInt64(episodes - 1)), \(fmt(runner.budget, 1)) s each at \(rate) Hz")
            let summary = try runner.run(count: episodes, firstSeed: seed, policy: loaded, policyName: policy,
                                         shouldStop: { RunSignals.stopRequested }) { r, ok in
                if let why = r.startRefused { note("episode \(r.index) seed \(r.seed): refused to start: \(why)") }
                note("episode \(r.index) seed \(r.seed): \(r.success ? "success" : "no success") after \(fmt(r.seconds, 2)) s, \(r.ticks) ticks, \(r.deadlineMisses) misses, \(r.featureHolds) feature holds, \(r.activationRetries) activation retries — \(ok)/\(r.index + 1)")
            }
            if let frames = summary.frames { note(frames.summary) }
            let w = summary.successInterval
            print("\(summary.backend): \(summary.successes)/\(summary.episodes) succeeded (\(fmt(100 * summary.successRate, 1))%, 95% Wilson \(fmt(100 * w[0], 1))–\(fmt(100 * w[1], 1))%), seeds \(seed)…\(seed + UInt64(max(summary.episodes, 1) - 1))")
            if let report {
                let enc = JSONEncoder()
                enc.outputFormatting = [.sortedKeys, .prettyPrinted]
                try writeFileAtomically([UInt8](enc.encode(summary)), to: report)
            }
            if json { try printJSON(summary) }
            // The report is written first: a run that gave up on the arm keeps its episodes.
            if let why = summary.stoppedEarly { throw ReflexError(.device, why) }
            return
        }
        let deployment = try Deployment(config: arm, holdAtStart: true)
        let arm = deployment.robot
        if fake, loaded.config.observationSize > 2 * arm.jointCount {
            note("task features: zeros (dry run; a real run takes them from the simulator or a camera)")
        }
        let cameraPolicy = loaded as? CameraFramePolicy
        if let cameraPolicy { try deployment.attachFrames(to: cameraPolicy) }
        let controller = try deployment.makeController(rate: rate, safety: safetyConfig, priority: priority, inlineInference: inline,
                                                       execution: strategy, anytime: anytime)
        try controller.addPolicy(name: "policy", loaded)
        // Lifecycle: configure (torque off, state readable), activate (torque on, holding), then the loop.
        try controller.bringUp()
        note("\(arm.name): configured (\(arm.jointCount) joints, torque off)")
        EmergencyStopSignal.install()
        let rt: RealTimeReport
        do {
            rt = try controller.start(policy: "policy")
        } catch {
            arm.finalize()
            throw error
        }
        note("\(arm.name): active (torque on, holding); loop: \(rate) Hz, \(rt)")
        note("running \(policy) on \(deployment.label) — Ctrl-C to stop, kill -USR1 \(getpid()) for an emergency stop")
        let started = Date()
        while !RunSignals.stopRequested {
            Thread.sleep(forTimeInterval: 0.1)
            controller.currentLoop?.events.drain { note("event: \($0)") }
            if let seconds, Date().timeIntervalSince(started) >= seconds { break }
            if untilSuccess, deployment.taskSucceeded { break }
        }
        let loop = controller.currentLoop
        try? controller.stop()
        loop?.events.drain { note("event: \($0)") }
        if keepTorque {
            note("\(arm.name): left active (torque on, holding the last command)")
        } else {
            controller.shutdown()
            note("\(arm.name): torque off, finalized")
        }
        if let h = deployment.servoHealth() {
            // What the bus and the servos went through: a spent retry budget, sick servos, the bus's counters.
            if let m = h.retryBudgetMessage { note(m) }
            for m in h.servos.flatMap(\.messages) { note("servo health: \(m)") }
            let c = h.statistics
            note("bus \(h.bus): \(c.requests) requests, \(c.retries) retries, \(c.timeouts) timeouts, \(c.corruptReplies) corrupt replies")
        }
        if let task = deployment.taskStatus(), deployment.scene != nil {
            note("\(task.kind): \(task.success ? "success" : "no success") (cube lifted up to \(fmt(task.highestLift * 100, 1)) cm) after \(fmt(Date().timeIntervalSince(started), 1)) s")
        }
        if let cameraPolicy { note(cameraPolicy.report().summary) }
        guard let s = loop?.snapshot() else { return }
        if json {
            try printJSON(s)
        } else {
            print(loopCounts(s))
            print(loopTable(s))
        }
    }

    func note(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

/// SIGINT/SIGTERM → a flag the run loop polls (the handler only stores an atomic).
enum RunSignals {
    static let flag = Atomic<Bool>(false)

    static func install() {
        _ = flag.load(ordering: .relaxed)
        for s in [SIGINT, SIGTERM] {
            _ = signal(s) { _ in RunSignals.flag.store(true, ordering: .releasing) }
        }
    }

    static var stopRequested: Bool { flag.load(ordering: .acquiring) }
}

extension ArmConfig.MotorUnits: ExpressibleByArgument {}
