#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore

/// How a chunked policy's chunks are executed while the next one is being inferred, written as on the command line
/// (`--execution`): `sync`, `naive`, `ensemble` / `ensemble:M`, `rti-delay`, `rtc` / `rtc:BETA`, `rtc-replace`.
///
/// Inference takes D control steps (the delay); meanwhile the previous chunk keeps executing. A new chunk is started
/// every `actionSteps` steps from the observation of that step and becomes available D steps later, when the
/// runner switches to it at the index that corresponds to the current time (its first D actions are never run).
public enum ExecutionStrategy: Sendable, Equatable, TextCodable {
    /// The robot waits for each chunk (D is ignored): the reference.
    case sync
    /// Switch to the new chunk when it arrives; nothing conditions the chunk on the one in flight.
    case naive
    /// ACT's temporal ensembling (Zhao et al. 2023): every arrived chunk that covers the current step votes, the
    /// oldest with weight 1 and the i-th newer with exp(−m·i).
    case ensemble(m: Float)
    /// RTI's warm start shifted by the time since the previous chunk's observation (executed steps + D), where plain
    /// RTI shifts by the executed steps only.
    case rtiDelay
    /// Real-time chunking (Black, Galliker & Levine 2025) with ΠGDM guidance of each step's x₀ estimate toward the
    /// previous chunk through the denoiser's vector-Jacobian product, guidance weight clipped at β.
    case rtc(beta: Float)
    /// RTC's inpainting by replacement alone: after each denoising step the soft-masked overlap is blended with
    /// the previous chunk noised to that step's level (no network gradient).
    case rtcReplace

    /// ACT's m (0.01 in the paper).
    public static let defaultEnsembleM: Float = 0.01
    /// RTC's β (5 in the paper).
    public static let defaultBeta: Float = 5

    public init(parsing text: String) throws {
        func bad(_ why: String) -> ReflexError {
            ReflexError(.invalidValue, "execution '\(text)': \(why) (expected sync, naive, ensemble, ensemble:M, rti-delay, rtc, rtc:BETA or rtc-replace)")
        }
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        func number(_ name: String, default d: Float) throws -> Float {
            guard parts.count == 2 else { return d }
            guard let v = Float(parts[1]), v >= 0, v.isFinite else { throw bad("\(name) must be a non-negative number") }
            return v
        }
        switch parts.first {
        case "sync" where parts.count == 1: self = .sync
        case "naive" where parts.count == 1: self = .naive
        case "ensemble": self = .ensemble(m: try number("m", default: Self.defaultEnsembleM))
        case "rti-delay" where parts.count == 1: self = .rtiDelay
        case "rtc": self = .rtc(beta: try number("beta", default: Self.defaultBeta))
        case "rtc-replace" where parts.count == 1: self = .rtcReplace
        default: throw bad("unknown strategy")
        }
    }

    public var description: String {
        switch self {
        case .sync: return "sync"
        case .naive: return "naive"
        case let .ensemble(m): return m == Self.defaultEnsembleM ? "ensemble" : "ensemble:\(m)"
        case .rtiDelay: return "rti-delay"
        case let .rtc(beta): return beta == Self.defaultBeta ? "rtc" : "rtc:\(beta)"
        case .rtcReplace: return "rtc-replace"
        }
    }

    /// Whether inference overlaps execution (everything but `sync`).
    public var isAsynchronous: Bool { self != .sync }
}

/// What the executing loop tells the policy about the chunk in flight when it asks for the next one.
public struct ChunkContext: Sendable, Equatable {
    /// Actions of the previous chunk executed since it became available (what a loop unaware of the delay counts;
    /// plain RTI shifts by it).
    public var stepsExecuted: Int
    /// Control steps since the observation the previous chunk was computed from: where the new chunk's first
    /// action sits in the previous one (executed steps + the previous chunk's delay).
    public var stepsSinceObservation: Int
    /// Control steps this inference takes: the new chunk's actions before index `nObsSteps − 1 + delay` are
    /// committed (executed from the previous chunk while it is computed).
    public var delay: Int
    public var strategy: ExecutionStrategy
    /// When the chunk is needed (monotonic ns, `monotonicNanoseconds()`; 0: no deadline): a diffusion policy stops
    /// denoising early and returns its x₀ estimate rather than finish late (anytime denoising).
    public var deadline: UInt64

    public init(stepsExecuted: Int, stepsSinceObservation: Int? = nil, delay: Int = 0, strategy: ExecutionStrategy = .sync,
                deadline: UInt64 = 0) {
        self.deadline = deadline
        self.stepsExecuted = stepsExecuted
        self.stepsSinceObservation = stepsSinceObservation ?? stepsExecuted
        self.delay = delay
        self.strategy = strategy
    }
}

/// RTC's weights over a chunk (the paper's eq. 5, LeRobot's `get_prefix_weights` with the EXP schedule): 1 on the
/// frozen prefix j < `frozen`, then c·(e^c − 1)/(e − 1) with c = (end − j)/(end − frozen + 1) down to the end of the
/// overlap with the previous chunk (exclusive), 0 after it (also where the prefix runs past the overlap). Writes `horizon` values.
/// - Note: Real-time safe.
public func rtcPrefixWeights(frozen: Int, overlapEnd: Int, horizon: Int, into w: UnsafeMutablePointer<Float>) {
    let end = min(overlapEnd, horizon)
    let e = Float(M_E)
    for j in 0 ..< horizon {
        if j >= end {
            w[j] = 0 // the previous chunk does not reach here
        } else if j < frozen {
            w[j] = 1
        } else {
            let c = Float(end - j) / Float(end - frozen + 1)
            w[j] = c * (expf(c) - 1) / (e - 1)
        }
    }
}

extension DiffusionPolicy {
    /// How much the x₀ estimate at timestep `t` depends on the noisy chunk: the mean over `probes` draws of
    /// ‖vᵀ ∂x̂₀/∂x_t‖ for a random unit vector v, at x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε with x₀ the policy's own sample for
    /// a condition drawn uniformly in [−1, 1] (normalized observations). RTC's guidance moves a chunk by about this
    /// fraction of its error per step: near 0, the policy's chunk is a function of the observation alone and guidance
    /// cannot steer it. Nil without a `GuidableDenoiser`. Allocates (a diagnostic, not for the loop).
    public func x0JacobianGain(timestep t: Int, probes: Int, generator: inout RandomGenerator) -> Double? {
        guard let guided = diffusion.guidable else { return nil }
        let n = config.horizon * config.actionSize
        var cond = [Float](repeating: 0, count: config.denoiserConditionSize)
        var x0 = [Float](repeating: 0, count: n), eps = x0, out = x0, v = x0, g = x0
        let a = scheduler.alphaBar(t)
        let sqrtA = a.squareRoot(), sqrtB = (1 - a).squareRoot()
        var total = 0.0
        for _ in 0 ..< max(1, probes) {
            for i in 0 ..< cond.count { cond[i] = Float(generator.uniform(-1, 1)) }
            generator.fillGaussian(&x0, count: n)
            diffusion.run(freshKind, sample: &x0, batch: 1, condition: cond, conditionBatch: 1, generator: &generator)
            generator.fillGaussian(&eps, count: n)
            var xt = x0
            for i in 0 ..< n { xt[i] = sqrtA * x0[i] + sqrtB * eps[i] }
            generator.fillGaussian(&v, count: n)
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for i in 0 ..< n { v[i] /= norm }
            guided.predictForGuidance(xt, timestep: t, condition: cond, output: &out)
            guided.vectorJacobianProduct(v, into: &g)
            var sum = 0.0
            for i in 0 ..< n {
                let gi = scheduler.config.predictionType == .sample ? g[i] : (v[i] - sqrtB * g[i]) / sqrtA
                sum += Double(gi * gi)
            }
            total += sum.squareRoot()
        }
        return total / Double(max(1, probes))
    }
}
