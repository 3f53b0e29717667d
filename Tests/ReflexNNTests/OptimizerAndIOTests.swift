import AllocationCounter
import Foundation
import ReflexCore
import TestSupport
import Testing

@testable import ReflexNN

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

@Suite struct AdamTests {
    struct Fixture: Decodable {
        var p0: [Float]
        var grads: [[Float]]
        var steps: [String: [[Float]]]
    }

    @Test(arguments: [("adam", Float(0), false), ("adam_l2", Float(0.1), false), ("adamw", Float(0.1), true)])
    func matchesTorchOptimTrajectories(_ name: String, _ decay: Float, _ decoupled: Bool) throws {
        let f = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: fixtures + "/adam.json")))
        let p = Tensor(f.p0)
        var adam = Adam(parameterCount: p.count, config: .init(learningRate: 1e-2, weightDecay: decay, decoupled: decoupled))
        for (k, g) in f.grads.enumerated() {
            adam.update(parameters: p, gradient: Tensor(g))
            let expected = try #require(f.steps[name])[k]
            for (a, b) in zip(p.scalars, expected) {
                #expect(abs(a - b) <= 2e-6 * max(1, abs(b)), "\(name) step \(k + 1): \(a) vs torch \(b)")
            }
        }
        #expect(adam.step == 5)
    }
}

@Suite struct ParameterIOTests {
    @Test func saveAndLoadWithStableNamesIncludingOptimizerState() throws {
        var gen = RandomGenerator(seed: 21)
        let config = MLPConfig(inputSize: 3, hiddenSizes: [8], outputSize: 2, activation: .tanh, layerNorm: true)
        let net = MLP(config: config, generator: &gen)
        var adam = Adam(parameterCount: net.parameterCount)
        let g = Tensor(zeros: [net.parameterCount])
        gen.fillGaussian(g)
        adam.update(parameters: net.parameters, gradient: g)
        #expect(net.namedParameters().map(\.name) == ["layers.0.weight", "layers.0.bias", "norms.0.weight", "norms.0.bias",
                                                       "layers.1.weight", "layers.1.bias"])
        let path = NSTemporaryDirectory() + "mlp-\(UUID().uuidString).safetensors"
        try writeSafetensors(net.namedParameters(prefix: "actor.") + adam.namedState(prefix: "actor.adam."), to: path,
                             metadata: adam.metadata(prefix: "actor.adam."))
        let file = try SafetensorsFile(path: path)
        var gen2 = RandomGenerator(seed: 99)
        let loaded = MLP(config: config, generator: &gen2)
        try loaded.layout.load(into: loaded.parameters, from: file, prefix: "actor.")
        #expect(loaded.parameters.scalars == net.parameters.scalars)
        var adam2 = Adam(parameterCount: net.parameterCount)
        try adam2.load(from: file, prefix: "actor.adam.")
        #expect(adam2.step == 1)
        #expect(adam2.m.scalars == adam.m.scalars && adam2.v.scalars == adam.v.scalars)
    }

    @Test func loadingTheWrongShapeOrAMissingTensorIsAClearError() throws {
        var gen = RandomGenerator(seed: 22)
        let small = MLP(config: MLPConfig(inputSize: 3, hiddenSizes: [8], outputSize: 2), generator: &gen)
        let path = NSTemporaryDirectory() + "mlp-\(UUID().uuidString).safetensors"
        try writeSafetensors(small.namedParameters(), to: path)
        let file = try SafetensorsFile(path: path)
        let wider = MLP(config: MLPConfig(inputSize: 3, hiddenSizes: [9], outputSize: 2), generator: &gen)
        do {
            try wider.layout.load(into: wider.parameters, from: file)
            Issue.record("loaded a 3→8→2 file into a 3→9→2 network")
        } catch let e as ReflexError {
            #expect(e.code == .shapeMismatch)
            #expect(e.location.element == "tensor 'layers.0.weight'")
        }
        do {
            try small.layout.load(into: small.parameters, from: file, prefix: "critic.")
            Issue.record("loaded with a prefix that is not in the file")
        } catch let e as ReflexError {
            #expect(e.code == .safetensorsMissingTensor)
        }
    }
}

@Suite struct TrainingTests {
    @Test func anMLPLearnsASmoothFunction() {
        // y = sin(x0) * cos(x1): the loss must fall by at least 20x in 600 Adam steps.
        var gen = RandomGenerator(seed: 31)
        let config = MLPConfig(inputSize: 2, hiddenSizes: [64, 64], outputSize: 1, activation: .mish)
        let net = MLP(config: config, generator: &gen)
        let tape = MLPTape(config: config, maxBatch: 128)
        let grad = Tensor(zeros: [net.parameterCount])
        var adam = Adam(parameterCount: net.parameterCount, config: .init(learningRate: 3e-3))
        let x = Tensor(zeros: [128, 2]), dy = Tensor(zeros: [128, 1])
        var target = [Float](repeating: 0, count: 128)
        var losses: [Double] = []
        for _ in 0 ..< 600 {
            gen.fillUniform(x, low: -2, high: 2)
            for i in 0 ..< 128 { target[i] = sin(x[i, 0]) * cos(x[i, 1]) }
            let y = net.forward(x.data, batch: 128, tape: tape)
            var loss = 0.0
            for i in 0 ..< 128 {
                let e = y[i] - target[i]
                loss += Double(e * e) / 128
                dy.data[i] = 2 * e / 128
            }
            losses.append(loss)
            grad.fill(0)
            net.backward(tape: tape, outputGradient: dy.data, gradient: grad, inputGradient: nil)
            adam.update(parameters: net.parameters, gradient: grad)
        }
        let first = Statistics.mean(Array(losses.prefix(20))), last = Statistics.mean(Array(losses.suffix(20)))
        #expect(last < first / 20, "loss \(first) → \(last)")
    }
}

@Suite(.serialized) struct AllocationTests {
    /// Regression: a worker started by a resize used to read the job generation itself and could miss the first
    /// job, leaving the caller waiting forever (CI hung on it). Resizing between parallel kernels must neither hang
    /// nor change results.
    @Test func threadPoolSurvivesResizesBetweenParallelKernels() {
        var gen = RandomGenerator(seed: 5)
        let config = MLPConfig(inputSize: 256, hiddenSizes: [256], outputSize: 256, activation: .relu)
        let net = MLP(config: config, generator: &gen)
        let ws = MLPWorkspace(config: config, maxBatch: 256)
        let x = Tensor(zeros: [256, 256]), y = Tensor(zeros: [256, 256])
        gen.fillGaussian(x)
        KernelThreads.with(1) {
            let reference = net.evaluate(x)
            for i in 0 ..< 400 {
                KernelThreads.resize(1 + i % 2)
                net.evaluate(x.data, batch: 256, output: y.data, workspace: ws)
                #expect(y.scalars == reference.scalars, "iteration \(i)")
            }
        }
    }

    @Test(arguments: [1, 2])
    func forwardBackwardAdamAndEvaluateAllocateNothing(threads: Int) {
        #expect(rx_allocation_counter_active() == 1)
        KernelThreads.with(threads) {
            var gen = RandomGenerator(seed: 41)
            // A 16-wide head and a 1-wide (critic) head: the latter goes through the GEMV path.
            for (layerNorm, outputs) in [(false, 16), (true, 16), (false, 1)] {
                let config = MLPConfig(inputSize: 64, hiddenSizes: [256, 256], outputSize: outputs, activation: .mish,
                                       layerNorm: layerNorm)
                let net = MLP(config: config, generator: &gen)
                let tape = MLPTape(config: config, maxBatch: 256)
                let ws = MLPWorkspace(config: config, maxBatch: 256)
                let grad = Tensor(zeros: [net.parameterCount])
                var adam = Adam(parameterCount: net.parameterCount)
                let x = Tensor(zeros: [256, 64]), dy = Tensor(zeros: [256, 16]), dx = Tensor(zeros: [256, 64])
                let y = Tensor(zeros: [256, 16])
                gen.fillGaussian(x)
                gen.fillGaussian(dy)
                func step(_ batch: Int) {
                    net.forward(x.data, batch: batch, tape: tape)
                    grad.fill(0)
                    net.backward(tape: tape, outputGradient: dy.data, gradient: grad, inputGradient: dx.data)
                    adam.update(parameters: net.parameters, gradient: grad)
                    net.evaluate(x.data, batch: batch, output: y.data, workspace: ws)
                }
                let batches = [1, 7, 256]
                for b in batches { step(b) } // warm-up grows the per-thread GEMM packing buffers
                let before = rx_thread_allocation_count()
                for i in 0 ..< 300 { step(batches[i % 3]) }
                let allocations = rx_thread_allocation_count() - before
                #expect(allocations == 0, "\(allocations) allocations in 300 training steps (threads \(threads), layerNorm \(layerNorm))")
            }
        }
    }
}
