import CBridge
import ReflexCore

/// Group normalization (Wu & He 2018; PyTorch's `nn.GroupNorm`) over position-major activations ((batch·length) × channels): each batch item's
/// channels are split into `groups` groups, normalized over (channels in group × length), then scaled per channel.
public struct GroupNorm: Sendable {
    public let groups: Int
    public let gamma: Tensor
    public let beta: Tensor
    public let epsilon: Float

    public var channels: Int { gamma.count }

    /// Reads `prefix.weight` and `prefix.bias` (both `channels`).
    public init(_ prefix: String, groups: Int, channels: Int, epsilon: Float = 1e-5, weights: WeightSource) throws {
        guard groups >= 1, channels % groups == 0 else {
            throw ReflexError(.invalidArgument, "GroupNorm: \(channels) channels do not split into \(groups) groups",
                              at: .init(element: prefix))
        }
        self.groups = groups
        gamma = try weights(prefix + ".weight", [channels])
        beta = try weights(prefix + ".bias", [channels])
        self.epsilon = epsilon
    }

    /// Normalizes x ((batch·length) × channels) in place, first adding the preceding layer's `bias` (per channel,
    /// may be nil) and finishing with Mish when `mish` is set, in one pass over the activations.
    /// - Note: Real-time safe.
    public func evaluate(_ x: UnsafeMutablePointer<Float>, batch: Int, length: Int, bias: UnsafePointer<Float>?,
                         mish: Bool) {
        rx_group_norm(channels, batch, length, groups, bias, gamma.data, beta.data, epsilon, mish ? 1 : 0, x)
    }
}
