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

    /// Training forward: y = γ x̂ + β with x̂ = (x − μ)·rstd per (batch item, group), writing μ and rstd
    /// (batch × groups each) for `backward`. Statistics are summed in double, as the inference kernel's are.
    /// - Note: Real-time safe.
    public func forward(_ x: UnsafePointer<Float>, batch: Int, length: Int, output y: UnsafeMutablePointer<Float>,
                        mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
        let c = channels, cg = c / groups, g = gamma.data, bt = beta.data
        let count = Double(cg * length)
        for b in 0 ..< batch {
            let xb = x + b * length * c, yb = y + b * length * c
            for k in 0 ..< groups {
                var sum = 0.0, square = 0.0
                for p in 0 ..< length {
                    for ch in k * cg ..< (k + 1) * cg {
                        let v = Double(xb[p * c + ch])
                        sum += v
                        square += v * v
                    }
                }
                let mu = sum / count, variance = max(square / count - mu * mu, 0)
                let r = Float(1 / (variance + Double(epsilon)).squareRoot()), m = Float(mu)
                mean[b * groups + k] = m
                rstd[b * groups + k] = r
                for p in 0 ..< length {
                    for ch in k * cg ..< (k + 1) * cg { yb[p * c + ch] = g[ch] * (xb[p * c + ch] - m) * r + bt[ch] }
                }
            }
        }
    }

    /// From dy: dx = rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂)) with dx̂ = γ dy, over each (batch item, group);
    /// accumulates dγ += Σ dy x̂ and dβ += Σ dy when given. `x`, `mean`, `rstd` are the forward's.
    /// - Note: Real-time safe.
    public func backward(input x: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                         outputGradient dy: UnsafePointer<Float>, batch: Int, length: Int,
                         inputGradient dx: UnsafeMutablePointer<Float>, gammaGradient: UnsafeMutablePointer<Float>?,
                         betaGradient: UnsafeMutablePointer<Float>?) {
        let c = channels, cg = c / groups, g = gamma.data
        let count = Float(cg * length)
        for b in 0 ..< batch {
            let xb = x + b * length * c, dyb = dy + b * length * c, dxb = dx + b * length * c
            for k in 0 ..< groups {
                let m = mean[b * groups + k], r = rstd[b * groups + k]
                var sumD = 0.0, sumDX = 0.0
                for p in 0 ..< length {
                    for ch in k * cg ..< (k + 1) * cg {
                        let i = p * c + ch
                        let xhat = (xb[i] - m) * r, d = dyb[i]
                        let dxhat = Double(d * g[ch])
                        sumD += dxhat
                        sumDX += dxhat * Double(xhat)
                        gammaGradient?[ch] += d * xhat
                        betaGradient?[ch] += d
                    }
                }
                let meanD = Float(sumD) / count, meanDX = Float(sumDX) / count
                for p in 0 ..< length {
                    for ch in k * cg ..< (k + 1) * cg {
                        let i = p * c + ch
                        let xhat = (xb[i] - m) * r
                        dxb[i] = r * (dyb[i] * g[ch] - meanD - xhat * meanDX)
                    }
                }
            }
        }
    }
}
