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
    private let modelOutput: Tensor
    private let x0: Tensor
    private let stepNoise: Tensor

    public init(denoiser: Denoiser, scheduler: NoiseScheduler) {
        self.denoiser = denoiser
        self.scheduler = scheduler
        let n = denoiser.maxBatch * denoiser.chunkSize
        modelOutput = Tensor(zeros: [n])
        x0 = Tensor(zeros: [n])
        stepNoise = Tensor(zeros: [n])
    }

    /// Denoises `sample` (batch × H × A, holding x at the schedule's first timestep) in place, through every
    /// timestep of `kind`. Returns the number of network evaluations (the schedule's length).
    /// - Note: Real-time safe.
    @discardableResult
    public func run(_ kind: SamplerKind, sample: UnsafeMutablePointer<Float>, batch: Int,
                    condition: UnsafePointer<Float>, conditionBatch: Int, generator: inout RandomGenerator) -> Int {
        precondition(batch <= denoiser.maxBatch, "batch \(batch) > denoiser capacity \(denoiser.maxBatch)")
        let count = batch * denoiser.chunkSize
        let ts = kind.timesteps
        for (k, t) in ts.enumerated() {
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
