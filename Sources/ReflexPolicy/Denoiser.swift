import ReflexCore

/// A network that, given noisy action chunks x_t at diffusion step t and a conditioning vector (the flattened,
/// normalized observation history), predicts ε or x₀ (per its scheduler's `PredictionType`).
///
/// Implementations own the buffers they need for up to `maxBatch` chunks, so `predict` allocates nothing. One
/// instance is used by one thread at a time.
public protocol Denoiser: AnyObject {
    /// Steps per chunk (H).
    var horizon: Int { get }
    /// Values per action (A).
    var actionSize: Int { get }
    /// Length of the conditioning vector.
    var conditionSize: Int { get }
    /// Largest batch `predict` accepts.
    var maxBatch: Int { get }

    /// Writes the prediction for `batch` chunks `x` (batch × H × A, row-major) at timestep `t` into `output`
    /// (same shape). `condition` holds `conditionBatch` rows of `conditionSize`: either one row shared by every
    /// chunk (K candidates for one observation) or one row per chunk.
    /// - Note: Real-time safe.
    func predict(_ x: UnsafePointer<Float>, timestep t: Int, condition: UnsafePointer<Float>, conditionBatch: Int,
                 batch: Int, output: UnsafeMutablePointer<Float>)
}

/// A denoiser that can also give the vector-Jacobian product of its prediction with respect to the noisy chunk,
/// for one chunk: what RTC's ΠGDM guidance needs.
public protocol GuidableDenoiser: Denoiser {
    /// `predict` for one chunk, keeping what `vectorJacobianProduct` needs.
    /// - Note: Real-time safe.
    func predictForGuidance(_ x: UnsafePointer<Float>, timestep t: Int, condition: UnsafePointer<Float>,
                            output: UnsafeMutablePointer<Float>)
    /// vᵀ ∂output/∂x at the last `predictForGuidance` (H × A values each).
    /// - Note: Real-time safe.
    func vectorJacobianProduct(_ v: UnsafePointer<Float>, into result: UnsafeMutablePointer<Float>)
}

extension Denoiser {
    /// Floats in one chunk (H · A).
    public var chunkSize: Int { horizon * actionSize }
}

/// Which reverse process turns noise into an action chunk.
public enum SamplerKind: Sendable, Equatable, CustomStringConvertible {
    /// DDPM over the given descending timesteps (all T for the full chain, or any subset, each step going to the
    /// next timestep in the list and the last one to −1).
    case ddpm(timesteps: [Int])
    /// DDIM over the given descending timesteps with η (deterministic at 0).
    case ddim(timesteps: [Int], eta: Float)

    public var timesteps: [Int] {
        switch self {
        case let .ddpm(t): return t
        case let .ddim(t, _): return t
        }
    }

    public var description: String {
        switch self {
        case let .ddpm(t): return t.count == (t.first ?? 0) + 1 ? "ddpm" : "ddpm\(t)"
        case let .ddim(t, eta): return "ddim:\(t.count)" + (eta != 0 ? "(eta \(eta))" : "")
        }
    }
}

/// Runs a reverse diffusion process with a `Denoiser`: from x at the first timestep of a schedule down to the clean
/// chunk. The initial x is injected by the caller (fresh N(0, I) noise, a DSRL latent, or an RTI warm start), and
/// DDPM's per-step noise comes from the caller's generator, as LeRobot's `conditional_sample(noise:, generator:)`.
public final class DiffusionSampler {
    public let denoiser: Denoiser
    public let scheduler: NoiseScheduler
    let modelOutput: Tensor
    let x0: Tensor
    let stepNoise: Tensor
    /// RTC's guidance scratch (one chunk each).
    let cotangent: Tensor
    let product: Tensor
    /// The denoiser as a `GuidableDenoiser`, cast once here rather than per call.
    let guidable: GuidableDenoiser?
    /// The last run returned its x₀ estimate early to meet its deadline (anytime denoising).
    public private(set) var stoppedEarly = false

    public init(denoiser: Denoiser, scheduler: NoiseScheduler) {
        self.denoiser = denoiser
        self.scheduler = scheduler
        let n = denoiser.maxBatch * denoiser.chunkSize
        modelOutput = Tensor(zeros: [n])
        x0 = Tensor(zeros: [n])
        stepNoise = Tensor(zeros: [n])
        cotangent = Tensor(zeros: [denoiser.chunkSize])
        product = Tensor(zeros: [denoiser.chunkSize])
        guidable = denoiser as? GuidableDenoiser
    }

    /// Denoises `sample` (batch × H × A, holding x at the schedule's first timestep) in place, through every
    /// timestep of `kind`. Returns the number of network evaluations (the schedule's length, or fewer when it
    /// stopped at `deadline`).
    ///
    /// Anytime denoising: with a `deadline` (monotonic ns, 0 for none), before each step after the first the sampler
    /// checks whether another step, timed as long as the last one, would end past it; if so it returns the last
    /// step's x₀ estimate as the chunk instead of missing the deadline, and sets `stoppedEarly`.
    /// - Note: Real-time safe.
    @discardableResult
    public func run(_ kind: SamplerKind, sample: UnsafeMutablePointer<Float>, batch: Int,
                    condition: UnsafePointer<Float>, conditionBatch: Int, generator: inout RandomGenerator,
                    deadline: UInt64 = 0) -> Int {
        precondition(batch <= denoiser.maxBatch, "batch \(batch) > denoiser capacity \(denoiser.maxBatch)")
        let count = batch * denoiser.chunkSize
        let ts = kind.timesteps
        stoppedEarly = false
        var stepStart = deadline != 0 ? monotonicNanoseconds() : 0
        var stepCost: UInt64 = 0
        for (k, t) in ts.enumerated() {
            if deadline != 0, k > 0 {
                let now = monotonicNanoseconds()
                stepCost = now - stepStart
                stepStart = now
                if now &+ stepCost > deadline {
                    sample.update(from: x0.data, count: count)
                    stoppedEarly = true
                    return k
                }
            }
            let previous = k + 1 < ts.count ? ts[k + 1] : -1
            denoiser.predict(sample, timestep: t, condition: condition, conditionBatch: conditionBatch, batch: batch,
                             output: modelOutput.data)
            switch kind {
            case .ddpm:
                if t > 0 { generator.fillGaussian(stepNoise.data, count: count) }
                scheduler.ddpmStep(modelOutput: modelOutput.data, t: t, previous: previous, sample: sample, count: count,
                                   noise: t > 0 ? stepNoise.data : nil, x0: x0.data)
            case let .ddim(_, eta):
                if eta > 0 { generator.fillGaussian(stepNoise.data, count: count) }
                scheduler.ddimStep(modelOutput: modelOutput.data, t: t, previous: previous, sample: sample, count: count,
                                   eta: eta, noise: eta > 0 ? stepNoise.data : nil, x0: x0.data)
            }
        }
        return ts.count
    }
}

/// How RTC conditions a chunk on the previous one.
public enum InpaintingMode: Sendable, Equatable {
    /// After each step the overlap is blended with the previous chunk noised to the new level, by the soft mask.
    case replace
    /// ΠGDM guidance of each step's x₀ estimate through the denoiser's vector-Jacobian product, weight clipped at β.
    case guided(beta: Float)
}

extension DiffusionSampler {
    /// Denoises one chunk in place conditioned on `target` (H × A, the previous chunk shifted to this one's time)
    /// through per-step `weights` (H: 1 on the frozen prefix, decaying over the overlap, 0 after it); the first
    /// `frozen` actions come out equal to the target's. Returns network evaluations and vector-Jacobian products.
    ///
    /// Guidance (RTC's eq. 2–4 carried to DDPM/DDIM): with x̂₀ the step's (clipped) x₀ estimate and
    /// e = (target − x̂₀) ⊙ W, g = eᵀ ∂x̂₀/∂x_t; x̂₀ ← clip(x̂₀ + min(β, 1/√ᾱ_t) · g), and the step proceeds from the
    /// guided x̂₀. 1/√ᾱ_t is ΠGDM's weight (1 + σ²)·√ᾱ_t with σ² = (1 − ᾱ_t)/ᾱ_t and r² = σ²/(1 + σ²), the
    /// same as RTC's (t² + (1 − t)²)/t for flow matching; β clips it at high noise as the paper does.
    /// - Note: Real-time safe.
    public func runInpainting(_ kind: SamplerKind, sample x: UnsafeMutablePointer<Float>, condition: UnsafePointer<Float>,
                              target y: UnsafePointer<Float>, weights w: UnsafePointer<Float>, frozen: Int,
                              mode: InpaintingMode, generator: inout RandomGenerator,
                              deadline: UInt64 = 0) -> (evaluations: Int, products: Int) {
        let n = denoiser.chunkSize, A = denoiser.actionSize
        let ts = kind.timesteps
        stoppedEarly = false
        var stepStart = deadline != 0 ? monotonicNanoseconds() : 0
        var steps = ts.count
        let guided: GuidableDenoiser?
        var beta: Float = 0
        if case let .guided(b) = mode, let g = guidable { guided = g; beta = b } else { guided = nil }
        let cfg = scheduler.config
        let mo = modelOutput.data, x0p = x0.data, noise = stepNoise.data, cot = cotangent.data, g = product.data
        var products = 0
        for (k, t) in ts.enumerated() {
            if deadline != 0, k > 0 { // anytime: as in `run`, the last x₀ estimate (guided) rather than a late chunk
                let now = monotonicNanoseconds()
                let stepCost = now - stepStart
                stepStart = now
                if now &+ stepCost > deadline {
                    x.update(from: x0p, count: n)
                    stoppedEarly = true
                    steps = k
                    break
                }
            }
            let previous = k + 1 < ts.count ? ts[k + 1] : -1
            if let guided {
                guided.predictForGuidance(x, timestep: t, condition: condition, output: mo)
                scheduler.predictOriginal(mo, x, t: t, count: n, into: x0p)
                let a = scheduler.alphaBar(t)
                let sqrtA = a.squareRoot(), sqrtB = (1 - a).squareRoot()
                for i in 0 ..< n {
                    let raw = cfg.predictionType == .sample ? mo[i] : (x[i] - sqrtB * mo[i]) / sqrtA
                    let inside = !cfg.clipSample || abs(raw) < cfg.clipSampleRange // the clip passes no gradient
                    cot[i] = inside ? (y[i] - x0p[i]) * w[i / A] : 0
                }
                guided.vectorJacobianProduct(cot, into: g)
                products += 1
                let lambda = min(beta, 1 / sqrtA)
                for i in 0 ..< n {
                    // ∂x̂₀/∂x_t: the network's own for x₀-prediction; (I − √(1−ᾱ) ∂ε/∂x)/√ᾱ for ε-prediction.
                    let gi = cfg.predictionType == .sample ? g[i] : (cot[i] - sqrtB * g[i]) / sqrtA
                    var v = x0p[i] + lambda * gi
                    if cfg.clipSample { v = min(max(v, -cfg.clipSampleRange), cfg.clipSampleRange) }
                    x0p[i] = v
                }
            } else {
                denoiser.predict(x, timestep: t, condition: condition, conditionBatch: 1, batch: 1, output: mo)
                scheduler.predictOriginal(mo, x, t: t, count: n, into: x0p)
            }
            switch kind {
            case .ddpm:
                if t > 0 { generator.fillGaussian(noise, count: n) }
                scheduler.ddpmUpdate(x0: x0p, t: t, previous: previous, sample: x, count: n, noise: t > 0 ? noise : nil)
            case let .ddim(_, eta):
                if eta > 0 { generator.fillGaussian(noise, count: n) }
                scheduler.ddimUpdate(modelOutput: mo, x0: x0p, t: t, previous: previous, sample: x, count: n, eta: eta,
                                     noise: eta > 0 ? noise : nil)
            }
            if guided == nil { // replacement: the overlap at the new level is the target noised to it
                let aPrev = scheduler.alphaBar(previous)
                let sa = aPrev.squareRoot(), sb = (1 - aPrev).squareRoot()
                if previous >= 0 { generator.fillGaussian(noise, count: n) }
                for i in 0 ..< n {
                    let wi = w[i / A]
                    guard wi > 0 else { continue }
                    let yt = previous >= 0 ? sa * y[i] + sb * noise[i] : y[i]
                    x[i] = (1 - wi) * x[i] + wi * yt
                }
            }
        }
        // The committed prefix executes from the previous chunk: make the new chunk say so exactly.
        (x).update(from: y, count: max(0, min(frozen, denoiser.horizon)) * A)
        return (steps, products)
    }
}
