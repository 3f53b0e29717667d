import ReflexCore

/// Shape of a `ConditionalUnet1D`, in LeRobot `DiffusionConfig`'s terms (Chi et al. 2023, Diffusion Policy §3.2,
/// the CNN-based variant with FiLM conditioning).
public struct ConditionalUnet1DConfig: Sendable, Equatable, Codable {
    /// Values per action (the U-Net's input and output channels).
    public var actionSize: Int
    /// Length of the flattened observation-history conditioning vector.
    public var globalConditionSize: Int
    /// Channels of each encoder level; every level but the last halves the length.
    public var downDims: [Int]
    public var kernelSize: Int
    /// GroupNorm groups in every conv block.
    public var nGroups: Int
    /// Width of the sinusoidal timestep embedding and of its MLP's output.
    public var diffusionStepEmbedDim: Int
    /// FiLM predicts a per-channel scale and bias (true) or only a bias (false).
    public var useFilmScaleModulation: Bool

    /// LeRobot 0.4's defaults (≈ 249M parameters for a small action and state).
    public init(actionSize: Int, globalConditionSize: Int, downDims: [Int] = [512, 1024, 2048], kernelSize: Int = 5,
                nGroups: Int = 8, diffusionStepEmbedDim: Int = 128, useFilmScaleModulation: Bool = true) {
        self.actionSize = actionSize
        self.globalConditionSize = globalConditionSize
        self.downDims = downDims
        self.kernelSize = kernelSize
        self.nGroups = nGroups
        self.diffusionStepEmbedDim = diffusionStepEmbedDim
        self.useFilmScaleModulation = useFilmScaleModulation
    }

    /// FiLM input width: timestep embedding plus global condition.
    public var conditionDim: Int { diffusionStepEmbedDim + globalConditionSize }

    /// (in, out) channels of each encoder level, as LeRobot's `in_out`.
    public var levels: [(input: Int, output: Int)] {
        guard let first = downDims.first else { return [] }
        return [(actionSize, first)] + zip(downDims, downDims.dropFirst()).map { ($0, $1) }
    }

    /// Checks the shape, and `horizon` against the downsampling when given (with LeRobot's rule: divisible by
    /// 2^len(down_dims)).
    public func validate(horizon: Int? = nil) throws {
        func bad(_ key: String, _ message: String) -> ReflexError {
            ReflexError(.invalidValue, message, at: .init(keyPath: key))
        }
        guard actionSize > 0 else { throw bad("action_size", "must be positive, got \(actionSize)") }
        guard globalConditionSize >= 0 else { throw bad("global_cond_dim", "must not be negative") }
        guard !downDims.isEmpty, downDims.allSatisfy({ $0 > 0 }) else {
            throw bad("down_dims", "must be a non-empty list of positive widths, got \(downDims)")
        }
        guard kernelSize >= 1, kernelSize % 2 == 1 else {
            throw bad("kernel_size", "must be odd and positive (padding k/2 keeps the length), got \(kernelSize)")
        }
        guard nGroups >= 1, downDims.allSatisfy({ $0 % nGroups == 0 }) else {
            throw bad("n_groups", "\(nGroups) groups do not divide every width of down_dims \(downDims)")
        }
        guard downDims[0] % 8 == 0 else {
            throw bad("down_dims", "down_dims[0] must be a multiple of 8 (LeRobot's final conv block uses GroupNorm with 8 groups), got \(downDims[0])")
        }
        guard diffusionStepEmbedDim >= 4, diffusionStepEmbedDim % 2 == 0 else {
            throw bad("diffusion_step_embed_dim", "must be even and at least 4, got \(diffusionStepEmbedDim)")
        }
        if let horizon {
            let factor = 1 << downDims.count
            guard horizon >= 1, horizon % factor == 0 else {
                throw bad("horizon", "must be a multiple of the U-Net's downsampling factor 2^len(down_dims) = \(factor), got \(horizon)")
            }
        }
    }
}
