import ReflexCore
import ReflexNN

/// What one inference cost.
public struct InferenceInfo: Sendable, Equatable {
    /// Denoiser (or network) evaluations for this call, counting a batch of K candidates as one.
    public var networkEvaluations: Int
    /// The call started from the previous chunk (RTI) rather than from fresh noise.
    public var warmStarted: Bool

    public init(networkEvaluations: Int, warmStarted: Bool) {
        self.networkEvaluations = networkEvaluations
        self.warmStarted = warmStarted
    }
}

/// A loaded control policy: from a history of observations to a chunk of actions.
///
/// Observations and actions are raw (SI units, radians, in the robot's joint order); normalization happens inside.
/// One instance serves one episode stream on one thread; `reset()` at every episode start.
public protocol Policy: AnyObject {
    var config: PolicyConfig { get }
    /// Forgets per-episode state (the RTI warm start).
    func reset()
    /// Infers one chunk: `history` holds `nObsSteps × observationSize` raw observations, oldest first;
    /// `stepsExecuted` is how many actions of the previous chunk ran since it was produced (RTI shifts by it);
    /// `output` receives `horizon × actionSize` raw actions.
    /// - Note: Real-time safe.
    func predictChunk(history: UnsafePointer<Float>, stepsExecuted: Int, output: UnsafeMutablePointer<Float>,
                      generator: inout RandomGenerator) -> InferenceInfo
}

/// Maps between raw actions and the space the network works in: normalized, with gripper dimensions scaled by 1/f
/// under RTI's "scale" handling, and binarized on the way out when configured.
public struct ActionSpace: Sendable {
    public let normalizer: Normalizer
    public let gripper: GripperConfig?
    public let actionSize: Int

    public init(config: PolicyConfig) {
        normalizer = config.normalization.action
        gripper = config.gripper
        actionSize = config.actionSize
    }

    /// Raw → network space, `rows` actions in place.
    /// - Note: Real-time safe.
    public func toNetwork(_ a: UnsafeMutablePointer<Float>, rows: Int) {
        normalizer.normalize(a, rows: rows)
        if let g = gripper, g.handling == .scale {
            for r in 0 ..< rows { for d in g.dims { a[r * actionSize + d] /= g.factor } }
        }
    }

    /// Network space → raw, `rows` actions in place.
    /// - Note: Real-time safe.
    public func toRaw(_ a: UnsafeMutablePointer<Float>, rows: Int) {
        if let g = gripper {
            for r in 0 ..< rows {
                for d in g.dims {
                    var v = a[r * actionSize + d]
                    if g.handling == .scale { v *= g.factor }
                    if g.binarize { v = v > 0 ? 1 : -1 }
                    a[r * actionSize + d] = v
                }
            }
        }
        normalizer.unnormalize(a, rows: rows)
    }

    /// RTI "clip": snap the stored warm start's gripper dims to ±1/f (official code, `has_discrete_action`).
    func clipWarmStart(_ a: UnsafeMutablePointer<Float>, rows: Int) {
        guard let g = gripper, g.handling == .clip else { return }
        for r in 0 ..< rows { for d in g.dims { a[r * actionSize + d] = a[r * actionSize + d] > 0 ? 1 / g.factor : -1 / g.factor } }
    }
}

/// A diffusion policy over any `Denoiser` (Reflex's MLP denoiser or a LeRobot U-Net), with DDPM, DDIM and RTI
/// sampling, and K candidates per call for V-GPS.
///
/// **RTI** (Duan, Yin, Kragic 2025, "Real-Time Iteration Scheme for Diffusion Policy"). Real-time iteration in
/// optimal control starts each solve from the previous solution; here the previous *clean* chunk, shifted by the
/// actions executed since it was produced (the tail padded by repeating the last action), is the initial guess, and
/// only a short schedule k0 > … > 0 of DDPM steps is run (e.g. [2, 1, 0]: three network evaluations instead of 100).
/// The first call of an episode has no warm start: it runs the full DDPM chain as the official code does, or DDIM
/// over N steps (`rti:2,1,0/ddim:N`), which bounds RTI's worst-case latency; the warm start is dropped at every
/// `reset()` (the official code never resets it). `RTIVariant.official` feeds the shifted chunk in as x_k0 directly, as the official code does;
/// `.renoise` first pushes it through q(x_k0 | x₀). Why it works: as long as the observation changes little between
/// calls, the denoiser's few steps from k0 form a contraction toward the freshly sampled chunk, and a guess inside
/// that contraction's basin converges to it; `RTICalibration` measures where that holds for a given policy.
public final class DiffusionPolicy: Policy {
    public let config: PolicyConfig
    public let denoiser: Denoiser
    public let scheduler: NoiseScheduler
    /// The sampler used by `predictChunk` and `sampleCandidates` (the policy file's default unless changed).
    public var sampler: SamplerSpec {
        didSet { freshKind = DiffusionPolicy.freshSchedule(sampler, scheduler) }
    }
    /// What a call without a warm start runs, derived from `sampler` once (so sampling allocates nothing).
    private var freshKind: SamplerKind
    let actions: ActionSpace
    private let diffusion: DiffusionSampler
    private let condition: Tensor
    /// Candidates in network space (maxCandidates × H × A).
    private let samples: Tensor
    private let noise: Tensor
    private let warmStart: Tensor
    public private(set) var hasWarmStart = false

    /// Largest K for `sampleCandidates`.
    public var maxCandidates: Int { denoiser.maxBatch }

    public init(config: PolicyConfig, denoiser: Denoiser) throws {
        try config.validate()
        guard config.kind == .diffusion, let schedulerConfig = config.scheduler else {
            throw ReflexError(.invalidValue, "DiffusionPolicy needs kind: diffusion and a scheduler")
        }
        guard denoiser.horizon == config.horizon, denoiser.actionSize == config.actionSize,
              denoiser.conditionSize == config.conditionSize
        else {
            throw ReflexError(.shapeMismatch,
                              "denoiser is H=\(denoiser.horizon) A=\(denoiser.actionSize) C=\(denoiser.conditionSize); policy needs H=\(config.horizon) A=\(config.actionSize) C=\(config.conditionSize)")
        }
        self.config = config
        self.denoiser = denoiser
        scheduler = NoiseScheduler(schedulerConfig)
        sampler = config.sampler ?? .ddpm(steps: nil)
        freshKind = DiffusionPolicy.freshSchedule(sampler, scheduler)
        actions = ActionSpace(config: config)
        diffusion = DiffusionSampler(denoiser: denoiser, scheduler: scheduler)
        condition = Tensor(zeros: [config.conditionSize])
        samples = Tensor(zeros: [denoiser.maxBatch, config.horizon * config.actionSize])
        noise = Tensor(zeros: [denoiser.maxBatch, config.horizon * config.actionSize])
        warmStart = Tensor(zeros: [config.horizon * config.actionSize])
    }

    public func reset() { hasWarmStart = false }

    /// The timesteps a fresh (not warm-started) call runs under `sampler`; RTI's first call runs its first-chunk
    /// sampler (the full DDPM chain unless told otherwise).
    private static func freshSchedule(_ sampler: SamplerSpec, _ scheduler: NoiseScheduler) -> SamplerKind {
        switch sampler {
        case let .ddpm(steps): return .ddpm(timesteps: scheduler.leadingTimesteps(steps ?? scheduler.config.trainTimesteps))
        case let .ddim(steps, eta): return .ddim(timesteps: scheduler.leadingTimesteps(steps), eta: eta)
        case .rti(_, _, .ddpm): return .ddpm(timesteps: scheduler.leadingTimesteps(scheduler.config.trainTimesteps))
        case let .rti(_, _, .ddim(steps)): return .ddim(timesteps: scheduler.leadingTimesteps(steps), eta: 0)
        }
    }

    /// Samples `count` candidate chunks for one observation history, in network space, in one batched pass.
    /// `initialNoise` (count × H × A) replaces the N(0, I) draw of a fresh call (DSRL's latent noise). When RTI
    /// warm-starts, the re-noised variant uses it as the noise that takes the shifted chunk to k0
    /// (x_k0 = √ᾱ_k0 · shifted + √(1−ᾱ_k0) · initialNoise), so a noise source steers warm-started chunks too; the
    /// official variant takes no noise, and ignores it (`SteeredPolicy` refuses that combination). Follow with
    /// `commit(candidate:output:)`.
    /// - Note: Real-time safe.
    @discardableResult
    public func sampleCandidates(history: UnsafePointer<Float>, count: Int, initialNoise: UnsafePointer<Float>? = nil,
                                 stepsExecuted: Int, generator: inout RandomGenerator) -> InferenceInfo {
        precondition(count >= 1 && count <= maxCandidates, "count \(count) outside 1...\(maxCandidates)")
        let n = config.horizon * config.actionSize
        condition.data.update(from: history, count: config.conditionSize)
        config.normalization.observation.normalize(condition.data, rows: config.nObsSteps)
        let x = samples.data
        let kind: SamplerKind
        var warm = false
        if case let .rti(schedule, variant, _) = sampler, hasWarmStart {
            warm = true
            shiftWarmStart(by: stepsExecuted, into: x)
            for k in 1 ..< count { (x + k * n).update(from: x, count: n) }
            if variant == .renoise { // q(x_k0 | x0): the given noise (DSRL's), else an independent draw per candidate
                if let initialNoise {
                    scheduler.addNoise(x, noise: initialNoise, t: schedule[0], count: count * n)
                } else {
                    generator.fillGaussian(noise.data, count: count * n)
                    scheduler.addNoise(x, noise: noise.data, t: schedule[0], count: count * n)
                }
            }
            kind = .ddpm(timesteps: schedule)
        } else {
            if let initialNoise {
                x.update(from: initialNoise, count: count * n)
            } else {
                generator.fillGaussian(x, count: count * n)
            }
            kind = freshKind
        }
        let evals = diffusion.run(kind, sample: x, batch: count, condition: condition.data, conditionBatch: 1,
                                  generator: &generator)
        return InferenceInfo(networkEvaluations: evals, warmStarted: warm)
    }

    /// Denoises `count` chunks in one batched pass, chunk k from its own initial noise (row k of `initialNoise`,
    /// count × H × A) under its own normalized condition (row k of `normalizedConditions`, count × conditionSize),
    /// with `sampler`'s fresh schedule (RTI's warm start is neither used nor changed). DSRL-NA recomputes the chunks a
    /// minibatch of (s, w) executed this way: under DDIM at η = 0 the map (s, w) ↦ chunk is deterministic. Read the
    /// results with `candidate(_:)`.
    /// - Note: Real-time safe.
    @discardableResult
    public func sampleBatch(normalizedConditions: UnsafePointer<Float>, count: Int, initialNoise: UnsafePointer<Float>,
                            generator: inout RandomGenerator) -> InferenceInfo {
        precondition(count >= 1 && count <= maxCandidates, "count \(count) outside 1...\(maxCandidates)")
        samples.data.update(from: initialNoise, count: count * config.horizon * config.actionSize)
        let evals = diffusion.run(freshKind, sample: samples.data, batch: count, condition: normalizedConditions,
                                  conditionBatch: count, generator: &generator)
        return InferenceInfo(networkEvaluations: evals, warmStarted: false)
    }

    /// Candidate `index` of the last `sampleCandidates` in network space (H × A values).
    public func candidate(_ index: Int) -> UnsafePointer<Float> {
        UnsafePointer(samples.data + index * config.horizon * config.actionSize)
    }

    /// Executes candidate `index`: it becomes the RTI warm start, and `output` receives it as raw actions.
    /// - Note: Real-time safe.
    public func commit(candidate index: Int, output: UnsafeMutablePointer<Float>) {
        let n = config.horizon * config.actionSize
        let chosen = samples.data + index * n
        warmStart.data.update(from: chosen, count: n)
        actions.clipWarmStart(warmStart.data, rows: config.horizon)
        hasWarmStart = true
        output.update(from: chosen, count: n)
        actions.toRaw(output, rows: config.horizon)
    }

    public func predictChunk(history: UnsafePointer<Float>, stepsExecuted: Int, output: UnsafeMutablePointer<Float>,
                             generator: inout RandomGenerator) -> InferenceInfo {
        let info = sampleCandidates(history: history, count: 1, stepsExecuted: stepsExecuted, generator: &generator)
        commit(candidate: 0, output: output)
        return info
    }

    /// Writes the warm start shifted left by `steps` actions, the tail padded with its last action.
    private func shiftWarmStart(by steps: Int, into x: UnsafeMutablePointer<Float>) {
        let h = config.horizon, a = config.actionSize
        let s = max(0, min(steps, h - 1))
        for j in 0 ..< h {
            let src = min(j + s, h - 1)
            (x + j * a).update(from: warmStart.data + src * a, count: a)
        }
    }
}

/// Behaviour cloning: an MLP from the flattened, normalized observation history straight to the normalized chunk.
public final class BCPolicy: Policy {
    public let config: PolicyConfig
    public let network: MLP
    let actions: ActionSpace
    private let workspace: MLPWorkspace
    private let condition: Tensor

    public init(config: PolicyConfig, network: MLP) throws {
        try config.validate()
        let expected = BCPolicy.networkConfig(for: config)
        guard network.config == expected else {
            throw ReflexError(.shapeMismatch, "BC network is \(network.config.widths), policy needs \(expected.widths)")
        }
        self.config = config
        self.network = network
        actions = ActionSpace(config: config)
        workspace = MLPWorkspace(config: network.config, maxBatch: 1)
        condition = Tensor(zeros: [config.conditionSize])
    }

    public static func networkConfig(for config: PolicyConfig) -> MLPConfig {
        MLPConfig(inputSize: config.conditionSize, hiddenSizes: config.network.hiddenSizes,
                  outputSize: config.horizon * config.actionSize, activation: config.network.activation,
                  layerNorm: config.network.layerNorm)
    }

    public func reset() {}

    public func predictChunk(history: UnsafePointer<Float>, stepsExecuted: Int, output: UnsafeMutablePointer<Float>,
                             generator: inout RandomGenerator) -> InferenceInfo {
        condition.data.update(from: history, count: config.conditionSize)
        config.normalization.observation.normalize(condition.data, rows: config.nObsSteps)
        network.evaluate(condition.data, batch: 1, output: output, workspace: workspace)
        actions.toRaw(output, rows: config.horizon)
        return InferenceInfo(networkEvaluations: 1, warmStarted: false)
    }
}

/// Runs a policy one control step at a time, as LeRobot's `select_action` does: it keeps the observation history
/// (filled with the first observation at the start of an episode), and infers a new chunk whenever the actions
/// taken from the last one (`n_action_steps`, starting at index `n_obs_steps − 1`) run out.
public final class PolicyRunner {
    public let policy: Policy
    /// Actions executed per chunk (the policy's `n_action_steps` unless overridden; RTI usually runs with 1).
    public let actionSteps: Int
    private let history: ObservationHistory
    private let chunk: Tensor
    private var queued = 0
    private var nextIndex = 0
    private var executedSinceChunk = 0
    private var started = false

    public init(policy: Policy, actionSteps: Int? = nil) {
        self.policy = policy
        let c = policy.config
        self.actionSteps = max(1, min(actionSteps ?? c.nActionSteps, c.horizon - c.nObsSteps + 1))
        history = ObservationHistory(steps: c.nObsSteps, observationSize: c.observationSize)
        chunk = Tensor(zeros: [c.horizon, c.actionSize])
    }

    /// Starts a new episode (the policy's warm start is dropped too).
    public func reset() {
        policy.reset()
        started = false
        queued = 0
        executedSinceChunk = 0
    }

    /// Takes the newest observation and writes the action to apply now. Returns the inference cost when this step
    /// ran the network, nil when it took a queued action.
    /// - Note: Real-time safe.
    @discardableResult
    public func step(observation: UnsafePointer<Float>, action: UnsafeMutablePointer<Float>,
                     generator: inout RandomGenerator) -> InferenceInfo? {
        let c = policy.config
        if !started {
            history.fill(with: observation)
            started = true
        } else {
            history.push(observation)
        }
        var info: InferenceInfo?
        if queued == 0 {
            info = policy.predictChunk(history: history.data, stepsExecuted: executedSinceChunk, output: chunk.data,
                                       generator: &generator)
            queued = actionSteps
            nextIndex = c.nObsSteps - 1
            executedSinceChunk = 0
        }
        action.update(from: chunk.data + nextIndex * c.actionSize, count: c.actionSize)
        nextIndex += 1
        queued -= 1
        executedSinceChunk += 1
        return info
    }
}
