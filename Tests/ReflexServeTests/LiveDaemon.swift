import Foundation
import Logging
import ReflexCore
import ReflexDeployment
import ReflexSteering
import ReflexRL
import ReflexNN
import ReflexPolicy
import ReflexRobot
import ReflexRuntime
import ServiceLifecycle

@testable import ReflexServe

/// Runs blocking client calls on a thread of their own (not the cooperative pool the server also uses).
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        let t = Thread { c.resume(with: Result { try body() }) }
        t.start()
    }
}

/// A small diffusion policy for the fake six-joint arm (observation: 6 positions + 6 velocities), saved as a policy
/// directory under `root/name`.
func makePolicyDirectory(_ root: String, _ name: String, seed: UInt64 = 3) throws -> String {
    let config = PolicyConfig(kind: .diffusion, observationSize: 12, actionSize: 6, nObsSteps: 2, horizon: 16, nActionSteps: 8,
                              normalization: .init(observation: .identity(size: 12), action: .identity(size: 6)),
                              network: .init(hiddenSizes: [32, 32]), scheduler: NoiseScheduler.Config(),
                              sampler: .ddim(steps: 4, eta: 0))
    var gen = RandomGenerator(seed: seed)
    let mlp = MLP(config: config.network.mlp(horizon: 16, actionSize: 6, conditionSize: config.conditionSize), generator: &gen)
    let dir = root + "/" + name
    try PolicyDirectory.save(config: config, network: mlp, to: dir)
    return dir
}

/// A `reflex finetune --dsrl` run directory as the trainer leaves it (run.json + policy.safetensors) with a random
/// noise actor for `policy` (condition size `conditionSize`, 16 × 6 noise values).
func makeDSRLRun(_ root: String, _ name: String, policy: String, conditionSize: Int = 24) throws -> String {
    let dir = root + "/" + name
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    // run.json as `reflex finetune --dsrl` writes it (one type: FinetuneSpec).
    var learner = DSRLSettings.learnerPreset
    learner.actorHiddenSizes = [16]
    let spec = FinetuneSpec(run: TrainingRunSpec(algo: .sac, env: "so101:lift", seed: 0, threads: 1, learner: learner,
                                                 trainer: TrainerConfig()),
                            dsrl: DSRLSettings(policy: policy, magnitude: 1.5, ddimSteps: 4))
    try spec.write(to: RunDirectory(path: dir))
    var gen = RandomGenerator(seed: 11)
    let actor = MLP(config: MLPConfig(inputSize: conditionSize, hiddenSizes: [16], outputSize: 2 * 16 * 6, activation: .tanh,
                                      layerNorm: true), generator: &gen)
    try writeSafetensors(actor.namedParameters(prefix: "policy."), to: dir + "/policy.safetensors")
    return dir
}

func temporaryDirectory() throws -> String {
    let dir = NSTemporaryDirectory() + "reflex-serve-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// A daemon on a fake arm (or, given `arm`, the arm its config names, opened as `reflex serve` opens it), served for real over loopback TCP (port 0) or a Unix socket, inside a service group the
/// test shuts down as SIGTERM would.
final class LiveDaemon: @unchecked Sendable {
    static let token = "test-token-0123456789abcdef"
    let fake: FakeRobot
    let core: DaemonCore
    let group: ServiceGroup
    let run: Task<Void, any Error>
    let client: RawHTTPClient
    let root: String
    let address: ListenAddress

    init(unixSocket: Bool = false, token: String? = LiveDaemon.token, stopAction: SafetyConfig.StopAction = .hold,
         preload: [String] = [], maxBodyBytes: Int = 64 * 1024, arm: ArmConfig? = nil, rate: Double = 100) async throws {
        root = try temporaryDirectory()
        fake = FakeRobot.sixJoint()
        var policies: [String: String] = [:]
        for name in preload { policies[name] = try makePolicyDirectory(root, name) }
        address = unixSocket ? .unix(path: root + "/reflex.sock") : .tcp(host: "127.0.0.1", port: 0)
        var config = ServeConfig(arm: arm ?? .init(fake: true), policies: policies, listen: address.description)
        config.policyRoots = [root]
        config.rate = rate
        config.priority = 0
        config.safety = SafetyConfig(stopAction: stopAction)
        config.onExit = .init(holdSeconds: 0, torqueOff: true)
        config.maxBodyBytes = maxBodyBytes
        config.streamHz = 50
        let controller = try RobotController(robot: fake, safety: config.safety,
                                             loop: ControlLoopConfig(rate: 100, realTimePriority: nil, lockMemory: false)) { _ in
            try ObservationBuilder(jointCount: 6, includeVelocities: true)
        }
        var logger = Logger(label: "reflex.serve.test")
        logger.logLevel = .warning
        core = try arm == nil ? DaemonCore(controller: controller, config: config, logger: logger) : DaemonCore(config: config, logger: logger)
        try core.bringUp()
        let (ports, continuation) = AsyncStream<Int?>.makeStream()
        try ReflexDaemon.prepareSocket(address)
        let app = ReflexDaemon.application(core: core, address: address, token: token, logger: logger) { port in
            continuation.yield(port)
        }
        let g = ServiceGroup(configuration: .init(services: [.init(service: app), .init(service: ControllerService(core: core))],
                                                  logger: logger))
        group = g
        run = Task { try await g.run() }
        var port: Int?
        for await p in ports {
            port = p
            break
        }
        switch address {
        case let .unix(path): client = RawHTTPClient(endpoint: .unix(path: path), token: token)
        case .tcp: client = RawHTTPClient(endpoint: .tcp(port: port ?? 0), token: token)
        }
    }

    /// As SIGTERM: graceful shutdown of the group (the controller service stops the arm first).
    func shutdown() async throws {
        await group.triggerGracefulShutdown()
        try await run.value
        try? FileManager.default.removeItem(atPath: root)
    }

    // Blocking helpers (on their own thread).
    func get(_ path: String, token: String?? = nil) async throws -> RawHTTPClient.Response {
        var c = client
        if let token { c.token = token }
        let cc = c
        return try await blocking { try cc.request("GET", path) }
    }

    func post(_ path: String, _ object: [String: Any]? = nil, token: String?? = nil) async throws -> RawHTTPClient.Response {
        var c = client
        if let token { c.token = token }
        let cc = c
        let body = try object.map { Array(try JSONSerialization.data(withJSONObject: $0)) } ?? Array("{}".utf8)
        return try await blocking { try cc.request("POST", path, body: body) }
    }

    func postRaw(_ path: String, _ body: [UInt8], contentType: String?) async throws -> RawHTTPClient.Response {
        let c = client
        return try await blocking { try c.request("POST", path, body: body, contentType: contentType) }
    }
}
