import CBridge
import ReflexCore

/// Elementwise nonlinearities, each with its derivative (CBridge, vectorized by Eigen).
public enum Activation: String, Codable, Sendable, CaseIterable {
    case identity, relu, tanh, mish, silu, gelu, softplus, sigmoid

    var kernel: rx_activation {
        switch self {
        case .identity: RX_ACT_IDENTITY
        case .relu: RX_ACT_RELU
        case .tanh: RX_ACT_TANH
        case .mish: RX_ACT_MISH
        case .silu: RX_ACT_SILU
        case .gelu: RX_ACT_GELU
        case .softplus: RX_ACT_SOFTPLUS
        case .sigmoid: RX_ACT_SIGMOID
        }
    }

    /// y = f(x) over `count` values (`y` may be `x`).
    /// - Note: Real-time safe.
    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        rx_activation_forward(kernel, count, x, y)
    }

    /// dx = dy · f′(x), with `x` the input of the forward pass (`dx` may be `dy`).
    /// - Note: Real-time safe.
    public func backward(input x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                         inputGradient dx: UnsafeMutablePointer<Float>, count: Int) {
        rx_activation_backward(kernel, count, x, dy, dx)
    }
}
