import ReflexCore
import ReflexRL

/// DSRL's latent-noise actor π_W(w | s) at deployment: a tanh-Gaussian over the diffusion policy's initial noise,
/// scaled to ±`magnitude` (the official NA variant forgets this scale; Reflex applies it in both).
public final class LatentNoiseActor: LatentNoiseSource {
    public let policy: TanhGaussianPolicy
    public let magnitude: Float
    /// Act with tanh(μ) (true) or sample (false).
    public var deterministic: Bool
    private let workspace: TanhGaussianPolicy.Workspace

    public init(policy: TanhGaussianPolicy, magnitude: Float, deterministic: Bool = true, maxBatch: Int = 1) {
        self.policy = policy
        self.magnitude = magnitude
        self.deterministic = deterministic
        workspace = TanhGaussianPolicy.Workspace(policy: policy, maxBatch: maxBatch)
    }

    /// - Note: Real-time safe.
    public func noise(condition: UnsafePointer<Float>, count: Int, output: UnsafeMutablePointer<Float>,
                      generator: inout RandomGenerator) {
        // One noise per candidate: the same condition repeated; sampled candidates differ, deterministic ones agree.
        let n = policy.actionSize
        for k in 0 ..< count {
            policy.act(condition, batch: 1, deterministic: deterministic, output: output + k * n, workspace: workspace,
                       generator: &generator)
            for i in 0 ..< n { output[k * n + i] *= magnitude }
        }
    }
}
