import Foundation
import ReflexCore
import ReflexHardware
import ReflexPolicy
import ReflexRobot
import ReflexRuntime
import ReflexSim

/// One episode of an `EpisodeRunner`.
public struct LoopEpisodeResult: Codable, Sendable, Equatable {
    public var index: Int
    public var seed: UInt64
    public var success: Bool
    /// Loop time until success or the budget ran out (s).
    public var seconds: Double
    public var ticks: Int
    public var deadlineMisses: Int
    public var noActionTicks: Int
    public var featureHolds: Int
    public var stepLimitedTicks: Int
    public var readFailures: Int
    /// Activations that failed and were retried before the episode (bus arms only).
    public var activationRetries: Int
    public var writeFailures: Int
    /// The safety layer's stops and clamps (SafetyCounters): watchdog trips (a hold, or torque off), latched stops.
    public var watchdogTrips: Int
    public var servoFaultStops: Int
    public var emergencyStops: Int
    public var positionClamped: Int
    /// Commands handed to the arm outside its joint limits (the safety layer's output check; must stay 0).
    public var commandsOutsideLimits: Int
    /// Why the loop refused to start the episode (a servo error bit or no reply in its first reads), if it did:
    /// the arm held where it was activated, the episode counts as failed.
    public var startRefused: String?
    /// A camera policy's frames in this episode: used, stale, torn, missing, ages.
    public var frames: CameraFrameReport? = nil
}

/// What a run of `EpisodeRunner` reports (`reflex run --episodes --report FILE`).
public struct LoopEpisodesReport: Codable, Sendable {
    public var backend: String
    public var policy: String
    public var rate: Double
    public var episodeSeconds: Double
    public var episodes: Int
    public var successes: Int
    public var successRate: Double
    public var successInterval: [Double]
    public var episodeResults: [LoopEpisodeResult]
    /// A bus arm's health at the end: the bus's counters, retry-budget exhaustions, the servos' readings.
    public var busHealth: BusHealthReport?
    /// Why the run ended before its episodes were done (`refusedStartsInARowLimit` refusals in a row), if it did;
    /// the episodes so far are all here.
    public var stoppedEarly: String?
    /// A camera policy's frames over the whole run (counts and ages).
    public var frames: CameraFrameReport? = nil
}

/// Seeded task episodes through the real-time loop, each from the seed `reflex eval` would give it (`firstSeed + k`):
/// on a simulated arm a fresh arm and scene per episode; on a bus arm with a camera channel the same arm, torque off
/// between episodes while the scene side resets over the channel, then activated again. Success is the task's own
/// test (the scene's, or the scorer's verdict in the camera estimates); an episode ends at success or after
/// `episodeSeconds` of loop time.
public struct EpisodeRunner {
    /// The arm; its `seed` is ignored (episode k uses `firstSeed + k`).
    public var arm: ArmConfig
    public var rate: Double
    public var safety: SafetyConfig
    public var priority: Int32?
    public var inlineInference: Bool
    /// How chunks join while the next is inferred (nil: the loop's naive switch).
    public var execution: ExecutionStrategy?
    /// Anytime denoising (`ControlLoopConfig.anytime`).
    public var anytime = false
    /// Loop time per episode (s); nil: the task's episode length at the control rate (`reflex eval`'s budget).
    public var episodeSeconds: Double?

    public init(arm: ArmConfig, rate: Double, safety: SafetyConfig = SafetyConfig(), priority: Int32? = 80,
                inlineInference: Bool = false, episodeSeconds: Double? = nil) throws {
        guard rate > 0, rate <= 1000 else { throw ReflexError(.invalidValue, "rate must be in (0, 1000] Hz, got \(rate)") }
        if let s = episodeSeconds, !(s > 0 && s.isFinite) {
            throw ReflexError(.invalidValue, "episode length must be a positive number of seconds, got \(s)")
        }
        switch try arm.kind() {
        case .sim: break
        case .port: guard arm.camera != nil else {
            throw ReflexError(.invalidValue, "episodes on a bus arm need a camera channel: something has to reset the scene and score it")
        }
        case .fake: throw ReflexError(.invalidValue, "episodes need a task: a simulated arm, or a bus arm with a camera channel")
        }
        self.arm = arm
        self.rate = rate
        self.safety = safety
        self.priority = priority
        self.inlineInference = inlineInference
        self.episodeSeconds = episodeSeconds
    }

    /// The task the episodes run.
    public var task: TaskKind {
        if let sim = arm.sim, let kind = TaskKind(rawValue: sim) { return kind }
        return CameraTaskFeatures.task
    }

    /// Loop time per episode (s).
    public var budget: Double { episodeSeconds ?? Double(TaskConfig(kind: task).maxEpisodeSteps) / rate }

    /// Episodes in a row whose start the loop refused before the run gives up.
    public static let refusedStartsInARowLimit = 4
    /// Torque-off wait after the first refused start (s); doubled after each further one in a row.
    public var refusedStartCoolDown = 1.0

    /// Runs `count` episodes from `firstSeed`. `shouldStop` is polled while episodes run (a signal); `progress`
    /// hears each finished episode and is the place to print. A run that gives up on an arm (refused starts in a
    /// row) returns what it has with `stoppedEarly` set, so its report is not lost.
    public func run(count: Int, firstSeed: UInt64, policy: Policy, policyName: String,
                    shouldStop: () -> Bool = { false }, progress: (LoopEpisodeResult, _ successes: Int) -> Void = { _, _ in }) throws
        -> LoopEpisodesReport {
        guard count > 0 else { throw ReflexError(.invalidValue, "episodes must be positive, got \(count)") }
        // A bus arm is opened once; a simulated arm is made fresh per episode, so each starts from its own world.
        let bus: Deployment? = arm.port != nil ? try Deployment(config: arm) : nil
        let cameraPolicy = policy as? CameraFramePolicy
        if let bus, let cameraPolicy { try bus.attachFrames(to: cameraPolicy) } // a ring that does not fit: refused now
        if let bus { _ = try bus.observation(for: policy.config) } // refuse a misfit before any episode
        var framesSoFar = CameraFrameReport.empty
        cameraPolicy?.resetReport()
        defer { bus?.robot.finalize() }
        if let bus { try bus.robot.configure() }
        let label = bus?.label ?? "sim \(task.rawValue)"
        var results: [LoopEpisodeResult] = []
        var refusedInARow = 0
        var stoppedEarly: String?
        for k in 0 ..< count where !shouldStop() && stoppedEarly == nil {
            let seed = firstSeed &+ UInt64(k)
            let deployment: Deployment
            if let bus {
                if bus.robot.lifecycle == .active { try bus.robot.deactivate() }
                try bus.resetRemoteScene(episode: UInt32(k + 1), seed: seed)
                deployment = bus
            } else {
                var config = arm
                config.seed = seed
                // Holding the start pose at once, as the task's reset leaves the arm.
                deployment = try Deployment(config: config, holdAtStart: true)
            }
            if let cameraPolicy { try deployment.attachFrames(to: cameraPolicy) }
            var r = try runEpisode(index: k, seed: seed, on: deployment, policy: policy, shouldStop: shouldStop)
            if let cameraPolicy {
                // This episode's share of the run's counts (ages are the run's so far).
                let total = cameraPolicy.report()
                r.frames = CameraFrameReport(framesUsed: total.framesUsed - framesSoFar.framesUsed, stale: total.stale - framesSoFar.stale,
                                             torn: total.torn - framesSoFar.torn, missing: total.missing - framesSoFar.missing,
                                             heldChunks: total.heldChunks - framesSoFar.heldChunks,
                                             ageMedianMilliseconds: total.ageMedianMilliseconds, ageMaxMilliseconds: total.ageMaxMilliseconds)
                framesSoFar = total
            }
            if bus == nil { deployment.robot.finalize() }
            results.append(r)
            progress(r, results.filter(\.success).count)
            // One refused start is a transient (a status bit, a lost reply); a servo that overheated needs time:
            // torque off and a cool-down of 1, 2, 4 s before the next try; four refusals in a row is an arm to look at.
            refusedInARow = r.startRefused == nil ? 0 : refusedInARow + 1
            if let why = r.startRefused {
                guard refusedInARow < Self.refusedStartsInARowLimit else {
                    stoppedEarly = "\(refusedInARow) episodes in a row refused to start; the last: \(why)"
                    break
                }
                if let bus, bus.robot.lifecycle == .active { try bus.robot.deactivate() }
                let coolDown = refusedStartCoolDown * Double(1 << (refusedInARow - 1))
                let until = monotonicNanoseconds() + UInt64(coolDown * 1e9)
                while !shouldStop() && monotonicNanoseconds() < until { Thread.sleep(forTimeInterval: 0.05) }
            }
        }
        let successes = results.filter(\.success).count
        let w = Statistics.wilsonInterval(successes: successes, trials: results.count)
        var report = LoopEpisodesReport(backend: label, policy: policyName, rate: rate, episodeSeconds: budget,
                                  episodes: results.count, successes: successes,
                                  successRate: results.isEmpty ? 0 : Double(successes) / Double(results.count),
                                  successInterval: [w.low, w.high], episodeResults: results, busHealth: bus?.servoHealth(),
                                  stoppedEarly: stoppedEarly)
        report.frames = cameraPolicy?.report()
        return report
    }

    private func runEpisode(index k: Int, seed: UInt64, on deployment: Deployment, policy: Policy,
                            shouldStop: () -> Bool) throws -> LoopEpisodeResult {
        let arm = deployment.robot
        let observation = try deployment.observation(for: policy.config)
        let layer = try SafetyLayer(limits: arm.limits, config: safety, period: 1 / rate)
        let config = ControlLoopConfig(rate: rate, realTimePriority: priority, lockMemory: true,
                                       inlineInference: inlineInference, seed: seed, execution: execution,
                                       anytime: anytime)
        let loop = try ControlLoop(robot: arm, safety: layer, policy: policy, observation: observation, config: config)
        var activationRetries = 0
        while arm.lifecycle != .active {
            do {
                try arm.activate()
            } catch {
                // Between episodes, not in a tick: a sync read that got no reply right after the scene reset (seen
                // twice in ~450 hardware-in-the-loop episodes, cause not found) is retried twice before giving up.
                activationRetries += 1
                guard deployment.camera != nil else { throw error }
                // Still failing (a servo silent for a while): refused, as a loop that cannot start; torque off and a
                // cool-down before the next episode's try.
                guard activationRetries <= 2 else { return refused(k, seed, activationRetries, "activation failed: \(error)") }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        let started = monotonicNanoseconds()
        do {
            try loop.start()
        } catch {
            // The loop's first reads saw a servo error (or no reply): it does not start, the arm holds where it was
            // activated, and torque goes off before the next episode (deactivate) or at the end (finalize).
            return refused(k, seed, activationRetries, "\(error)")
        }
        var elapsed = 0.0
        while !shouldStop() && !deployment.taskSucceeded && elapsed < budget {
            Thread.sleep(forTimeInterval: 0.005)
            elapsed = Double(monotonicNanoseconds() - started) * 1e-9
        }
        loop.stop()
        let s = loop.snapshot()
        return LoopEpisodeResult(index: k, seed: seed, success: deployment.taskSucceeded, seconds: elapsed,
                                 ticks: s.counters.ticks, deadlineMisses: s.counters.deadlineMisses,
                                 noActionTicks: s.counters.noActionTicks, featureHolds: s.counters.featureHolds,
                                 stepLimitedTicks: s.safety.stepLimited, readFailures: s.counters.readFailures,
                                 activationRetries: activationRetries, writeFailures: s.counters.writeFailures,
                                 watchdogTrips: s.safety.watchdogTrips, servoFaultStops: s.safety.servoFaultStops,
                                 emergencyStops: s.safety.emergencyStops, positionClamped: s.safety.positionClamped,
                                 commandsOutsideLimits: s.safety.commandsOutsideLimits, startRefused: nil)
    }

    private func refused(_ k: Int, _ seed: UInt64, _ activationRetries: Int, _ why: String) -> LoopEpisodeResult {
        LoopEpisodeResult(index: k, seed: seed, success: false, seconds: 0, ticks: 0, deadlineMisses: 0, noActionTicks: 0,
                          featureHolds: 0, stepLimitedTicks: 0, readFailures: 0, activationRetries: activationRetries,
                          writeFailures: 0, watchdogTrips: 0, servoFaultStops: 0, emergencyStops: 0, positionClamped: 0,
                          commandsOutsideLimits: 0, startRefused: why)
    }
}
