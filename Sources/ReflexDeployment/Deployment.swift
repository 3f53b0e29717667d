import Foundation
import ReflexCore
import ReflexHardware
import ReflexPolicy
import ReflexRobot
import ReflexRuntime
import ReflexSim

/// A simulated task's state, as a deployment reports it (the daemon's status, `reflex run`'s last line).
public struct TaskStatus: Sendable, Codable, Equatable {
    public var kind: String
    /// The task's success test has held since the episode started (latched).
    public var success: Bool
    /// Highest the cube got above its start (m); 0 where the scene is not in this process.
    public var highestLift: Double

    public init(kind: String, success: Bool, highestLift: Double) {
        self.kind = kind
        self.success = success
        self.highestLift = highestLift
    }
}

/// Everything between "I have an arm config" and "the loop has a `Robot`, an observation and a reset": the arm
/// (Bullet-simulated with its task scene, on a servo bus with an optional camera channel, or a fake), how a policy's
/// observation is built on it, and what happens before each episode. `reflex run`, `reflex run --episodes`, the
/// daemon, the Swift front door and the C ABI all build their arms here.
///
/// The observation rule lives here and only here: a policy observes `[joint positions][joint velocities][task
/// features]` (Reflex's task layout); the features come from the scene (sim), the camera channel's estimate plus
/// forward kinematics (bus with camera), zeros (a dry run, when asked) or nowhere (a policy without features).
public final class Deployment: @unchecked Sendable {
    public let config: ArmConfig
    public let kind: ArmConfig.Kind
    public let description: RobotDescription
    public let robot: Robot
    /// How the arm was chosen, for messages (`--sim lift`, `--port /dev/ttyACM0 --camera /tmp/so101.cam`).
    public let label: String
    /// The task scene of a simulated arm.
    public let scene: SimScene?
    /// The camera channel's task features of a bus arm.
    public let camera: CameraTaskFeatures?
    private let busArm: BusRobot?
    /// A camera policy's frames (`attachFrames(to:)`): observations built after it was set hold while they are stale.
    public internal(set) var frames: CameraFrameFeed?
    private let episodes = EpisodeCounter()

    /// Opens the arm: a simulated arm is configured at its scene's start, a bus arm's port is opened (nothing is
    /// configured yet), a fake arm is made.
    /// - Parameter holdAtStart: activate a simulated arm at once, holding its start pose (a configured, inactive
    ///   simulated arm has no torque and sags as time passes); the daemon leaves it inactive until an episode.
    /// - Warning: Not real-time safe.
    public init(config: ArmConfig, holdAtStart: Bool = false) throws {
        try config.validate()
        self.config = config
        kind = try config.kind()
        description = try RobotDescription.named(config.robot)
        switch kind {
        case .fake:
            robot = try FakeRobot(description: description)
            label = "fake \(description.name)"
            scene = nil
            camera = nil
            busArm = nil
        case let .sim(task):
            // The scene needs the world, which exists after configure; the layout is computed first so the arm is
            // placed and holding at once.
            let layout = try SimScene.Layout(description: description, task: task, seed: config.seed ?? 0)
            let arm = SimulatedRobot(description: description)
            try arm.configure()
            scene = try SimScene(robot: arm, layout: layout)
            if holdAtStart { try arm.activate() }
            robot = arm
            label = "sim \(task.rawValue) (seed \(config.seed ?? 0))"
            camera = nil
            busArm = nil
        case let .port(device):
            let lerobot = try config.lerobotCalibration.map { path in
                LeRobotArmUnits(calibration: try LeRobotCalibration.load(path: path),
                                useDegrees: config.motorUnits?.lerobotUseDegrees ?? true, file: path)
            }
            let timeout = config.busReplyTimeoutMs ?? ArmConfig.defaultBusReplyTimeoutMs
            let bus = try BusRobot(description: description, port: device, calibrationFile: config.calibration, lerobot: lerobot,
                                   replyTimeoutNanoseconds: UInt64(timeout * 1_000_000))
            let ms = config.busWatchdogMs ?? ArmConfig.defaultBusWatchdogMs
            bus.busWatchdogMilliseconds = ms > 0 ? ms : nil
            bus.retryBudget = config.busRetryBudget ?? .standard
            robot = bus
            busArm = bus
            scene = nil
            let described = description
            camera = try config.camera.map {
                try CameraTaskFeatures(description: described, subscriber: try CameraSubscriber(path: $0),
                                       maxAge: config.cameraMaxAge ?? ArmConfig.defaultCameraMaxAge)
            }
            label = "port \(device)" + (config.camera.map { " camera \($0)" } ?? "")
        }
    }

    /// Task features this arm provides (0: none).
    public var featureCount: Int {
        if let scene { return scene.featureCount }
        if camera != nil { return CameraTaskFeatures.count }
        return 0
    }

    /// Builds the observation of a policy with `config` on this arm: joint positions and velocities, then the
    /// task features the policy was trained with. Refuses, with the reason, a policy whose shapes do not fit.
    public func observation(for config: PolicyConfig) throws -> ObservationBuilder {
        let n = robot.jointCount
        guard config.actionSize == n else {
            throw ReflexError(.shapeMismatch, "the policy acts on \(config.actionSize) values, \(description.name) has \(n) joints")
        }
        if busArm?.lerobot != nil, config.observationSize == n {
            // A LeRobot checkpoint's observation.state: the joints' `.pos`, in LeRobot's units.
            return try ObservationBuilder(jointCount: n, includeVelocities: false)
        }
        let needed = config.observationSize - 2 * n
        guard needed >= 0 else {
            throw ReflexError(.shapeMismatch, "the policy observes \(config.observationSize) values, fewer than \(description.name)'s \(n) joint positions and velocities")
        }
        if let narrowed = try narrowedObservation(for: config) { return narrowed }
        let frames = self.frames
        if needed == 0, let frames {
            // Joints only, but frames to check (and, on a simulated arm, to render) each tick: the velocities go
            // through the feature slot, which is where a builder reads its source.
            return try ObservationBuilder(jointCount: n, includeVelocities: false, featureCount: n, stateFeatures: { state, out in
                for i in 0 ..< n { out[i] = Float(state.velocity[i]) }
                return frames.fresh(now: monotonicNanoseconds())
            })
        }
        if needed == 0 { return try ObservationBuilder(jointCount: n, includeVelocities: true) }
        if let scene, scene.featureCount == needed {
            return try ObservationBuilder(jointCount: n, includeVelocities: true, featureCount: needed) { out in
                let ok = scene.features(out) // judges success: every tick
                return (frames?.fresh(now: monotonicNanoseconds()) ?? true) && ok
            }
        }
        if let camera, CameraTaskFeatures.count == needed {
            return try ObservationBuilder(jointCount: n, includeVelocities: true, featureCount: needed,
                                          stateFeatures: { state, out in
                                              let ok = camera.features(state, out)
                                              return (frames?.fresh(now: monotonicNanoseconds()) ?? true) && ok
                                          })
        }
        if kind == .fake || self.config.zeroFeatures == true {
            return try ObservationBuilder(jointCount: n, includeVelocities: true, featureCount: needed) { out in
                out.update(repeating: 0)
                return true
            }
        }
        var hint = ""
        if case .port = kind { hint = camera == nil ? " (on an arm they come from a camera channel: camera:, or zero_features for a dry run)" : "" }
        throw ReflexError(.shapeMismatch, "the policy needs \(needed) task features; \(label) provides \(featureCount)\(hint)")
    }

    /// A policy trained on some of the task's observations (`reflex train --exclude-features`, its
    /// `notes.observation_names`): the full task observation — joint positions, velocities, the scene's or the camera
    /// channel's features — narrowed to those, in the policy's order. Nil when the policy takes them all.
    func narrowedObservation(for config: PolicyConfig) throws -> ObservationBuilder? {
        guard let listed = config.notes?["observation_names"] else { return nil }
        let kind: TaskKind
        if let scene { kind = scene.kind } else if camera != nil { kind = CameraTaskFeatures.task } else { return nil }
        let n = robot.jointCount
        let names = description.jointNames.map { "\($0).pos" } + description.jointNames.map { "\($0).vel" } + kind.featureNames
        // Only a policy that takes fewer values than the task gives is narrowed: one of the full size keeps the
        // layout it always had, whatever its notes call the values.
        guard config.observationSize < names.count else { return nil }
        let wanted = listed.split(separator: ",").map(String.init)
        let kept = try wanted.map { name -> Int in
            guard let i = names.firstIndex(of: name) else {
                throw ReflexError(.shapeMismatch, "the policy observes '\(name)', which \(label) does not provide (it has: \(names.joined(separator: ", ")))")
            }
            return i
        }
        guard kept.count == config.observationSize else {
            throw ReflexError(.shapeMismatch, "the policy observes \(config.observationSize) values but names \(kept.count)")
        }
        let full = NarrowingScratch(count: names.count)
        let frames = self.frames, scene = self.scene, camera = self.camera
        return try ObservationBuilder(jointCount: n, includePositions: false, includeVelocities: false, featureCount: kept.count,
                                      stateFeatures: { state, out in
            let all = full.values
            for i in 0 ..< n {
                all[i] = Float(state.position[i])
                all[n + i] = Float(state.velocity[i])
            }
            let rest = UnsafeMutableBufferPointer(rebasing: all[(2 * n)...])
            var ok = scene?.features(rest) ?? camera?.features(state, rest) ?? false
            if let frames, !frames.fresh(now: monotonicNanoseconds()) { ok = false }
            for (j, i) in kept.enumerated() { out[j] = all[i] }
            return ok
        })
    }

    /// `observation(for:)` as the controller's factory.
    public var observationFactory: RobotController.ObservationFactory {
        { [self] config in try observation(for: config) }
    }

    /// Runs before each episode under the controller's lock, with no loop running: a simulated arm goes back to
    /// its scene's start (torque off, arm and cube placed, success forgotten), a bus arm re-arms a Bus Watchdog that
    /// tripped while it idled.
    /// - Warning: Not real-time safe.
    public func prepareEpisode() throws {
        if let scene {
            if robot.lifecycle == .active { try robot.deactivate() }
            scene.reset()
        }
        if let busArm {
            try busArm.rearmBusWatchdog()
            busArm.resetRetryBudget()
        }
    }

    /// A bus arm with a camera channel: asks the scene side to reset to episode `episode` with `seed` (waiting for
    /// its acknowledgment) and from then on acts only on that episode's estimates. Nothing to do on other arms.
    /// - Warning: Not real-time safe; it may wait up to the channel's reset timeout.
    public func resetRemoteScene(episode: UInt32, seed: UInt64) throws {
        guard let camera else { return }
        try camera.subscriber.requestReset(episode: episode, seed: seed)
        camera.episode = episode
    }

    /// The next episode of a camera channel's scene, from `config.seed` on (episode k uses seed + k − 1).
    /// - Warning: Not real-time safe.
    public func resetRemoteSceneToNextEpisode() throws {
        guard camera != nil else { return }
        let episode = episodes.next()
        try resetRemoteScene(episode: episode, seed: (config.seed ?? 0) &+ UInt64(episode - 1))
    }

    /// A bus arm's servo health and bus counters (nil for simulated and fake arms).
    public func servoHealth() -> BusHealthReport? { busArm?.healthReport() }

    /// Reads every servo's health once, on a configured bus arm no loop is driving (between episodes the loop
    /// reads nothing, and the readings would only age). The caller makes sure no loop runs.
    /// - Warning: Not real-time safe.
    public func refreshServoHealthWhileIdle() {
        guard let busArm, busArm.lifecycle == .inactive || busArm.lifecycle == .active else { return }
        _ = try? busArm.inspectHealth()
    }

    /// The task's state: the scene's on a simulated arm, the scorer's verdict from the camera channel on a bus arm.
    public func taskStatus() -> TaskStatus? {
        if let scene { return TaskStatus(kind: scene.kind.rawValue, success: scene.success, highestLift: scene.highestLift) }
        if let camera {
            let e = camera.subscriber.latest
            return TaskStatus(kind: CameraTaskFeatures.task.rawValue,
                              success: e.map { $0.episode == camera.episode && $0.success } ?? false, highestLift: 0)
        }
        return nil
    }

    /// Whether the current episode's task has succeeded (false where no task is known).
    public var taskSucceeded: Bool { taskStatus()?.success ?? false }

    /// A controller over this arm: the safety layer, the loop settings and this deployment's observations.
    public func makeController(rate: Double, safety: SafetyConfig = SafetyConfig(), priority: Int32? = 80,
                               lockMemory: Bool = true, inlineInference: Bool = false,
                               execution: ExecutionStrategy? = nil, anytime: Bool = false) throws -> RobotController {
        guard rate > 0, rate <= 1000 else { throw ReflexError(.invalidValue, "rate must be in (0, 1000] Hz, got \(rate)") }
        return try RobotController(robot: robot, safety: safety,
                                   loop: ControlLoopConfig(rate: rate, realTimePriority: priority, lockMemory: lockMemory,
                                                           inlineInference: inlineInference, seed: config.seed ?? 0,
                                                           execution: execution, anytime: anytime),
                                   observation: observationFactory)
    }
}

/// The full observation a narrowed one is picked from.
final class NarrowingScratch: @unchecked Sendable {
    let values: UnsafeMutableBufferPointer<Float>
    init(count: Int) {
        values = .allocate(capacity: count)
        values.initialize(repeating: 0)
    }
    deinit { values.deallocate() }
}

/// Episode numbers of a camera channel's scene (1, 2, …).
final class EpisodeCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n: UInt32 = 0
    func next() -> UInt32 {
        lock.withLock {
            n += 1
            return n
        }
    }
}
