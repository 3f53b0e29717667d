import ReflexCore

/// How a fine-tuning run interacts with its environment.
public struct TrainerConfig: Codable, Sendable, Equatable {
    /// Environment steps in the whole run.
    public var totalSteps: Int
    /// Steps with uniformly random actions before the actor acts (and before updates start).
    public var warmupSteps: Int
    /// Gradient updates per environment step after warm-up (the UTD ratio).
    public var updatesPerStep: Int
    /// Replay capacity (default: the run's length, at most a million). A run extended past its budget grows a
    /// default-sized buffer with it (`FinetuneSession.resume`), so it matches a run given the larger budget at once.
    public var replayCapacity: Int

    public static func defaultReplayCapacity(totalSteps: Int) -> Int { min(1_000_000, totalSteps) }
    /// Evaluate every this many steps (0: never); each evaluation runs `evaluationEpisodes` deterministic episodes.
    public var evaluationInterval: Int
    public var evaluationEpisodes: Int
    /// Checkpoint at the first episode end after every this many steps (0: never).
    public var checkpointInterval: Int
    /// Warm-up actions drawn from N(0, std²) clipped to [−1, 1] instead of uniformly (DSRL: with std = 1/magnitude
    /// the scaled noise is the base policy's own N(0, I), so the warm-up rolls out the unsteered policy).
    public var warmupGaussianStd: Float? = nil

    public init(totalSteps: Int = 20_000, warmupSteps: Int = 100, updatesPerStep: Int = 1, replayCapacity: Int? = nil,
                evaluationInterval: Int = 1000, evaluationEpisodes: Int = 10, checkpointInterval: Int = 2000) {
        self.totalSteps = totalSteps
        self.warmupSteps = warmupSteps
        self.updatesPerStep = updatesPerStep
        self.replayCapacity = replayCapacity ?? Self.defaultReplayCapacity(totalSteps: totalSteps)
        self.evaluationInterval = evaluationInterval
        self.evaluationEpisodes = evaluationEpisodes
        self.checkpointInterval = checkpointInterval
    }

    public func validate() throws {
        if totalSteps <= 0 { throw ReflexError(.invalidValue, "total_steps must be positive, got \(totalSteps)") }
        if warmupSteps < 0 { throw ReflexError(.invalidValue, "warmup_steps must be non-negative, got \(warmupSteps)") }
        if updatesPerStep < 0 { throw ReflexError(.invalidValue, "updates_per_step must be non-negative, got \(updatesPerStep)") }
        if replayCapacity <= 0 { throw ReflexError(.invalidValue, "replay_capacity must be positive, got \(replayCapacity)") }
        if evaluationInterval < 0 || evaluationEpisodes < 0 || checkpointInterval < 0 {
            throw ReflexError(.invalidValue, "evaluation and checkpoint intervals must be non-negative")
        }
    }
}

/// One evaluation: deterministic-policy returns over fixed reset seeds.
public struct EvaluationRecord: Codable, Sendable, Equatable {
    public var step: Int
    public var meanReturn: Double
    public var stdReturn: Double
    public var episodes: Int
    /// The learner's last update metrics at that step.
    public var alpha: Float = 0
    public var criticLoss: Float = 0
    public var meanQ: Float = 0
    public var meanSigma: Float = 0
    /// Fraction of episodes in which the task's success predicate held at some step (0 for tasks without one).
    public var successRate: Double = 0
    /// −mean log π of the actor's samples in the last update (absent in records written before it was kept).
    public var entropy: Float?
    /// Over the evaluation's deterministic actions tanh(μ): the fraction of components with |a| > 0.99 (pinned at
    /// the box's edge, where tanh's gradient vanishes) and the mean |a|. For DSRL, how far the chosen noise strays
    /// from what the diffusion policy was trained on.
    public var actionSaturation: Double?
    public var meanAbsAction: Double?
    /// Mean TD target y of the last update (the critic's regression target's scale).
    public var meanTarget: Float?
    /// The critics' estimate Q(s, tanh μ) (min over the twins) against the discounted Monte-Carlo return from the
    /// same step of the evaluation's own episodes, averaged over every step (`evaluationQ`, `evaluationReturn`;
    /// a time-limited episode's return is truncated there, while the critic bootstraps past the limit) and over
    /// the steps of the episodes that succeeded (`successQ`, `successReturn`: exact returns, no truncation).
    /// Q above the return is overestimation, below it underestimation.
    public var evaluationQ: Double?
    public var evaluationReturn: Double?
    public var successQ: Double?
    public var successReturn: Double?
    /// What the replay buffer holds: transitions, and terminal ones (for tasks that end on success, the
    /// successful episodes it holds).
    public var replaySize: Int?
    public var replayTerminals: Int?
}

/// One finished training episode.
public struct EpisodeRecord: Codable, Sendable, Equatable {
    public var step: Int
    public var episodeReturn: Double
}

/// The interaction loop of an off-policy fine-tuning run: act (uniform random during warm-up, then sampled from
/// the actor), step, store, update `updatesPerStep` times, evaluate now and then.
///
/// Every random draw comes from `generator`, and episodes start from seeds drawn from it, so the run is a function
/// of its seed (on one thread). At an episode boundary the whole state is the learner, the replay buffer, the
/// generator and the counters — which is where checkpoints are taken, so the environment's own state never needs
/// saving (a Bullet world cannot be serialized bit-exactly; a seed can).
public final class OffPolicyTrainer<Env: Environment> {
    public let config: TrainerConfig
    public let learner: any OffPolicyLearner
    public let buffer: ReplayBuffer
    public var generator: RandomGenerator
    public private(set) var environment: Env
    private var evaluationEnvironment: Env
    public private(set) var step = 0
    public private(set) var episodes = 0
    public private(set) var evaluations: [EvaluationRecord] = []
    public private(set) var episodeReturns: [EpisodeRecord] = []
    public private(set) var lastMetrics = UpdateMetrics()
    /// True between episodes (the only points where the run can be checkpointed).
    public private(set) var atEpisodeBoundary = true
    private var episodeReturn = 0.0
    private var observation: [Float]
    private var nextObservation: [Float]
    private var action: [Float]
    private var envAction: [Float]
    private let actionLow: [Float]
    private let actionHigh: [Float]
    /// Reset seeds of evaluation episodes: fixed, apart from training seeds, and drawn from no generator.
    public static var evaluationSeedBase: UInt64 { 1 << 40 }

    public init(environment: Env, evaluationEnvironment: Env, learner: any OffPolicyLearner, config: TrainerConfig,
                seed: UInt64) throws {
        try config.validate()
        let o = environment.observationSpace.size, a = environment.actionSpace.size
        guard learner.observationSize == o, learner.actionSize == a else {
            throw ReflexError(.shapeMismatch, "learner is \(learner.observationSize)→\(learner.actionSize), environment \(o)→\(a)")
        }
        guard environment.actionSpace.low.allSatisfy(\.isFinite), environment.actionSpace.high.allSatisfy(\.isFinite) else {
            throw ReflexError(.invalidValue, "the action space must be bounded to scale tanh actions into it")
        }
        self.config = config
        self.learner = learner
        self.environment = environment
        self.evaluationEnvironment = evaluationEnvironment
        buffer = ReplayBuffer(observationSize: o, actionSize: a, capacity: config.replayCapacity)
        generator = RandomGenerator(seed: seed)
        observation = [Float](repeating: 0, count: o)
        nextObservation = observation
        action = [Float](repeating: 0, count: a)
        envAction = action
        actionLow = environment.actionSpace.low
        actionHigh = environment.actionSpace.high
    }

    public var finished: Bool { step >= config.totalSteps }

    /// One environment step and its updates; an evaluation when one is due.
    /// - Note: Real-time safe apart from evaluations and the episode-record append at episode ends.
    public func advance() {
        if atEpisodeBoundary {
            environment.reset(seed: generator.next(), observation: &observation)
            episodeReturn = 0
            atEpisodeBoundary = false
        }
        let a = action.count
        if step < config.warmupSteps {
            if let std = config.warmupGaussianStd {
                for j in 0 ..< a { action[j] = min(1, max(-1, std * Float(generator.gaussian()))) }
            } else {
                for j in 0 ..< a { action[j] = Float(generator.uniform(-1, 1)) }
            }
        } else {
            observation.withUnsafeBufferPointer { o in
                action.withUnsafeMutableBufferPointer { act in
                    learner.act(o.baseAddress!, batch: 1, deterministic: false, output: act.baseAddress!, generator: &generator)
                }
            }
        }
        scale(action, into: &envAction)
        let outcome = environment.step(envAction, observation: &nextObservation)
        observation.withUnsafeBufferPointer { o in
            action.withUnsafeBufferPointer { act in
                nextObservation.withUnsafeBufferPointer { n in
                    buffer.add(observation: o.baseAddress!, action: act.baseAddress!, reward: Float(outcome.reward),
                               nextObservation: n.baseAddress!, terminal: outcome.terminated)
                }
            }
        }
        episodeReturn += outcome.reward
        swap(&observation, &nextObservation)
        step += 1
        if step >= config.warmupSteps {
            for _ in 0 ..< config.updatesPerStep { lastMetrics = learner.update(buffer, generator: &generator) }
        }
        if outcome.done || step >= config.totalSteps {
            if outcome.done {
                episodes += 1
                episodeReturns.append(EpisodeRecord(step: step, episodeReturn: episodeReturn))
            }
            atEpisodeBoundary = true
        }
        if config.evaluationInterval > 0, step % config.evaluationInterval == 0 || step == config.totalSteps {
            if evaluations.last?.step != step {
                evaluations.append(evaluate(episodes: config.evaluationEpisodes))
            }
        }
    }

    /// Deterministic-policy returns over `episodes` fixed reset seeds; touches neither the training environment nor
    /// the training generator.
    public func evaluate(episodes: Int) -> EvaluationRecord {
        var returns: [Double] = []
        var successes = 0
        var obs = [Float](repeating: 0, count: observation.count)
        var act = [Float](repeating: 0, count: action.count)
        var envAct = act
        var unused = RandomGenerator(seed: 0)
        var saturated = 0, components = 0, absSum = 0.0
        // Q against Monte-Carlo returns (cold path: a few small arrays per evaluation).
        let o = observation.count, gamma = Double(learner.config.gamma)
        var row = [Float](repeating: 0, count: o + action.count), q: Float = 0
        var episodeQ: [Double] = [], episodeRewards: [Double] = []
        var qSum = 0.0, gSum = 0.0, steps = 0, qSuccess = 0.0, gSuccess = 0.0, successSteps = 0
        for e in 0 ..< episodes {
            evaluationEnvironment.reset(seed: Self.evaluationSeedBase + UInt64(e), observation: &obs)
            var total = 0.0
            var succeeded = false
            episodeQ.removeAll(keepingCapacity: true)
            episodeRewards.removeAll(keepingCapacity: true)
            for _ in 0 ..< evaluationEnvironment.maxEpisodeSteps {
                obs.withUnsafeBufferPointer { o in
                    act.withUnsafeMutableBufferPointer { a in
                        learner.act(o.baseAddress!, batch: 1, deterministic: true, output: a.baseAddress!, generator: &unused)
                    }
                }
                for j in 0 ..< o { row[j] = obs[j] }
                for j in 0 ..< act.count { row[o + j] = act[j] }
                row.withUnsafeBufferPointer { learner.estimateQ($0.baseAddress!, batch: 1, output: &q) }
                episodeQ.append(Double(q))
                for v in act {
                    if abs(v) > 0.99 { saturated += 1 }
                    absSum += Double(abs(v))
                }
                components += act.count
                scale(act, into: &envAct)
                let out = evaluationEnvironment.step(envAct, observation: &obs)
                total += out.reward
                episodeRewards.append(out.reward)
                succeeded = succeeded || out.success
                if out.done { break }
            }
            var g = 0.0
            for t in stride(from: episodeRewards.count - 1, through: 0, by: -1) {
                g = episodeRewards[t] + gamma * g
                qSum += episodeQ[t]
                gSum += g
                steps += 1
                if succeeded {
                    qSuccess += episodeQ[t]
                    gSuccess += g
                    successSteps += 1
                }
            }
            returns.append(total)
            if succeeded { successes += 1 }
        }
        var terminals = 0
        for i in 0 ..< buffer.count where buffer.terminals.data[i] != 0 { terminals += 1 }
        var record = EvaluationRecord(step: step, meanReturn: Statistics.mean(returns),
                                      stdReturn: Statistics.standardDeviation(returns), episodes: episodes,
                                      alpha: learner.alpha, criticLoss: lastMetrics.criticLoss, meanQ: lastMetrics.meanQ,
                                      meanSigma: lastMetrics.meanSigma,
                                      successRate: episodes > 0 ? Double(successes) / Double(episodes) : 0,
                                      entropy: lastMetrics.entropy,
                                      actionSaturation: components > 0 ? Double(saturated) / Double(components) : 0,
                                      meanAbsAction: components > 0 ? absSum / Double(components) : 0)
        record.meanTarget = lastMetrics.meanTarget
        if steps > 0 { (record.evaluationQ, record.evaluationReturn) = (qSum / Double(steps), gSum / Double(steps)) }
        if successSteps > 0 { (record.successQ, record.successReturn) = (qSuccess / Double(successSteps), gSuccess / Double(successSteps)) }
        (record.replaySize, record.replayTerminals) = (buffer.count, terminals)
        return record
    }

    /// Runs `evaluate` now and records it in `evaluations`.
    @discardableResult
    public func appendEvaluation(episodes: Int) -> EvaluationRecord {
        let e = evaluate(episodes: episodes)
        evaluations.append(e)
        return e
    }

    /// [−1, 1] → [low, high] per dimension.
    private func scale(_ a: [Float], into out: inout [Float]) {
        for j in 0 ..< a.count { out[j] = actionLow[j] + (a[j] + 1) * 0.5 * (actionHigh[j] - actionLow[j]) }
    }

    /// Restores counters and histories from a checkpoint (the learner, buffer and generator are restored by the
    /// checkpoint reader).
    func restore(step: Int, episodes: Int, evaluations: [EvaluationRecord], episodeReturns: [EpisodeRecord]) {
        self.step = step
        self.episodes = episodes
        self.evaluations = evaluations
        self.episodeReturns = episodeReturns
        atEpisodeBoundary = true
    }
}
