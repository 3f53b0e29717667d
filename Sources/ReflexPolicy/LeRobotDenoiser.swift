import ReflexCore
import ReflexNN

/// A `ConditionalUnet1D` as a `Denoiser`, so DDPM/DDIM sampling, RTI warm starts and K-candidate batches apply to
/// LeRobot's U-Net as to Reflex's MLP denoiser. The K chunks of one call share each weight read.
public final class ConditionalUnetDenoiser: Denoiser {
    public let network: ConditionalUnet1D
    public let workspace: ConditionalUnet1DWorkspace
    public let horizon: Int
    public var actionSize: Int { network.config.actionSize }
    public var conditionSize: Int { network.config.globalConditionSize }
    public var maxBatch: Int { workspace.maxBatch }

    /// Buffers for up to `maxBatch` chunks of `horizon` steps are made here, once.
    public init(network: ConditionalUnet1D, horizon: Int, maxBatch: Int) throws {
        guard maxBatch >= 1 else { throw ReflexError(.invalidArgument, "maxBatch must be at least 1, got \(maxBatch)") }
        self.network = network
        self.horizon = horizon
        workspace = try ConditionalUnet1DWorkspace(network: network, horizon: horizon, maxBatch: maxBatch)
    }

    public func predict(_ x: UnsafePointer<Float>, timestep t: Int, condition: UnsafePointer<Float>, conditionBatch: Int,
                        batch: Int, output: UnsafeMutablePointer<Float>) {
        network.evaluate(x, timestep: t, condition: condition, conditionBatch: conditionBatch, batch: batch,
                         output: output, workspace: workspace)
    }
}
