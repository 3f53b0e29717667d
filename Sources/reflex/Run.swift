import ArgumentParser
import Foundation
import ReflexCore
import ReflexPolicy
import ReflexRobot
import ReflexHardware
import ReflexRuntime
import ReflexSteering
import ReflexSim
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
    @Option(help: "Oldest camera estimate the policy may act on (s); older counts as no estimate and the loop holds.")
    var cameraMaxAge: Double = 0.25
    @Option(help: "Evaluate: run this many lift episodes (seeds --seed, --seed+1, …) on --sim, or on --port with --camera (the scene resets over the camera channel), and report the success rate.")
    var episodes: Int?
    @Option(help: "Loop time per episode with --episodes (s); default: the task's episode length at the control rate (reflex eval's budget).")
    var episodeSeconds: Double?
    @Option(help: "With --episodes: write the per-episode results as JSON to this file.") var report: String?
    @Option(help: "Calibration file for --port (from reflex calibrate; default: the description's offsets).")
    var calibration: String?
    @Flag(help: "On --port, feed zeros for task features the arm cannot provide (a dry run of a task policy).")
    var zeroFeatures = false
    @Flag(help: "On --sim, stop as soon as the task succeeds.") var untilSuccess = false
    @Option(help: "Stop after this many seconds (default: run until Ctrl-C).") var seconds: Double?
    @Option(help: "Safety settings (YAML: position_margin, velocity_scale, max_step_per_tick, watchdog_timeout, watchdog_action, stop_action, approach_speed).")
    var safety: String?
    @Option(help: "Sampler override (ddpm, ddim:N, rti:2,1,0).") var sampler: String?
    @Option(help: "DSRL: a `reflex finetune --dsrl` run whose noise actor supplies the initial noise.") var dsrl: String?
    @Option(help: "V-GPS: value function directory (reflex train-value).") var value: String?
    @Option(help: "V-GPS: candidates per inference call (default 10).") var k: Int?
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
        if let episodes {
            guard episodes > 0 else { throw ValidationError("--episodes must be positive") }
            guard sim || (port != nil && camera != nil) else {
                throw ValidationError("--episodes needs --sim, or --port with --camera (something has to reset the scene)")
            }
        }
        guard cameraMaxAge > 0 else { throw ValidationError("--camera-max-age must be positive") }
    }

    func run() throws {
        let description = try RobotDescription.named(robot)
        // policy.yaml's sampler and steering section, with the command line on top (the same pipeline as eval).
        let loaded = try SteeringPipeline(directory: policy, sampler: try sampler.map(SamplerSpec.init(parsing:)),
                                          overrides: SteeringDefaults(value: value, k: k, dsrlActor: dsrl)).makePolicy()
        let rate = self.rate ?? loaded.config.notes?["control_hz"].flatMap { Double($0) } ?? 20
        let safetyConfig = try safety.map { try YAMLDecoder().decode(SafetyConfig.self, fromFile: $0) } ?? SafetyConfig()
        if let episodes {
            try runEpisodes(episodes, description: description, policy: loaded, rate: rate, safety: safetyConfig)
            return
        }
        let backend = try makeBackend(description)
        let arm = backend.robot
        let joints = arm.jointCount
        guard loaded.config.actionSize == joints else {
            throw ReflexError(.shapeMismatch, "the policy acts on \(loaded.config.actionSize) values, \(description.name) has \(joints) joints")
        }
        // The observation layout of Reflex's tasks: joint positions, velocities, then task features.
        let featureCount = loaded.config.observationSize - 2 * joints
        guard featureCount >= 0 else {
            throw ReflexError(.shapeMismatch, "the policy observes \(loaded.config.observationSize) values, fewer than \(description.name)'s \(joints) positions and velocities")
        }
        let features: ObservationBuilder.StateFeatureProvider?
        if featureCount == 0 {
            features = nil
        } else if let provider = backend.features, backend.featureCount == featureCount {
            features = provider
        } else if fake || zeroFeatures {
            note("task features: \(featureCount) zeros (dry run; a real run takes them from the simulator or a camera)")
            features = { _, out in out.update(repeating: 0); return true }
        } else {
            throw ReflexError(.shapeMismatch, "the policy needs \(featureCount) task features; \(backend.label) provides \(backend.featureCount)\(port != nil ? " (on an arm they come from a camera estimate: --camera PATH; --zero-features for a dry run)" : "")")
        }
        let observation = try ObservationBuilder(jointCount: joints, includeVelocities: true, featureCount: featureCount,
                                                 stateFeatures: features)
        let layer = try SafetyLayer(limits: arm.limits, config: safetyConfig, period: 1 / rate)
        let config = ControlLoopConfig(rate: rate, realTimePriority: priority > 0 ? priority : nil, lockMemory: true,
                                       inlineInference: inline, seed: seed)
        let loop = try ControlLoop(robot: arm, safety: layer, policy: loaded, observation: observation, config: config)

        // Lifecycle: configure (torque off, state readable), activate (torque on, holding), then the loop.
        if arm.lifecycle == .unconfigured { try arm.configure() }
        note("\(arm.name): configured (\(joints) joints, torque off)")
        do {
            if arm.lifecycle != .active { try arm.activate() }
        } catch {
            arm.finalize()
            throw error
        }
        note("\(arm.name): active (torque on, holding)")
        RunSignals.install()
        EmergencyStopSignal.install()
        let rt: RealTimeReport
        do { rt = try loop.start() } catch {
            arm.finalize()
            throw error
        }
        note("loop: \(rate) Hz, \(rt)")
        note("running \(policy) — Ctrl-C to stop, kill -USR1 \(getpid()) for an emergency stop")

        let started = Date()
        while !RunSignals.stopRequested {
            Thread.sleep(forTimeInterval: 0.1)
            loop.events.drain { note("event: \($0)") }
            if let seconds, Date().timeIntervalSince(started) >= seconds { break }
            if untilSuccess, backend.scene?.success == true { break }
        }
        loop.stop()
        loop.events.drain { note("event: \($0)") }
        if keepTorque {
            note("\(arm.name): left active (torque on, holding the last command)")
        } else {
            arm.finalize()
            note("\(arm.name): torque off, finalized")
        }
        if let scene = backend.scene {
            note("\(scene.kind.rawValue): \(scene.success ? "success" : "no success") (cube lifted up to \(fmt(scene.highestLift * 100, 1)) cm) after \(fmt(Date().timeIntervalSince(started), 1)) s")
        }
        let s = loop.snapshot()
        if json {
            try printJSON(s)
        } else {
            print(loopCounts(s))
            print(loopTable(s))
        }
    }

    /// The arm behind the chosen flag, and where its task features come from.
    struct Backend {
        var robot: Robot
        var label: String
        var features: ObservationBuilder.StateFeatureProvider?
        var featureCount: Int
        var scene: RunScene?
    }

    func makeBackend(_ description: RobotDescription) throws -> Backend {
        if fake {
            return Backend(robot: try FakeRobot(description: description), label: "--fake", features: nil, featureCount: 0,
                           scene: nil)
        }
        if sim {
            guard let kind = TaskKind(rawValue: task) else { throw ValidationError("unknown task '\(task)'") }
            // The scene needs the world, which exists after configure; the robot is configured here for it.
            let layout = try RunScene.Layout(description: description, task: kind, seed: seed)
            let arm = SimulatedRobot(description: description)
            try arm.configure()
            let scene = try RunScene(robot: arm, task: kind, layout: layout)
            try arm.activate() // hold the start pose at once: an inactive simulated arm has no torque and sags
            return Backend(robot: arm, label: "--sim", features: { _, out in scene.features(out) }, featureCount: scene.featureCount,
                           scene: scene)
        }
        let arm = try BusRobot(description: description, port: port, calibrationFile: calibration)
        if let camera {
            let cam = try CameraFeatures(description: description, subscriber: try CameraSubscriber(path: camera),
                                         maxAge: cameraMaxAge)
            return Backend(robot: arm, label: "--port \(port ?? "") --camera \(camera)", features: cam.features,
                           featureCount: CameraFeatures.count, scene: nil)
        }
        return Backend(robot: arm, label: "--port \(port ?? "")", features: nil, featureCount: 0, scene: nil)
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
