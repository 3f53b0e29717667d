import Foundation
import ReflexCore
import ReflexNN
import Testing

@testable import ReflexRL

@Suite struct TanhGaussianPolicyTests {
    /// L = Σ_b Σ_j c_bj a_bj + Σ_b d_b log π_b with the noise held fixed, differentiated numerically through the
    /// network parameters, against `backward`.
    @Test func gradientMatchesFiniteDifferencesIncludingTheTanhCorrection() {
        var gen = RandomGenerator(seed: 11)
        let policy = TanhGaussianPolicy(observationSize: 3, actionSize: 2, hiddenSizes: [16], activation: .tanh,
                                        logStdMin: -5, logStdMax: 2, generator: &gen)
        let b = 4
        let obs = Tensor(zeros: [b, 3])
        gen.fillGaussian(obs)
        let c = Tensor(zeros: [b, 2]), d = Tensor(zeros: [b])
        gen.fillGaussian(c)
        gen.fillGaussian(d)
        let tape = TanhGaussianPolicy.Tape(policy: policy, maxBatch: b)
        func loss() -> Double {
            var g = RandomGenerator(seed: 99) // the same ε every time
            policy.sample(obs.data, batch: b, tape: tape, generator: &g)
            var l = 0.0
            for i in 0 ..< b * 2 { l += Double(c.data[i] * tape.actions.data[i]) }
            for i in 0 ..< b { l += Double(d.data[i] * tape.logProbabilities.data[i]) }
            return l
        }
        _ = loss()
        let grad = Tensor(zeros: [policy.network.parameterCount])
        policy.backward(tape: tape, actionGradient: c.data, logProbabilityGradient: d.data, gradient: grad)
        let p = policy.network.parameters.data
        var worst = 0.0
        for i in stride(from: 0, to: policy.network.parameterCount, by: 3) {
            let old = p[i]
            let h: Float = 1e-2
            p[i] = old + h
            let up = loss()
            p[i] = old - h
            let down = loss()
            p[i] = old
            let numeric = (up - down) / (2 * Double(h))
            worst = max(worst, abs(numeric - Double(grad.data[i])) / max(1, abs(numeric)))
        }
        #expect(worst < 2e-2, "worst relative gradient error \(worst)")
    }

    @Test func logProbabilityIsTheSquashedGaussianDensity() {
        // One action dimension, a network whose head we can read: compare with the closed form.
        var gen = RandomGenerator(seed: 5)
        let policy = TanhGaussianPolicy(observationSize: 1, actionSize: 1, hiddenSizes: [4], generator: &gen)
        let tape = TanhGaussianPolicy.Tape(policy: policy, maxBatch: 1)
        let obs = Tensor([0.7])
        policy.sample(obs.data, batch: 1, tape: tape, generator: &gen)
        let head = policy.network.evaluate(Tensor(shape: [1, 1], values: [0.7]))
        let mu = Double(head.data[0]), sigma = exp(min(max(Double(head.data[1]), -20), 2))
        let a = Double(tape.actions.data[0])
        let u = atanh(a)
        let z = (u - mu) / sigma
        let gauss: Double = -0.5 * z * z - log(sigma) - 0.5 * log(2 * Double.pi)
        let expected: Double = gauss - log(1 - a * a)
        #expect(abs(Double(tape.logProbabilities.data[0]) - expected) < 1e-3 * max(1, abs(expected)))
    }
}
