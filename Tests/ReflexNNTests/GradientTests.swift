import ReflexCore
import Testing

@testable import ReflexNN

/// Finite-difference checks. The network runs in Float; the loss L = Σ w ⊙ y (fixed random w) is summed in
/// Double, and central differences use a step large enough for Float rounding not to dominate.
private func lossAndGradient(_ f: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void, input: [Float],
                             outCount: Int, weights w: [Float]) -> Double {
    var y = [Float](repeating: 0, count: outCount)
    input.withUnsafeBufferPointer { x in y.withUnsafeMutableBufferPointer { f(x.baseAddress!, $0.baseAddress!) } }
    return zip(y, w).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
}

private func relativeError(_ a: Double, _ b: Double) -> Double { abs(a - b) / max(1e-2, abs(a) + abs(b)) }

@Suite struct ActivationTests {
    /// Reference values in Double, from the definitions PyTorch documents.
    static func reference(_ a: Activation, _ x: Double) -> Double {
        func sp(_ x: Double) -> Double { x > 20 ? x : log1p(exp(x)) }
        switch a {
        case .identity: return x
        case .relu: return max(0, x)
        case .tanh: return Foundation.tanh(x)
        case .sigmoid: return 1 / (1 + exp(-x))
        case .softplus: return sp(x)
        case .mish: return x * Foundation.tanh(sp(x))
        case .silu: return x / (1 + exp(-x))
        case .gelu: return 0.5 * x * (1 + erf(x / 2.0.squareRoot()))
        }
    }

    @Test(arguments: Activation.allCases)
    func forwardMatchesTheDefinition(_ a: Activation) {
        var xs: [Float] = stride(from: -30.0, through: 30.0, by: 0.37).map { Float($0) }
        xs += [0, -0.0, 1e-6, -1e-6, 19.99, 20.01, -88, 88]
        var ys = [Float](repeating: 0, count: xs.count)
        a.forward(xs, &ys, count: xs.count)
        for (x, y) in zip(xs, ys) {
            let r = Self.reference(a, Double(x))
            #expect(abs(Double(y) - r) <= 2e-6 + 2e-6 * abs(r), "\(a)(\(x)) = \(y), expected \(r)")
        }
    }

    @Test(arguments: Activation.allCases)
    func backwardMatchesFiniteDifferences(_ a: Activation) {
        let xs: [Float] = stride(from: -6.0, through: 6.0, by: 0.173).map { Float($0) } + [25, -25]
        let dy = [Float](repeating: 1, count: xs.count)
        var dx = [Float](repeating: 0, count: xs.count)
        a.backward(input: xs, outputGradient: dy, inputGradient: &dx, count: xs.count)
        for (x, g) in zip(xs, dx) where a != .relu || abs(x) > 1e-3 {
            let h = 1e-4
            let fd = (Self.reference(a, Double(x) + h) - Self.reference(a, Double(x) - h)) / (2 * h)
            #expect(abs(Double(g) - fd) <= 1e-4 + 1e-4 * abs(fd), "\(a)'(\(x)) = \(g), expected \(fd)")
        }
    }
}

@Suite struct LayerGradientTests {
    @Test func linearGradientsMatchFiniteDifferences() {
        var gen = RandomGenerator(seed: 11)
        let layer = Linear(inputSize: 5, outputSize: 4, generator: &gen)
        let batch = 3
        let x = (0 ..< batch * 5).map { _ in Float(gen.gaussian()) }
        let w = (0 ..< batch * 4).map { _ in Float(gen.gaussian()) }
        let dW = Tensor(zeros: [4, 5]), db = Tensor(zeros: [4])
        var dx = [Float](repeating: 0, count: x.count)
        layer.backward(input: x, outputGradient: w, batch: batch, weightGradient: dW.data, biasGradient: db.data,
                       inputGradient: &dx)
        let f = { (xp: UnsafePointer<Float>, yp: UnsafeMutablePointer<Float>) in layer.forward(xp, batch: batch, output: yp) }
        let h: Float = 1e-2
        for (tensor, grad) in [(layer.weight, dW), (layer.bias!, db)] {
            for i in 0 ..< tensor.count {
                let saved = tensor.data[i]
                tensor.data[i] = saved + h
                let up = lossAndGradient(f, input: x, outCount: batch * 4, weights: w)
                tensor.data[i] = saved - h
                let down = lossAndGradient(f, input: x, outCount: batch * 4, weights: w)
                tensor.data[i] = saved
                #expect(relativeError(Double(grad.data[i]), (up - down) / Double(2 * h)) < 1e-3)
            }
        }
        for i in 0 ..< x.count {
            var xu = x, xd = x
            xu[i] += h
            xd[i] -= h
            let fd = (lossAndGradient(f, input: xu, outCount: batch * 4, weights: w)
                - lossAndGradient(f, input: xd, outCount: batch * 4, weights: w)) / Double(2 * h)
            #expect(relativeError(Double(dx[i]), fd) < 1e-3)
        }
    }

    @Test func layerNormGradientsMatchFiniteDifferences() {
        var gen = RandomGenerator(seed: 12)
        let d = 6, batch = 3
        let norm = LayerNorm(width: d)
        gen.fillGaussian(norm.gamma)
        gen.fillGaussian(norm.beta)
        let x = (0 ..< batch * d).map { _ in Float(gen.gaussian()) }
        let w = (0 ..< batch * d).map { _ in Float(gen.gaussian()) }
        var mean = [Float](repeating: 0, count: batch), rstd = mean
        var y = [Float](repeating: 0, count: x.count)
        norm.forward(x, batch: batch, output: &y, mean: &mean, rstd: &rstd)
        var dx = [Float](repeating: 0, count: x.count)
        let dg = Tensor(zeros: [d]), dbeta = Tensor(zeros: [d])
        norm.backward(input: x, mean: mean, rstd: rstd, outputGradient: w, batch: batch, inputGradient: &dx,
                      gammaGradient: dg.data, betaGradient: dbeta.data)
        let f = { (xp: UnsafePointer<Float>, yp: UnsafeMutablePointer<Float>) in
            norm.forward(xp, batch: batch, output: yp, mean: nil, rstd: nil)
        }
        let h: Float = 1e-2
        for i in 0 ..< x.count {
            var xu = x, xd = x
            xu[i] += h
            xd[i] -= h
            let fd = (lossAndGradient(f, input: xu, outCount: x.count, weights: w)
                - lossAndGradient(f, input: xd, outCount: x.count, weights: w)) / Double(2 * h)
            #expect(relativeError(Double(dx[i]), fd) < 2e-3, "dx[\(i)]")
        }
        for (tensor, grad) in [(norm.gamma, dg), (norm.beta, dbeta)] {
            for i in 0 ..< d {
                let saved = tensor.data[i]
                tensor.data[i] = saved + h
                let up = lossAndGradient(f, input: x, outCount: x.count, weights: w)
                tensor.data[i] = saved - h
                let down = lossAndGradient(f, input: x, outCount: x.count, weights: w)
                tensor.data[i] = saved
                #expect(relativeError(Double(grad.data[i]), (up - down) / Double(2 * h)) < 1e-3)
            }
        }
    }

    @Test(arguments: [(Activation.tanh, false), (.mish, true), (.gelu, false), (.silu, true), (.relu, false)])
    func mlpGradientsMatchFiniteDifferences(_ activation: Activation, _ layerNorm: Bool) {
        var gen = RandomGenerator(seed: 13)
        let config = MLPConfig(inputSize: 4, hiddenSizes: [7, 5], outputSize: 3, activation: activation,
                               layerNorm: layerNorm, outputActivation: .tanh)
        let net = MLP(config: config, generator: &gen)
        let batch = 4
        let x = (0 ..< batch * 4).map { _ in Float(gen.gaussian()) }
        let w = (0 ..< batch * 3).map { _ in Float(gen.gaussian()) }
        let tape = MLPTape(config: config, maxBatch: batch)
        let grad = Tensor(zeros: [net.parameterCount])
        var dx = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { _ = net.forward($0.baseAddress!, batch: batch, tape: tape) }
        net.backward(tape: tape, outputGradient: w, gradient: grad, inputGradient: &dx)
        let ws = MLPWorkspace(config: config, maxBatch: batch)
        let f = { (xp: UnsafePointer<Float>, yp: UnsafeMutablePointer<Float>) in
            net.evaluate(xp, batch: batch, output: yp, workspace: ws)
        }
        let h: Float = 5e-3
        var worst = 0.0
        for i in 0 ..< net.parameterCount {
            let saved = net.parameters.data[i]
            net.parameters.data[i] = saved + h
            let up = lossAndGradient(f, input: x, outCount: batch * 3, weights: w)
            net.parameters.data[i] = saved - h
            let down = lossAndGradient(f, input: x, outCount: batch * 3, weights: w)
            net.parameters.data[i] = saved
            let fd = (up - down) / Double(2 * h)
            if activation == .relu && abs(fd - Double(grad.data[i])) > 1e-2 { continue } // a kink crossed
            worst = max(worst, relativeError(Double(grad.data[i]), fd))
        }
        #expect(worst < 5e-3, "worst relative error \(worst) for \(activation), layerNorm \(layerNorm)")
        for i in 0 ..< x.count {
            var xu = x, xd = x
            xu[i] += h
            xd[i] -= h
            let fd = (lossAndGradient(f, input: xu, outCount: batch * 3, weights: w)
                - lossAndGradient(f, input: xd, outCount: batch * 3, weights: w)) / Double(2 * h)
            #expect(relativeError(Double(dx[i]), fd) < 5e-3, "input gradient \(i)")
        }
    }

    @Test func evaluateAndForwardAgree() {
        var gen = RandomGenerator(seed: 14)
        let config = MLPConfig(inputSize: 8, hiddenSizes: [16, 16], outputSize: 2, activation: .mish, layerNorm: true)
        let net = MLP(config: config, generator: &gen)
        let x = Tensor(zeros: [5, 8])
        gen.fillGaussian(x)
        let a = net.evaluate(x)
        let tape = MLPTape(config: config, maxBatch: 8)
        let out = net.forward(x.data, batch: 5, tape: tape)
        for i in 0 ..< 10 { #expect(a.data[i] == out[i]) }
    }
}

import Foundation
