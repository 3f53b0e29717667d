import CBridge
import ReflexCore

/// A fully connected layer y = x Wᵀ + b over a batch of rows, with PyTorch's layout (W is out × in).
///
/// The layer holds views of its weights; the caller owns input, output and gradient buffers, so forward and
/// backward allocate nothing.
public struct Linear: Sendable {
    /// out × in.
    public let weight: Tensor
    /// out, or nil for a layer without bias.
    public let bias: Tensor?

    public var inputSize: Int { weight.shape[1] }
    public var outputSize: Int { weight.shape[0] }

    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "Linear weight must be 2-D, got \(weight.shape)")
        precondition((bias?.count ?? weight.shape[0]) == weight.shape[0], "Linear bias size differs from out features")
        self.weight = weight
        self.bias = bias
    }

    /// A fresh layer initialized as `torch.nn.Linear`: W, b ~ U(−1/√in, 1/√in).
    public init(inputSize: Int, outputSize: Int, bias: Bool = true, generator: inout RandomGenerator) {
        let w = Tensor(zeros: [outputSize, inputSize])
        let bound = 1 / Float(inputSize).squareRoot()
        generator.fillUniform(w, low: -bound, high: bound)
        var b: Tensor?
        if bias {
            b = Tensor(zeros: [outputSize])
            generator.fillUniform(b!, low: -bound, high: bound)
        }
        self.init(weight: w, bias: b)
    }

    /// Y (batch × out) = X (batch × in) Wᵀ + b.
    /// - Note: Real-time safe.
    public func forward(_ x: UnsafePointer<Float>, batch: Int, output y: UnsafeMutablePointer<Float>) {
        let n = outputSize, k = inputSize
        rx_sgemm(0, 1, batch, n, k, 1, x, k, weight.data, k, 0, y, n)
        if let bias { rx_bias_add(batch, n, y, n, bias.data) }
    }

    /// Backward pass. Accumulates dW += dYᵀ X and db += Σ dY into the gradient views when given, and writes
    /// dX = dY W when `inputGradient` is given.
    /// - Note: Real-time safe.
    public func backward(input x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, batch: Int,
                         weightGradient: UnsafeMutablePointer<Float>?, biasGradient: UnsafeMutablePointer<Float>?,
                         inputGradient dx: UnsafeMutablePointer<Float>?) {
        let n = outputSize, k = inputSize
        if let dw = weightGradient { rx_sgemm(1, 0, n, k, batch, 1, dy, n, x, k, 1, dw, k) }
        if let db = biasGradient, bias != nil { rx_bias_grad(batch, n, dy, n, db, 1) }
        if let dx { rx_sgemm(0, 0, batch, k, n, 1, dy, n, weight.data, k, 0, dx, k) }
    }
}

/// Layer normalization over the last dimension (Ba et al. 2016): y = γ (x − μ) / √(σ² + ε) + β.
public struct LayerNorm: Sendable {
    public let gamma: Tensor
    public let beta: Tensor
    public let epsilon: Float

    public var width: Int { gamma.count }

    public init(gamma: Tensor, beta: Tensor, epsilon: Float = 1e-5) {
        precondition(gamma.count == beta.count, "LayerNorm gamma and beta differ in size")
        self.gamma = gamma
        self.beta = beta
        self.epsilon = epsilon
    }

    /// A fresh layer with γ = 1, β = 0 (PyTorch's initialization).
    public init(width: Int, epsilon: Float = 1e-5) {
        self.init(gamma: Tensor(shape: [width], repeating: 1), beta: Tensor(zeros: [width]), epsilon: epsilon)
    }

    /// Normalizes `batch` rows; writes each row's mean and 1/σ when given (backward needs them).
    /// - Note: Real-time safe.
    public func forward(_ x: UnsafePointer<Float>, batch: Int, output y: UnsafeMutablePointer<Float>,
                        mean: UnsafeMutablePointer<Float>?, rstd: UnsafeMutablePointer<Float>?) {
        rx_layernorm_forward(batch, width, x, gamma.data, beta.data, epsilon, y, mean, rstd)
    }

    /// dx from dy; accumulates dγ and dβ when given.
    /// - Note: Real-time safe.
    public func backward(input x: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                         outputGradient dy: UnsafePointer<Float>, batch: Int, inputGradient dx: UnsafeMutablePointer<Float>,
                         gammaGradient: UnsafeMutablePointer<Float>?, betaGradient: UnsafeMutablePointer<Float>?) {
        rx_layernorm_backward(batch, width, x, gamma.data, mean, rstd, dy, dx, gammaGradient, betaGradient)
    }
}
