#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore
import ReflexNN

/// What one inference cost.
public struct InferenceInfo: Sendable, Equatable {
    /// Denoiser (or network) evaluations for this call, counting a batch of K candidates as one.
    public var networkEvaluations: Int
    /// The call started from the previous chunk (RTI) rather than from fresh noise.
    public var warmStarted: Bool
    /// Vector-Jacobian products through the network (RTC's guidance), each about two evaluations' work.
    public var guidanceProducts: Int
    /// Anytime denoising returned the x₀ estimate before the schedule ended, to meet the call's deadline.
    public var stoppedEarly: Bool

    public init(networkEvaluations: Int, warmStarted: Bool, guidanceProducts: Int = 0, stoppedEarly: Bool = false) {
        self.networkEvaluations = networkEvaluations
        self.warmStarted = warmStarted
        self.guidanceProducts = guidanceProducts
        self.stoppedEarly = stoppedEarly
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
    /// Infers one chunk knowing the delay and the execution strategy (`PolicyRunner` calls this). Policies that
    /// cannot condition on the chunk in flight ignore all but `stepsExecuted` (the default).
    /// - Note: Real-time safe.
    func predictChunk(history: UnsafePointer<Float>, context: ChunkContext, output: UnsafeMutablePointer<Float>,
                      generator: inout RandomGenerator) -> InferenceInfo
}

extension Policy {
    public func predictChunk(history: UnsafePointer<Float>, context: ChunkContext, output: UnsafeMutablePointer<Float>,
                             generator: inout RandomGenerator) -> InferenceInfo {
        predictChunk(history: history, stepsExecuted: context.stepsExecuted, output: output, generator: &generator)
    }
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
    private(set) var freshKind: SamplerKind
    let actions: ActionSpace
    let diffusion: DiffusionSampler
    private let condition: Tensor
    /// Candidates in network space (maxCandidates × H × A).
    private let samples: Tensor
    private let noise: Tensor
    private let warmStart: Tensor
    public private(set) var hasWarmStart = false
    /// RTC: the last executed chunk (network space, as sampled), the target shifted to the new chunk's time, and
    /// the per-step mask.
    private let previousChunk: Tensor
    private let inpaintTarget: Tensor
    private let inpaintWeights: Tensor
    /// The denoiser offers the vector-Jacobian product RTC's guidance needs (else `.rtc` runs as `.rtcReplace`).
    public var supportsGuidance: Bool { diffusion.guidable != nil }

    /// Largest K for `sampleCandidates`.
    public var maxCandidates: Int { denoiser.maxBatch }

    public init(config: PolicyConfig, denoiser: Denoiser) throws {
        try config.validate()
        guard config.kind == .diffusion, let schedulerConfig = config.scheduler else {
            throw ReflexError(.invalidValue, "DiffusionPolicy needs kind: diffusion and a scheduler")
        }
        guard denoiser.horizon == config.horizon, denoiser.actionSize == config.actionSize,
              denoiser.conditionSize == config.denoiserConditionSize
        else {
            throw ReflexError(.shapeMismatch,
                              "denoiser is H=\(denoiser.horizon) A=\(denoiser.actionSize) C=\(denoiser.conditionSize); policy needs H=\(config.horizon) A=\(config.actionSize) C=\(config.denoiserConditionSize)")
        }
        self.config = config
        self.denoiser = denoiser
        scheduler = NoiseScheduler(schedulerConfig)
        sampler = config.sampler ?? .ddpm(steps: nil)
        freshKind = DiffusionPolicy.freshSchedule(sampler, scheduler)
        actions = ActionSpace(config: config)
        diffusion = DiffusionSampler(denoiser: denoiser, scheduler: scheduler)
        // A camera policy's features follow the history; `CameraDiffusionPolicy` writes them (`setCameraFeatures`).
        condition = Tensor(zeros: [config.denoiserConditionSize])
        samples = Tensor(zeros: [denoiser.maxBatch, config.horizon * config.actionSize])
        noise = Tensor(zeros: [denoiser.maxBatch, config.horizon * config.actionSize])
        warmStart = Tensor(zeros: [config.horizon * config.actionSize])
        previousChunk = Tensor(zeros: [config.horizon * config.actionSize])
        inpaintTarget = Tensor(zeros: [config.horizon * config.actionSize])
        inpaintWeights = Tensor(zeros: [config.horizon])
    }

    public func reset() { hasWarmStart = false }

    /// Writes `count` camera features at `offset` within the condition's camera part (after the history), where
    /// every following chunk reads them until they are written again.
    /// - Note: Real-time safe.
    func setCameraFeatures(_ features: UnsafePointer<Float>, offset: Int, count: Int) {
        (condition.data + config.conditionSize + offset).update(from: features, count: count)
    }

    /// The denoiser's condition for `history` (raw, nObsSteps × observationSize) written to `output`
    /// (`denoiserConditionSize` values): the normalized history, then the camera features last set. What DSRL's noise
    /// actor and V-GPS's critics see, so a camera policy is steered on what its denoiser sees.
    /// - Note: Real-time safe.
    public func writeCondition(history: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>) {
        let n = config.conditionSize
        if output != condition.data { // sampleCandidates writes the policy's own condition
            (output + n).update(from: condition.data + n, count: config.cameraFeatureSize)
        }
        output.update(from: history, count: n)
        config.normalization.observation.normalize(output, rows: config.nObsSteps)
    }

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
                                 stepsExecuted: Int, generator: inout RandomGenerator, deadline: UInt64 = 0) -> InferenceInfo {
        precondition(count >= 1 && count <= maxCandidates, "count \(count) outside 1...\(maxCandidates)")
        let n = config.horizon * config.actionSize
        writeCondition(history: history, into: condition.data)
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
                                  generator: &generator, deadline: deadline)
        return InferenceInfo(networkEvaluations: evals, warmStarted: warm, stoppedEarly: diffusion.stoppedEarly)
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
        previousChunk.data.update(from: chosen, count: n)
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

    /// Knows the delay: `.rtiDelay` shifts RTI's warm start by the steps since the previous chunk's observation;
    /// `.rtc` / `.rtcReplace` inpaint the new chunk against the previous one (its first n_obs_steps − 1 + D actions
    /// frozen, the rest of the overlap softly masked), starting from fresh noise or, under an RTI sampler, from the
    /// warm start shifted the same way.
    /// - Note: Real-time safe.
    public func predictChunk(history: UnsafePointer<Float>, context: ChunkContext, output: UnsafeMutablePointer<Float>,
                             generator: inout RandomGenerator) -> InferenceInfo {
        let mode: InpaintingMode
        switch context.strategy {
        case .rtiDelay:
            let info = sampleCandidates(history: history, count: 1, stepsExecuted: context.stepsSinceObservation,
                                        generator: &generator, deadline: context.deadline)
            commit(candidate: 0, output: output)
            return info
        case let .rtc(beta) where hasWarmStart: mode = supportsGuidance ? .guided(beta: beta) : .replace
        case .rtcReplace where hasWarmStart: mode = .replace
        default:
            let info = sampleCandidates(history: history, count: 1, stepsExecuted: context.stepsExecuted,
                                        generator: &generator, deadline: context.deadline)
            commit(candidate: 0, output: output)
            return info
        }
        let h = config.horizon, a = config.actionSize
        let shift = max(0, context.stepsSinceObservation)
        writeCondition(history: history, into: condition.data)
        let x = samples.data
        let kind: SamplerKind
        var warm = false
        if case let .rti(schedule, variant, _) = sampler {
            warm = true
            shiftWarmStart(by: shift, into: x)
            if variant == .renoise {
                generator.fillGaussian(noise.data, count: h * a)
                scheduler.addNoise(x, noise: noise.data, t: schedule[0], count: h * a)
            }
            kind = .ddpm(timesteps: schedule)
        } else {
            generator.fillGaussian(x, count: h * a)
            kind = freshKind
        }
        // The previous chunk at this chunk's times: its index j + shift is this chunk's j.
        let overlapEnd = max(0, h - shift)
        for j in 0 ..< overlapEnd { (inpaintTarget.data + j * a).update(from: previousChunk.data + (j + shift) * a, count: a) }
        let frozen = min(config.nObsSteps - 1 + context.delay, overlapEnd)
        rtcPrefixWeights(frozen: frozen, overlapEnd: overlapEnd, horizon: h, into: inpaintWeights.data)
        let cost = diffusion.runInpainting(kind, sample: x, condition: condition.data, target: inpaintTarget.data,
                                           weights: inpaintWeights.data, frozen: frozen, mode: mode, generator: &generator,
                                           deadline: context.deadline)
        commit(candidate: 0, output: output)
        return InferenceInfo(networkEvaluations: cost.evaluations, warmStarted: warm, guidanceProducts: cost.products,
                             stoppedEarly: diffusion.stoppedEarly)
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
/// (filled with the first observation at the start of an episode), and starts a new chunk every `actionSteps`
/// steps (LeRobot's `n_action_steps`), taking its actions from index `n_obs_steps − 1` on.
///
/// With a `delay` D > 0 and an asynchronous `strategy`, the chunk started at step t (from t's observation) only
/// becomes available at t + D, as in a loop whose inference takes D control periods; until then the previous chunk
/// keeps executing, and the new one is entered at the index of the current step (index n_obs_steps − 1 + D). The
/// first chunk of an episode is waited for (there is nothing to execute before it). Should the executing chunk run
/// out before the next arrives (D + actionSteps + n_obs_steps − 1 > horizon), the last action is held and counted
/// in `heldSteps`. With D = 0 (or `.sync`) this is exactly the synchronous runner.
public final class PolicyRunner {
    public let policy: Policy
    /// Actions executed per chunk (the policy's `n_action_steps` unless overridden; RTI usually runs with 1).
    public let actionSteps: Int
    /// Control steps each inference takes (0 under `.sync`).
    public let delay: Int
    public let strategy: ExecutionStrategy
    private let history: ObservationHistory
    /// The chunks that may still be executed, oldest first, in a ring of `slots`.
    private let ring: Tensor
    private var observedAt: [Int]
    private var arrivesAt: [Int]
    private let slots: Int
    private var head = 0
    private var count = 0
    private var time = 0
    private var started = false
    private let lastAction: Tensor
    /// Steps of this episode that held the last action because the executing chunk ran out.
    public private(set) var heldSteps = 0
    /// The last `step`'s action is the first taken after a new chunk arrived (a chunk boundary).
    public private(set) var atChunkBoundary = false

    public init(policy: Policy, actionSteps: Int? = nil, delay: Int = 0, strategy: ExecutionStrategy = .sync) {
        self.policy = policy
        let c = policy.config
        self.actionSteps = max(1, min(actionSteps ?? c.nActionSteps, c.horizon - c.nObsSteps + 1))
        self.strategy = strategy
        self.delay = strategy == .sync ? 0 : max(0, delay)
        history = ObservationHistory(steps: c.nObsSteps, observationSize: c.observationSize)
        // Chunks alive at once: those covering the current step plus those still in flight.
        slots = (c.horizon + self.delay) / self.actionSteps + 3
        ring = Tensor(zeros: [slots, c.horizon * c.actionSize])
        observedAt = [Int](repeating: 0, count: slots)
        arrivesAt = [Int](repeating: 0, count: slots)
        lastAction = Tensor(zeros: [c.actionSize])
    }

    /// Starts a new episode (the policy's warm start is dropped too).
    public func reset() {
        policy.reset()
        started = false
        head = 0
        count = 0
        time = 0
        heldSteps = 0
        atChunkBoundary = false
    }

    @inline(__always) private func slot(_ k: Int) -> Int { (head + k) % slots }

    /// Takes the newest observation and writes the action to apply now. Returns the inference cost when this step
    /// started a chunk, nil otherwise.
    /// - Note: Real-time safe.
    @discardableResult
    public func step(observation: UnsafePointer<Float>, action: UnsafeMutablePointer<Float>,
                     generator: inout RandomGenerator) -> InferenceInfo? {
        let c = policy.config
        let n = c.horizon * c.actionSize
        if !started {
            history.fill(with: observation)
            started = true
        } else {
            history.push(observation)
        }
        var info: InferenceInfo?
        if time % actionSteps == 0 {
            if count == slots { head = slot(1); count -= 1 } // cannot happen with the ring's size; never overrun
            var context = ChunkContext(stepsExecuted: 0, delay: 0, strategy: strategy)
            if count > 0 {
                let newest = slot(count - 1)
                context.stepsExecuted = max(0, time - arrivesAt[newest])
                context.stepsSinceObservation = time - observedAt[newest]
                context.delay = delay
            }
            let s = slot(count)
            info = policy.predictChunk(history: history.data, context: context, output: ring.data + s * n,
                                       generator: &generator)
            observedAt[s] = time
            arrivesAt[s] = time + context.delay
            count += 1
        }
        // The newest arrived chunk executes; older ones matter only to the ensemble.
        var active = -1
        for k in 0 ..< count where arrivesAt[slot(k)] <= time { active = k }
        atChunkBoundary = time > 0 && arrivesAt[slot(max(active, 0))] == time
        if case let .ensemble(m) = strategy {
            // Drop chunks that no longer cover this step (keeping the active one so there is something to hold).
            while count > 1, active > 0, c.nObsSteps - 1 + time - observedAt[slot(0)] >= c.horizon {
                head = slot(1); count -= 1; active -= 1
            }
            var total: Float = 0
            var i = 0
            for k in 0 ... active {
                let s = slot(k)
                let index = c.nObsSteps - 1 + time - observedAt[s]
                guard index < c.horizon else { continue }
                let w = expf(-m * Float(i))
                if i == 0 { action.update(repeating: 0, count: c.actionSize) }
                let row = ring.data + s * n + index * c.actionSize
                for d in 0 ..< c.actionSize { action[d] += w * row[d] }
                total += w
                i += 1
            }
            if i == 0 {
                hold(action)
            } else {
                for d in 0 ..< c.actionSize { action[d] /= total }
            }
        } else {
            active = max(active, 0)
            head = slot(active) // older chunks are done
            count -= active
            let index = c.nObsSteps - 1 + time - observedAt[head]
            if index < c.horizon {
                action.update(from: ring.data + head * n + index * c.actionSize, count: c.actionSize)
            } else {
                hold(action)
            }
        }
        lastAction.data.update(from: action, count: c.actionSize)
        time += 1
        return info
    }

    private func hold(_ action: UnsafeMutablePointer<Float>) {
        action.update(from: lastAction.data, count: policy.config.actionSize)
        heldSteps += 1
    }
}
