import Foundation
import ReflexCore
import ReflexPolicy

/// An environment with cameras: a recorded episode keeps each camera's frame beside every observation, as
/// `reflex collect --camera` does (the data V-GPS's critics of a camera policy learn from).
public protocol FrameRecordingEnvironment: AnyObject {
    /// The cameras, in the order `appendFrames` appends them.
    var recordedCameras: [Demonstrations.Camera] { get }
    /// Renders every camera as the world is now and appends its frame (H × W × 3 uint8) to `frames[camera]`.
    func appendFrames(to frames: inout [[UInt8]])
}

/// Settings of a sim evaluation run.
public struct EvaluationConfig: Sendable {
    public var episodes: Int
    /// Episode k starts from environment seed `seed + k` and draws its policy noise from a generator seeded by
    /// (seed, k), so two samplers see the same starts and results do not depend on the number of workers.
    public var seed: UInt64
    public var workers: Int
    /// Actions executed per inference (nil: the policy's `n_action_steps`).
    public var actionSteps: Int?
    /// Keep each episode's observations, actions and rewards (rollouts for offline value learning).
    public var record: Bool
    /// Run only this shard's episodes (k % count == index); nil runs them all.
    public var shard: EvaluationShard?
    /// Control steps each inference takes: the environment keeps executing the previous chunk meanwhile
    /// (`PolicyRunner`). Ignored under `.sync`.
    public var delay: Int
    public var execution: ExecutionStrategy

    public init(episodes: Int, seed: UInt64 = 0, workers: Int = 1, actionSteps: Int? = nil, record: Bool = false,
                shard: EvaluationShard? = nil, delay: Int = 0, execution: ExecutionStrategy = .sync) {
        self.episodes = episodes
        self.seed = seed
        self.workers = workers
        self.actionSteps = actionSteps
        self.record = record
        self.shard = shard
        self.delay = delay
        self.execution = execution
    }

    /// The episode indices this run evaluates, ascending.
    public var episodeIndices: [Int] { shard?.episodes(of: episodes) ?? Array(0 ..< episodes) }
}

/// Shard `index` of `count` of an evaluation run: the episodes k with k % count == index. Striding rather than
/// contiguous blocks keeps shard sizes within one of each other, and any subset of shards is a sample spread over
/// the whole seed range rather than a block of it. Episode k depends only on (seed, k), so the union of the shards'
/// episodes is exactly the unsharded run's.
public struct EvaluationShard: Codable, Sendable, Equatable {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1 else { throw ReflexError(.invalidArgument, "shard count N must be at least 1, got \(count)") }
        guard (0 ..< count).contains(index) else {
            throw ReflexError(.invalidArgument, "shard index I must be in 0..<\(count) (I/N counts from 0), got \(index)")
        }
        self.index = index
        self.count = count
    }

    /// This shard's episodes of a run of `episodes`, ascending.
    public func episodes(of episodes: Int) -> [Int] { Array(stride(from: index, to: episodes, by: count)) }
}

/// One evaluated episode.
public struct EpisodeResult: Codable, Sendable {
    public var index: Int
    public var seed: UInt64
    public var success: Bool
    public var episodeReturn: Double
    public var steps: Int
    public var inferenceCalls: Int
    public var networkEvaluations: Int
    /// The most network evaluations one inference call of the episode ran (RTI's first chunk, for instance).
    public var maxCallEvaluations: Int
    /// Wall time of each inference call, in microseconds.
    public var inferenceMicros: [Double]
    /// RTC guidance's vector-Jacobian products over the episode.
    public var guidanceProducts = 0
    /// Mean over steps and joints (gripper excluded) of the squared third difference of the executed joint
    /// targets, (a_t − 3a_{t−1} + 3a_{t−2} − a_{t−3})², in the action's units (rad) per control step cubed.
    public var jerk = 0.0
    /// The largest change of any joint target (gripper excluded) from one step to the next at a chunk boundary.
    public var boundaryJump = 0.0
    /// Steps that held the last action because the executing chunk ran out before the next arrived.
    public var heldSteps = 0
    /// The recorded episode when `EvaluationConfig.record` is set (not written to JSON).
    public var trajectory: Demonstrations.Episode?

    enum CodingKeys: String, CodingKey {
        case index, seed, success, episodeReturn, steps, inferenceCalls, networkEvaluations, maxCallEvaluations, inferenceMicros,
             guidanceProducts, jerk, boundaryJump, heldSteps
    }
}

/// The summary a sim evaluation prints and writes.
public struct EvaluationReport: Codable, Sendable {
    public var episodes: Int
    public var successes: Int
    public var successRate: Double
    /// Wilson score 95% interval of the success rate.
    public var successInterval: [Double]
    public var meanReturn: Double
    public var meanSteps: Double
    public var evaluationsPerCall: Double
    public var evaluationsPerStep: Double
    /// The most network evaluations any one call ran: the worst-case cost of an inference, whatever the machine.
    public var evaluationsMaxPerCall: Int
    public var latencyP50Micros: Double
    public var latencyP99Micros: Double
    /// The slowest call's wall time (on a shared machine: the work plus whatever the scheduler added).
    public var latencyMaxMicros: Double
    /// RTC guidance's vector-Jacobian products per inference call.
    public var guidanceProductsPerCall: Double
    /// Mean over episodes of `EpisodeResult.jerk`.
    public var meanJerk: Double
    /// Mean over episodes of each episode's largest jump at a chunk boundary, and the largest of all.
    public var meanBoundaryJump: Double
    public var maxBoundaryJump: Double
    /// Steps that held the last action, over all episodes.
    public var heldSteps: Int
    public var episodeResults: [EpisodeResult]

    public init(_ results: [EpisodeResult]) {
        let r = results.sorted { $0.index < $1.index }
        episodes = r.count
        successes = r.filter(\.success).count
        successRate = r.isEmpty ? 0 : Double(successes) / Double(r.count)
        let w = Statistics.wilsonInterval(successes: successes, trials: r.count)
        successInterval = [w.low, w.high]
        meanReturn = Statistics.mean(r.map(\.episodeReturn))
        meanSteps = Statistics.mean(r.map { Double($0.steps) })
        let evals = r.reduce(0) { $0 + $1.networkEvaluations }
        let calls = r.reduce(0) { $0 + $1.inferenceCalls }
        let steps = r.reduce(0) { $0 + $1.steps }
        evaluationsPerCall = calls == 0 ? 0 : Double(evals) / Double(calls)
        evaluationsPerStep = steps == 0 ? 0 : Double(evals) / Double(steps)
        evaluationsMaxPerCall = r.map(\.maxCallEvaluations).max() ?? 0
        let lat = r.flatMap(\.inferenceMicros)
        latencyP50Micros = Statistics.quantile(lat, 0.5)
        latencyP99Micros = Statistics.quantile(lat, 0.99)
        latencyMaxMicros = lat.max() ?? 0
        guidanceProductsPerCall = calls == 0 ? 0 : Double(r.reduce(0) { $0 + $1.guidanceProducts }) / Double(calls)
        meanJerk = Statistics.mean(r.map(\.jerk))
        meanBoundaryJump = Statistics.mean(r.map(\.boundaryJump))
        maxBoundaryJump = r.map(\.boundaryJump).max() ?? 0
        heldSteps = r.reduce(0) { $0 + $1.heldSteps }
        episodeResults = r
    }
}

/// Runs seeded episodes of a policy in simulation, spread over worker threads, each with its own environment and
/// policy instance.
public struct Evaluator {
    public typealias EnvironmentFactory = @Sendable () throws -> any Environment
    public typealias PolicyFactory = @Sendable () throws -> Policy
    /// A policy made for one worker's environment (a camera policy renders that environment's cameras).
    public typealias PairedPolicyFactory = @Sendable (any Environment) throws -> Policy

    public let makeEnvironment: EnvironmentFactory
    public let makePolicy: PairedPolicyFactory

    public init(environment: @escaping EnvironmentFactory, policy: @escaping PolicyFactory) {
        makeEnvironment = environment
        makePolicy = { _ in try policy() }
    }

    public init(environment: @escaping EnvironmentFactory, policyFor: @escaping PairedPolicyFactory) {
        makeEnvironment = environment
        makePolicy = policyFor
    }

    /// The generator of episode `k`'s policy noise: a function of (seed, k) only.
    public static func policyGenerator(seed: UInt64, episode k: Int) -> RandomGenerator {
        RandomGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(k) &+ 0x5851_F42D_4C95_7F2D)
    }

    /// Runs one episode.
    public static func runEpisode(index k: Int, config: EvaluationConfig, environment env: inout any Environment,
                                  runner: PolicyRunner) -> EpisodeResult {
        let seed = config.seed &+ UInt64(k)
        var gen = policyGenerator(seed: config.seed, episode: k)
        var observation = [Float](repeating: 0, count: env.observationSpace.size)
        var action = [Float](repeating: 0, count: env.actionSpace.size)
        env.reset(seed: seed, observation: &observation)
        runner.reset()
        var result = EpisodeResult(index: k, seed: seed, success: false, episodeReturn: 0, steps: 0, inferenceCalls: 0,
                                   networkEvaluations: 0, maxCallEvaluations: 0, inferenceMicros: [])
        var recorded: (observations: [Float], actions: [Float], rewards: [Float]) = ([], [], [])
        let cameras = config.record ? env as? FrameRecordingEnvironment : nil
        var frames = [[UInt8]](repeating: [], count: cameras?.recordedCameras.count ?? 0)
        let gripper = Set(runner.policy.config.gripper?.dims ?? [])
        let joints = (0 ..< action.count).filter { !gripper.contains($0) }
        var past = [[Float]](repeating: [], count: 3) // a_{t−1}, a_{t−2}, a_{t−3}
        var jerkSum = 0.0, jerkCount = 0
        while true {
            let t0 = monotonicNanoseconds()
            let info = runner.step(observation: observation, action: &action, generator: &gen)
            if let info {
                result.inferenceMicros.append(Double(monotonicNanoseconds() - t0) / 1000)
                result.inferenceCalls += 1
                result.networkEvaluations += info.networkEvaluations
                result.maxCallEvaluations = max(result.maxCallEvaluations, info.networkEvaluations)
                result.guidanceProducts += info.guidanceProducts
            }
            if !joints.isEmpty {
                if !past[2].isEmpty {
                    for d in joints {
                        let j3 = Double(action[d]) - 3 * Double(past[0][d]) + 3 * Double(past[1][d]) - Double(past[2][d])
                        jerkSum += j3 * j3
                    }
                    jerkCount += joints.count
                }
                if runner.atChunkBoundary, !past[0].isEmpty {
                    for d in joints { result.boundaryJump = max(result.boundaryJump, Double(abs(action[d] - past[0][d]))) }
                }
                past = [action, past[0], past[1]]
            }
            if config.record {
                recorded.observations += observation
                recorded.actions += action
                cameras?.appendFrames(to: &frames)
            }
            let out = env.step(action, observation: &observation)
            if config.record { recorded.rewards.append(Float(out.reward)) }
            result.steps += 1
            result.episodeReturn += out.reward
            if out.success { result.success = true }
            if out.done || result.steps >= env.maxEpisodeSteps { break }
        }
        result.jerk = jerkCount == 0 ? 0 : jerkSum / Double(jerkCount)
        result.heldSteps = runner.heldSteps
        if config.record {
            result.trajectory = Demonstrations.Episode(observations: recorded.observations, actions: recorded.actions,
                                                       length: result.steps, success: result.success,
                                                       rewards: recorded.rewards, seed: seed, frames: frames)
        }
        return result
    }

    /// Runs `config.episodes` episodes on `config.workers` threads; `progress(done, successes)` is called after
    /// each episode, from the worker that finished it.
    public func run(_ config: EvaluationConfig, progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in })
        throws -> EvaluationReport
    {
        let indices = config.episodeIndices
        let workers = max(1, min(config.workers, indices.count))
        let state = EvaluationState(indices: indices)
        // Build every worker's environment and policy before starting, so set-up errors surface here.
        var setups: [(any Environment, PolicyRunner)] = []
        for _ in 0 ..< workers {
            let env = try makeEnvironment()
            setups.append((env, PolicyRunner(policy: try makePolicy(env), actionSteps: config.actionSteps,
                                             delay: config.delay, strategy: config.execution)))
        }
        let boxes = setups.map { WorkerBox(environment: $0.0, runner: $0.1) }
        let group = DispatchGroup()
        for w in 0 ..< workers {
            let box = boxes[w]
            let thread = Thread {
                while let k = state.claim() {
                    let r = Evaluator.runEpisode(index: k, config: config, environment: &box.environment, runner: box.runner)
                    let (done, ok) = state.finish(r)
                    progress(done, ok)
                }
                group.leave()
            }
            thread.stackSize = 8 << 20
            group.enter()
            thread.start()
        }
        group.wait()
        return EvaluationReport(state.results)
    }
}

/// One worker's environment and runner, owned by that worker's thread.
private final class WorkerBox: @unchecked Sendable {
    var environment: any Environment
    let runner: PolicyRunner
    init(environment: any Environment, runner: PolicyRunner) {
        self.environment = environment
        self.runner = runner
    }
}

/// Hands out episode indices and collects results across workers.
private final class EvaluationState: Sendable {
    private struct Shared {
        var next = 0
        var results: [EpisodeResult] = []
        var successes = 0
    }

    private let shared = PIMutex(Shared())
    private let indices: [Int]

    init(indices: [Int]) { self.indices = indices }

    var results: [EpisodeResult] { shared.withLock { $0.results } }

    func claim() -> Int? {
        shared.withLock { s in
            guard s.next < indices.count else { return nil }
            s.next += 1
            return indices[s.next - 1]
        }
    }

    func finish(_ r: EpisodeResult) -> (Int, Int) {
        shared.withLock { s in
            s.results.append(r)
            if r.success { s.successes += 1 }
            return (s.results.count, s.successes)
        }
    }
}
