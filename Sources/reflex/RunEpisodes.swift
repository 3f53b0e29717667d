import Foundation
import ReflexCore
import ReflexHardware
import ReflexPolicy
import ReflexRobot
import ReflexRuntime
import ReflexSim

/// One episode of `reflex run --episodes`.
struct RunEpisodeResult: Codable {
    var index: Int
    var seed: UInt64
    var success: Bool
    /// Loop time until success or the budget ran out (s).
    var seconds: Double
    var ticks: Int
    var deadlineMisses: Int
    var noActionTicks: Int
    var featureHolds: Int
    var stepLimitedTicks: Int
    var readFailures: Int
    /// Activations that failed and were retried before the episode (bus arms only).
    var activationRetries: Int
}

/// The summary `reflex run --episodes --report FILE` writes.
struct RunEpisodesReport: Codable {
    var backend: String
    var policy: String
    var rate: Double
    var episodeSeconds: Double
    var episodes: Int
    var successes: Int
    var successRate: Double
    var successInterval: [Double]
    var episodeResults: [RunEpisodeResult]
}

extension Run {
    /// Runs `count` lift episodes through the real-time loop, each from the seed `reflex eval` would use for it
    /// (`--seed + k`): on `--sim` a fresh simulated arm and scene per episode; on `--port` the same arm on the bus,
    /// torque off between episodes while the scene side resets over the camera channel, then activated again.
    /// Success is the task's own test (the scene's on `--sim`, the scorer's flag in the camera estimates on
    /// `--port`); an episode ends at success or after `episodeSeconds` of loop time.
    func runEpisodes(_ count: Int, description: RobotDescription, policy: Policy, rate: Double, safety: SafetyConfig) throws {
        let joints = description.joints.count
        guard policy.config.actionSize == joints, policy.config.observationSize == 2 * joints + CameraFeatures.count else {
            throw ReflexError(.shapeMismatch, "--episodes runs lift policies (\(2 * joints + CameraFeatures.count) observations, \(joints) actions); this one has \(policy.config.observationSize) and \(policy.config.actionSize)")
        }
        let budget = episodeSeconds ?? Double(TaskConfig(kind: .lift).maxEpisodeSteps) / rate
        var bus: BusRobot?
        var camera: CameraFeatures?
        if let port, let path = self.camera {
            let arm = try BusRobot(description: description, port: port, calibrationFile: calibration)
            camera = try CameraFeatures(description: description, subscriber: try CameraSubscriber(path: path),
                                        maxAge: cameraMaxAge)
            try arm.configure()
            bus = arm
        }
        defer { bus?.finalize() }
        let label = bus == nil ? "--sim" : "--port \(port ?? "") --camera \(self.camera ?? "")"
        note("\(count) lift episodes on \(label), seeds \(seed)…\(seed + UInt64(count - 1)), \(fmt(budget, 1)) s each at \(rate) Hz")
        RunSignals.install()
        var results: [RunEpisodeResult] = []
        for k in 0 ..< count where !RunSignals.stopRequested {
            let episodeSeed = seed &+ UInt64(k)
            let arm: Robot
            let features: ObservationBuilder.StateFeatureProvider
            let succeeded: () -> Bool
            if let bus, let camera {
                if bus.lifecycle == .active { try bus.deactivate() }
                let episode = UInt32(k + 1)
                try camera.subscriber.requestReset(episode: episode, seed: episodeSeed)
                camera.episode = episode
                arm = bus
                features = camera.features
                succeeded = { camera.subscriber.latest.map { $0.episode == episode && $0.success } ?? false }
            } else {
                let layout = try RunScene.Layout(description: description, task: .lift, seed: episodeSeed)
                let sim = SimulatedRobot(description: description)
                try sim.configure()
                let scene = try RunScene(robot: sim, task: .lift, layout: layout)
                try sim.activate() // holding the start pose at once, as the task's reset leaves the arm
                arm = sim
                features = { _, out in scene.features(out) }
                succeeded = { scene.success }
            }
            let observation = try ObservationBuilder(jointCount: joints, includeVelocities: true,
                                                     featureCount: CameraFeatures.count, stateFeatures: features)
            let layer = try SafetyLayer(limits: arm.limits, config: safety, period: 1 / rate)
            let config = ControlLoopConfig(rate: rate, realTimePriority: priority > 0 ? priority : nil, lockMemory: true,
                                           inlineInference: inline, seed: episodeSeed)
            let loop = try ControlLoop(robot: arm, safety: layer, policy: policy, observation: observation, config: config)
            var activationRetries = 0
            while arm.lifecycle != .active {
                do {
                    try arm.activate()
                } catch {
                    // Between episodes, not in a tick: a sync read that got no reply right after the scene reset
                    // (seen twice in ~450 HIL episodes, cause not found) is retried twice before giving up.
                    activationRetries += 1
                    guard bus != nil, activationRetries <= 2 else { throw error }
                    note("episode \(k): activation failed (\(error)); retrying")
                    Thread.sleep(forTimeInterval: 0.05)
                }
            }
            let started = monotonicNanoseconds()
            try loop.start()
            var elapsed = 0.0
            while !RunSignals.stopRequested && !succeeded() && elapsed < budget {
                Thread.sleep(forTimeInterval: 0.005)
                elapsed = Double(monotonicNanoseconds() - started) * 1e-9
            }
            loop.stop()
            let s = loop.snapshot()
            let success = succeeded()
            if bus == nil { arm.finalize() }
            let r = RunEpisodeResult(index: k, seed: episodeSeed, success: success, seconds: elapsed, ticks: s.counters.ticks,
                                     deadlineMisses: s.counters.deadlineMisses, noActionTicks: s.counters.noActionTicks,
                                     featureHolds: s.counters.featureHolds, stepLimitedTicks: s.safety.stepLimited,
                                     readFailures: s.counters.readFailures, activationRetries: activationRetries)
            results.append(r)
            let ok = results.filter(\.success).count
            note("episode \(k) seed \(episodeSeed): \(success ? "success" : "no success") after \(fmt(elapsed, 2)) s, \(r.ticks) ticks, \(r.deadlineMisses) misses, \(r.featureHolds) feature holds — \(ok)/\(results.count)")
        }
        let successes = results.filter(\.success).count
        let w = Statistics.wilsonInterval(successes: successes, trials: results.count)
        let summary = RunEpisodesReport(backend: label, policy: self.policy, rate: rate, episodeSeconds: budget,
                                        episodes: results.count, successes: successes,
                                        successRate: results.isEmpty ? 0 : Double(successes) / Double(results.count),
                                        successInterval: [w.low, w.high], episodeResults: results)
        print("\(label): \(successes)/\(results.count) lifted (\(fmt(100 * summary.successRate, 1))%, 95% Wilson \(fmt(100 * w.low, 1))–\(fmt(100 * w.high, 1))%), seeds \(seed)…\(seed + UInt64(max(results.count, 1) - 1))")
        if let report {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys, .prettyPrinted]
            try writeFileAtomically([UInt8](enc.encode(summary)), to: report)
        }
        if json { try printJSON(summary) }
    }
}
