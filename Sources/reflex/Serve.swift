import ArgumentParser
import Foundation
import Logging
import ReflexCore
import ReflexHardware
import ReflexPolicy
import ReflexRobot
import ReflexRuntime
import ReflexServe
import ReflexSim

/// `reflex serve`: the robot controller daemon — one arm, its safety layer and loop, the policies it may run, and
/// an HTTP/JSON + WebSocket API on a Unix socket (default) or loopback with a bearer token.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the robot controller daemon: HTTP/JSON API, WebSocket telemetry, metrics and a status page over one arm.",
        discussion: """
        Start-up configures the arm and leaves it inactive (torque off): nothing moves until POST /v1/episode/start. \
        SIGTERM or SIGINT stops the loop (the arm holds), then switches torque off as on_exit says, and exits 0. \
        `kill -USR1 <pid>` is an emergency stop. See docs/daemon.md and examples/serve-sim.yaml.
        """
    )

    @Option(help: "Daemon configuration (YAML: arm, policies, listen, rate, safety…).") var config: String
    @Option(help: "Override the config's listen address (unix:PATH or HOST:PORT).") var listen: String?
    @Flag(help: "Allow listening on an address other machines can reach (needs a token too).") var allowRemote = false
    @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).") var logLevel = "info"

    func run() async throws {
        var cfg = try ServeConfig.read(config)
        if let listen { cfg.listen = listen }
        let address = try ListenAddress(parsing: cfg.listen)
        let token = try cfg.tokenFile.map { try ServeSecurity.readToken($0) }
            ?? ProcessInfo.processInfo.environment["REFLEX_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        try ServeSecurity.check(address, token: token, allowRemote: allowRemote)

        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "reflex.serve")
        umask(0o077) // the socket and anything else the daemon creates: owner only

        let arm = try ServeArm.make(cfg.arm)
        let controller = try RobotController(
            robot: arm.robot, safety: cfg.safety,
            loop: ControlLoopConfig(rate: cfg.rate, realTimePriority: cfg.priority > 0 ? cfg.priority : nil, lockMemory: true),
            observation: arm.observation)
        let core = try DaemonCore(controller: controller, config: cfg, logger: logger, beforeEpisode: arm.beforeEpisode,
                                  taskStatus: arm.taskStatus, resetScene: arm.resetScene)
        EmergencyStopSignal.install()
        do {
            try core.bringUp()
        } catch {
            arm.robot.finalize()
            throw error
        }
        logger.notice("\(arm.robot.name) is \(arm.robot.lifecycle): nothing moves until POST /v1/episode/start")
        logger.notice("listening on \(address)\(token == nil ? "" : " (bearer token required)"); pid \(getpid()); kill -USR1 for an emergency stop")
        try await ReflexDaemon.run(core: core, address: address, token: token, logger: logger) { port in
            if let port { logger.notice("bound TCP port \(port)") }
        }
        logger.notice("exited cleanly: \(arm.robot.name) is \(arm.robot.lifecycle)")
    }
}

/// The arm a daemon config names, and how observations are built for each policy on it.
struct ServeArm {
    var robot: Robot
    var observation: RobotController.ObservationFactory
    var beforeEpisode: (@Sendable () throws -> Void)?
    var taskStatus: (@Sendable () -> TaskStatus)?
    var resetScene: (@Sendable () throws -> Void)?

    static func make(_ arm: ServeConfig.Arm) throws -> ServeArm {
        let description = try RobotDescription.named(arm.robot)
        var scene: RunScene?
        var camera: CameraFeatures?
        var rearm: (@Sendable () throws -> Void)?
        var zeros = arm.zeroFeatures ?? false
        let robot: Robot
        switch try arm.kind() {
        case .fake:
            robot = try FakeRobot(description: description)
            zeros = true
        case let .sim(task):
            guard let kind = TaskKind(rawValue: task) else { throw ValidationError("arm.sim: unknown task '\(task)'") }
            let sim = SimulatedRobot(description: description)
            try sim.configure()
            scene = try RunScene(robot: sim, task: kind, seed: arm.seed ?? 0)
            robot = sim
        case let .port(device):
            let bus = try BusRobot(description: description, port: device, calibrationFile: arm.calibration)
            let ms = arm.busWatchdogMs ?? 100
            bus.busWatchdogMilliseconds = ms > 0 ? ms : nil
            robot = bus
            let box = BusRobotBox(robot: bus)
            rearm = { try box.robot.rearmBusWatchdog() }
            if let path = arm.camera {
                camera = try CameraFeatures(description: description, subscriber: try CameraSubscriber(path: path),
                                            maxAge: arm.cameraMaxAge ?? 0.25)
            }
        }
        let n = robot.jointCount
        let count = scene?.featureCount ?? 0, zeroFill = zeros, taskScene = scene, taskCamera = camera
        var resetScene: (@Sendable () throws -> Void)?
        var taskStatus: (@Sendable () -> TaskStatus)?
        if let camera {
            // Hardware in the loop: each episode asks the scene side for a reset to the next seed and acts only on
            // that episode's estimates; the scorer's verdict comes back with them.
            let firstSeed = arm.seed ?? 0
            let episodes = EpisodeCounter()
            resetScene = {
                let episode = episodes.next()
                try camera.subscriber.requestReset(episode: episode, seed: firstSeed + UInt64(episode - 1))
                camera.episode = episode
            }
            taskStatus = {
                let e = camera.subscriber.latest
                return TaskStatus(kind: "lift", success: e.map { $0.episode == camera.episode && $0.success } ?? false, highestLift: 0)
            }
        }
        if let scene {
            taskStatus = { TaskStatus(kind: scene.kind.rawValue, success: scene.success, highestLift: scene.highestLift) }
            // Each episode on the simulated arm starts from the scene's start, as an evaluation episode does: the
            // arm (torque off while the daemon waited, so it sagged) and the cube are put back, then activated.
            let arm = robot
            let box = SceneBox(scene: scene, robot: arm)
            rearm = {
                if box.robot.lifecycle == .active { try box.robot.deactivate() }
                box.scene.reset()
            }
        }
        return ServeArm(robot: robot, observation: { config in
            // Reflex's task layout: joint positions, velocities, then task features.
            let needed = config.observationSize - 2 * n
            guard needed >= 0 else {
                throw ReflexError(.shapeMismatch, "the policy observes \(config.observationSize) values, fewer than the arm's \(n) positions and velocities")
            }
            if needed == 0 { return try ObservationBuilder(jointCount: n, includeVelocities: true) }
            if let taskScene, count == needed {
                return try ObservationBuilder(jointCount: n, includeVelocities: true, featureCount: needed) { taskScene.features($0) }
            }
            if let cam = taskCamera, needed == CameraFeatures.count {
                return try ObservationBuilder(jointCount: n, includeVelocities: true, featureCount: needed,
                                              stateFeatures: { state, out in cam.features(state, out) })
            }
            guard zeroFill else {
                throw ReflexError(.shapeMismatch, "the policy needs \(needed) task features; this arm provides \(count) (set arm.zero_features: true for a dry run)")
            }
            return try ObservationBuilder(jointCount: n, includeVelocities: true, featureCount: needed) { out in
                out.update(repeating: 0)
                return true
            }
        }, beforeEpisode: rearm, taskStatus: taskStatus, resetScene: resetScene)
    }
}

/// Episode numbers of a hardware-in-the-loop scene (1, 2, …), from the control queue.
final class EpisodeCounter: @unchecked Sendable {
    private var n: UInt32 = 0
    func next() -> UInt32 {
        n += 1
        return n
    }
}

/// The simulated scene and arm, for the per-episode reset (under the controller's lock, no loop running).
struct SceneBox: @unchecked Sendable {
    let scene: RunScene
    let robot: Robot
}

/// The bus arm, handed to the control queue (it is only ever used there or on the loop thread, never both at once).
struct BusRobotBox: @unchecked Sendable { let robot: BusRobot }
