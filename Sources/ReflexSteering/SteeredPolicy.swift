import ReflexCore
import ReflexPolicy

/// A source of initial noise for the diffusion sampler given the policy's condition: DSRL's latent-noise actor.
public protocol LatentNoiseSource: AnyObject {
    /// Writes `count` noise chunks (count × H × A) for the normalized condition `condition`.
    /// - Note: Real-time safe.
    func noise(condition: UnsafePointer<Float>, count: Int, output: UnsafeMutablePointer<Float>,
               generator: inout RandomGenerator)
}

/// One pipeline for every combination of steering (any subset may be on): DSRL's noise actor supplies the initial
/// noise, RTI warm-starts (through the policy's sampler), and V-GPS samples K candidates in one batched pass and
/// executes the one its critics like best.
///
/// DSRL under an RTI warm start: only a chunk denoised from noise can be steered through its noise. A fresh chunk
/// (the first of an episode) starts from the actor's noise; a warm-started one starts from the previous chunk, and the
/// actor's noise is what re-noises it to RTI's first timestep k0 (`rti-renoise`): x_k0 = √ᾱ_k0 · shifted +
/// √(1−ᾱ_k0) · w. The actor was trained on the fresh DDIM map, so this is a different use of w, and a weak one at a
/// small k0 (√(1−ᾱ_2) ≈ 0.06 with the cosine schedule). The official RTI warm start takes no noise at all: with it
/// the actor would steer only the first chunk of each episode, so that combination is refused.
public final class SteeredPolicy: Policy {
    public let base: DiffusionPolicy
    public let noiseSource: LatentNoiseSource?
    public let reranker: ValueReranker?
    /// Candidates per call (V-GPS's K; 1 without a reranker).
    public let candidates: Int
    private let condition: Tensor
    private let noise: Tensor
    private let executed: Tensor

    public var config: PolicyConfig { base.config }

    public init(base: DiffusionPolicy, noiseSource: LatentNoiseSource? = nil, reranker: ValueReranker? = nil,
                candidates: Int = 1) throws {
        let k = reranker == nil ? 1 : candidates
        guard k >= 1, k <= base.maxCandidates else {
            throw ReflexError(.invalidValue, "K = \(candidates) candidates, but the policy was loaded for at most \(base.maxCandidates)")
        }
        let c = base.config
        if noiseSource != nil, case .rti(_, .official, _) = base.sampler {
            throw Self.officialRTIRefusal(base.sampler)
        }
        if let r = reranker {
            guard r.stateSize == c.denoiserConditionSize, r.actionSize == c.nActionSteps * c.actionSize, r.maxCandidates >= k else {
                throw ReflexError(.shapeMismatch,
                                  "V-GPS critic expects state \(r.stateSize) and action \(r.actionSize); this policy gives \(c.denoiserConditionSize) and \(c.nActionSteps * c.actionSize)")
            }
        }
        self.base = base
        self.noiseSource = noiseSource
        self.reranker = reranker
        self.candidates = k
        condition = Tensor(zeros: [c.denoiserConditionSize])
        noise = Tensor(zeros: [k, c.horizon * c.actionSize])
        executed = Tensor(zeros: [k, c.nActionSteps * c.actionSize])
    }

    /// Why DSRL and the official RTI warm start do not compose (one home for the sentence eval, run and the daemon show).
    public static func officialRTIRefusal(_ sampler: SamplerSpec) -> ReflexError {
        ReflexError(.invalidValue, "a DSRL noise actor steers through the initial noise, and the official RTI warm start (\(sampler)) takes none: the actor would steer only the first chunk of each episode. Use rti-renoise:… instead, where the actor's noise re-noises each warm start to k0")
    }

    public func reset() { base.reset() }

    public func predictChunk(history: UnsafePointer<Float>, stepsExecuted: Int, output: UnsafeMutablePointer<Float>,
                             generator: inout RandomGenerator) -> InferenceInfo {
        let c = base.config
        base.writeCondition(history: history, into: condition.data) // a camera policy's features included
        var initial: UnsafePointer<Float>?
        if let noiseSource {
            noiseSource.noise(condition: condition.data, count: candidates, output: noise.data, generator: &generator)
            initial = UnsafePointer(noise.data)
        }
        let info = base.sampleCandidates(history: history, count: candidates, initialNoise: initial,
                                         stepsExecuted: stepsExecuted, generator: &generator)
        var chosen = 0
        if let reranker, candidates > 1 {
            let a = c.actionSize, n = c.nActionSteps * a
            for k in 0 ..< candidates {
                (executed.data + k * n).update(from: base.candidate(k) + (c.nObsSteps - 1) * a, count: n)
            }
            chosen = reranker.select(state: condition.data, candidates: executed.data, stride: n, count: candidates,
                                     generator: &generator)
        }
        base.commit(candidate: chosen, output: output)
        return info
    }
}
