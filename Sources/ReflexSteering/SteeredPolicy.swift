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
        if let r = reranker {
            guard r.stateSize == c.conditionSize, r.actionSize == c.nActionSteps * c.actionSize, r.maxCandidates >= k else {
                throw ReflexError(.shapeMismatch,
                                  "V-GPS critic expects state \(r.stateSize) and action \(r.actionSize); this policy gives \(c.conditionSize) and \(c.nActionSteps * c.actionSize)")
            }
        }
        self.base = base
        self.noiseSource = noiseSource
        self.reranker = reranker
        self.candidates = k
        condition = Tensor(zeros: [c.conditionSize])
        noise = Tensor(zeros: [k, c.horizon * c.actionSize])
        executed = Tensor(zeros: [k, c.nActionSteps * c.actionSize])
    }

    public func reset() { base.reset() }

    public func predictChunk(history: UnsafePointer<Float>, stepsExecuted: Int, output: UnsafeMutablePointer<Float>,
                             generator: inout RandomGenerator) -> InferenceInfo {
        let c = base.config
        condition.data.update(from: history, count: c.conditionSize)
        c.normalization.observation.normalize(condition.data, rows: c.nObsSteps)
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
