#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore

/// How the forward-process variances β_t are laid out over the T training steps (diffusers' `beta_schedule`).
public enum BetaSchedule: String, Codable, Sendable {
    /// Nichol & Dhariwal 2021, eq. 17: ᾱ(t) = cos²(((t/T + s)/(1 + s)) · π/2), s = 0.008, β capped at 0.999.
    case squaredCosCapV2 = "squaredcos_cap_v2"
    /// β evenly spaced from `betaStart` to `betaEnd` (Ho et al. 2020).
    case linear
}

/// What the denoiser predicts (diffusers' `prediction_type`).
public enum PredictionType: String, Codable, Sendable {
    /// The noise ε that was added (Ho et al. 2020).
    case epsilon
    /// The clean sample x₀ directly.
    case sample
}

/// The variance schedule of a denoising diffusion model and the reverse-step updates of DDPM and DDIM, computed as
/// diffusers' `DDPMScheduler` / `DDIMScheduler` compute them in float32 (the way LeRobot configures them), so a
/// policy trained in PyTorch samples the same actions here.
///
/// Timesteps are explicit on every step (`t` and `previous`), so any subset of the T steps can be run: full DDPM,
/// "leading"-spaced inference schedules, or the short warm-start schedules of RTI such as [2, 1, 0].
public struct NoiseScheduler: Sendable, Equatable {
    public struct Config: Codable, Sendable, Equatable {
        public var trainTimesteps: Int
        public var betaSchedule: BetaSchedule
        public var betaStart: Float
        public var betaEnd: Float
        /// Clamp the predicted x₀ to ±`clipSampleRange` before each update.
        public var clipSample: Bool
        public var clipSampleRange: Float
        public var predictionType: PredictionType

        public init(trainTimesteps: Int = 100, betaSchedule: BetaSchedule = .squaredCosCapV2, betaStart: Float = 1e-4,
                    betaEnd: Float = 0.02, clipSample: Bool = true, clipSampleRange: Float = 1,
                    predictionType: PredictionType = .epsilon) {
            self.trainTimesteps = trainTimesteps
            self.betaSchedule = betaSchedule
            self.betaStart = betaStart
            self.betaEnd = betaEnd
            self.clipSample = clipSample
            self.clipSampleRange = clipSampleRange
            self.predictionType = predictionType
        }

        public func validate() throws {
            guard trainTimesteps >= 1 else {
                throw ReflexError(.invalidValue, "num_train_timesteps must be at least 1, got \(trainTimesteps)")
            }
            guard clipSampleRange > 0 else {
                throw ReflexError(.invalidValue, "clip_sample_range must be positive, got \(clipSampleRange)")
            }
        }
    }

    public let config: Config
    public let betas: [Float]
    /// ᾱ_t = Π_{s ≤ t} (1 − β_s), as a float32 running product like `torch.cumprod`.
    public let alphasCumprod: [Float]

    public init(_ config: Config = Config()) {
        self.config = config
        let T = config.trainTimesteps
        var betas = [Float](repeating: 0, count: T)
        switch config.betaSchedule {
        case .squaredCosCapV2:
            // diffusers' betas_for_alpha_bar computes in float64, then stores float32.
            func alphaBar(_ t: Double) -> Double {
                let c = cos((t + 0.008) / 1.008 * Double.pi / 2)
                return c * c
            }
            for i in 0 ..< T {
                let t1 = Double(i) / Double(T), t2 = Double(i + 1) / Double(T)
                betas[i] = Float(min(1 - alphaBar(t2) / alphaBar(t1), 0.999))
            }
        case .linear:
            // torch.linspace(beta_start, beta_end, T) in float32.
            for i in 0 ..< T {
                let step = (config.betaEnd - config.betaStart) / Float(max(T - 1, 1))
                betas[i] = i < T / 2 ? config.betaStart + step * Float(i) : config.betaEnd - step * Float(T - 1 - i)
            }
        }
        var cumprod = [Float](repeating: 0, count: T)
        var running: Double = 1 // torch.cumprod accumulates float32 in double on CPU
        for i in 0 ..< T {
            running *= Double(1 - betas[i])
            cumprod[i] = Float(running)
        }
        self.betas = betas
        alphasCumprod = cumprod
    }

    /// Inference timesteps with diffusers' "leading" spacing: `steps` values
    /// t_k = k · ⌊T / steps⌋, in descending order (e.g. 10 of 100 → 90, 80, …, 0).
    public func leadingTimesteps(_ steps: Int) -> [Int] {
        let n = max(1, min(steps, config.trainTimesteps))
        let ratio = config.trainTimesteps / n
        return (0 ..< n).reversed().map { $0 * ratio }
    }

    /// ᾱ at `t`, or 1 for t < 0 (diffusers' `one` / `set_alpha_to_one`).
    @inline(__always) public func alphaBar(_ t: Int) -> Float { t >= 0 ? alphasCumprod[t] : 1 }

    /// x₀ predicted from a model output at `t`, clipped when configured. Written into `x0`.
    /// - Note: Real-time safe.
    @inline(__always)
    func predictOriginal(_ modelOutput: UnsafePointer<Float>, _ sample: UnsafePointer<Float>, t: Int, count: Int,
                         into x0: UnsafeMutablePointer<Float>) {
        let a = alphaBar(t)
        let sqrtA = a.squareRoot(), sqrtB = (1 - a).squareRoot()
        let clip = config.clipSample, r = config.clipSampleRange
        for i in 0 ..< count {
            var v: Float
            switch config.predictionType {
            case .epsilon: v = (sample[i] - sqrtB * modelOutput[i]) / sqrtA
            case .sample: v = modelOutput[i]
            }
            if clip { v = min(max(v, -r), r) }
            x0[i] = v
        }
    }

    /// One DDPM reverse step x_t → x_prev (Ho et al. 2020, eqs. 6–7), with `fixed_small` variance
    /// σ² = (1 − ᾱ_prev)/(1 − ᾱ_t) · β̃ where β̃ = 1 − ᾱ_t/ᾱ_prev. Noise is added only when t > 0, and comes from
    /// `noise` (count values of N(0, 1), drawn by the caller from its generator). `sample` is updated in place;
    /// `x0` receives the clipped x₀ prediction (scratch the caller owns, count values).
    /// - Note: Real-time safe.
    public func ddpmStep(modelOutput: UnsafePointer<Float>, t: Int, previous: Int, sample: UnsafeMutablePointer<Float>,
                         count: Int, noise: UnsafePointer<Float>?, x0: UnsafeMutablePointer<Float>) {
        predictOriginal(modelOutput, sample, t: t, count: count, into: x0)
        ddpmUpdate(x0: x0, t: t, previous: previous, sample: sample, count: count, noise: noise)
    }

    /// The DDPM update from a given x₀ estimate (RTC's guided one): the posterior mean of q(x_prev | x_t, x₀) plus
    /// σ·noise when t > 0.
    /// - Note: Real-time safe.
    public func ddpmUpdate(x0: UnsafePointer<Float>, t: Int, previous: Int, sample: UnsafeMutablePointer<Float>,
                           count: Int, noise: UnsafePointer<Float>?) {
        let a = alphaBar(t), aPrev = alphaBar(previous)
        let b = 1 - a, bPrev = 1 - aPrev
        let currentAlpha = a / aPrev
        let currentBeta = 1 - currentAlpha
        let c0 = aPrev.squareRoot() * currentBeta / b
        let ct = currentAlpha.squareRoot() * bPrev / b
        var sigma: Float = 0
        if t > 0, noise != nil {
            sigma = max(bPrev / b * currentBeta, 1e-20).squareRoot()
        }
        for i in 0 ..< count {
            var v = c0 * x0[i] + ct * sample[i]
            if sigma != 0, let noise { v += sigma * noise[i] }
            sample[i] = v
        }
    }

    /// One DDIM step x_t → x_prev (Song et al. 2021, eq. 12) with η; deterministic at η = 0. As diffusers does by
    /// default, the direction term uses the model's ε even when x₀ was clipped. `noise` is needed only when η > 0.
    /// - Note: Real-time safe.
    public func ddimStep(modelOutput: UnsafePointer<Float>, t: Int, previous: Int, sample: UnsafeMutablePointer<Float>,
                         count: Int, eta: Float = 0, noise: UnsafePointer<Float>? = nil, x0: UnsafeMutablePointer<Float>) {
        predictOriginal(modelOutput, sample, t: t, count: count, into: x0)
        ddimUpdate(modelOutput: modelOutput, x0: x0, t: t, previous: previous, sample: sample, count: count, eta: eta,
                   noise: noise)
    }

    /// The DDIM update from a given x₀ estimate (RTC's guided one) and the model's ε direction.
    /// - Note: Real-time safe.
    public func ddimUpdate(modelOutput: UnsafePointer<Float>, x0: UnsafePointer<Float>, t: Int, previous: Int,
                           sample: UnsafeMutablePointer<Float>, count: Int, eta: Float, noise: UnsafePointer<Float>?) {
        let a = alphaBar(t), aPrev = alphaBar(previous)
        let b = 1 - a, bPrev = 1 - aPrev
        let variance = (bPrev / b) * (1 - a / aPrev)
        let std = eta * variance.squareRoot()
        let sqrtAPrev = aPrev.squareRoot()
        let direction = (1 - aPrev - std * std).squareRoot()
        let sqrtA = a.squareRoot(), sqrtB = b.squareRoot()
        for i in 0 ..< count {
            let eps: Float
            switch config.predictionType {
            case .epsilon: eps = modelOutput[i]
            case .sample: eps = (sample[i] - sqrtA * modelOutput[i]) / sqrtB
            }
            var v = sqrtAPrev * x0[i] + direction * eps
            if std > 0, let noise { v += std * noise[i] }
            sample[i] = v
        }
    }

    /// The forward process q(x_t | x₀): x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε, in place over `sample` (which holds x₀).
    /// Training uses it, and so does the RTI variant that re-noises its warm start.
    /// - Note: Real-time safe.
    public func addNoise(_ sample: UnsafeMutablePointer<Float>, noise: UnsafePointer<Float>, t: Int, count: Int) {
        let a = alphaBar(t)
        let sa = a.squareRoot(), sb = (1 - a).squareRoot()
        for i in 0 ..< count { sample[i] = sa * sample[i] + sb * noise[i] }
    }
}
