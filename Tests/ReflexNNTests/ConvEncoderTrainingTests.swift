import ReflexCore
import Testing

@testable import ReflexNN

/// The encoder's features as part of an MLP's input (a denoiser's condition): one training step sends the MLP's
/// input gradient into the encoder, so both learn.
@Suite struct ConvEncoderTrainingTests {
    /// Images of a bright 4×4 square at a random place on dim noise; the target is the square's centre in [−1, 1]²
    /// and one of the state values, so only a net that sees the square gets the first two right.
    /// Mean squared error over the first and the last 20 of 400 steps; the encoder is stepped only when `trainEncoder`.
    func train(trainEncoder: Bool) throws -> (first: Double, last: Double) {
        var gen = RandomGenerator(seed: 3)
        let side = 16, batch = 16, examples = 256, stateSize = 2, targetSize = 3
        let config = ConvEncoderConfig(imageHeight: side, imageWidth: side, channels: [8, 16], keypoints: 8, features: 16)
        let encoder = try ConvEncoder(config: config, generator: &gen)
        let width = config.features + stateSize
        let head = MLP(config: MLPConfig(inputSize: width, hiddenSizes: [64, 64], outputSize: targetSize), generator: &gen)
        let pixels = side * side * 3
        let images = Tensor(zeros: [examples * pixels]), states = Tensor(zeros: [examples, stateSize])
        let targets = Tensor(zeros: [examples, targetSize])
        for e in 0 ..< examples {
            let im = images.data + e * pixels
            for i in 0 ..< pixels { im[i] = 0.1 * Float(gen.gaussian()) }
            let x0 = Int(gen.uniform() * Double(side - 4)), y0 = Int(gen.uniform() * Double(side - 4))
            for y in y0 ..< y0 + 4 { for x in x0 ..< x0 + 4 { for c in 0 ..< 3 { im[(y * side + x) * 3 + c] = 1 } } }
            let s0 = Float(gen.uniform(-1, 1)), s1 = Float(gen.uniform(-1, 1))
            states.data[e * stateSize] = s0
            states.data[e * stateSize + 1] = s1
            targets.data[e * targetSize] = Float(2 * x0 + 3) / Float(side - 1) - 1
            targets.data[e * targetSize + 1] = Float(2 * y0 + 3) / Float(side - 1) - 1
            targets.data[e * targetSize + 2] = s0 * s1
        }
        let encoderTape = ConvEncoderTape(config: config, maxBatch: batch)
        let headTape = MLPTape(config: head.config, maxBatch: batch)
        let encoderGradient = Tensor(zeros: [encoder.parameterCount]), headGradient = Tensor(zeros: [head.parameterCount])
        var encoderAdam = Adam(parameterCount: encoder.parameterCount, config: .init(learningRate: 3e-3))
        var headAdam = Adam(parameterCount: head.parameterCount, config: .init(learningRate: 3e-3))
        let x = Tensor(zeros: [batch * pixels]), input = Tensor(zeros: [batch, width])
        let t = Tensor(zeros: [batch, targetSize]), dy = Tensor(zeros: [batch, targetSize])
        let dInput = Tensor(zeros: [batch, width])
        var losses: [Double] = []
        for _ in 0 ..< 400 {
            for b in 0 ..< batch {
                let e = Int(gen.next() % UInt64(examples))
                (x.data + b * pixels).update(from: images.data + e * pixels, count: pixels)
                (input.data + b * width + config.features).update(from: states.data + e * stateSize, count: stateSize)
                (t.data + b * targetSize).update(from: targets.data + e * targetSize, count: targetSize)
            }
            let features = encoder.forward(x.data, batch: batch, tape: encoderTape)
            for b in 0 ..< batch { (input.data + b * width).update(from: features + b * config.features, count: config.features) }
            let y = head.forward(input.data, batch: batch, tape: headTape)
            var loss = 0.0
            for i in 0 ..< batch * targetSize {
                let d = y[i] - t.data[i]
                loss += Double(d * d)
                dy.data[i] = 2 * d / Float(batch * targetSize)
            }
            losses.append(loss / Double(batch * targetSize))
            encoderGradient.fill(0)
            headGradient.fill(0)
            head.backward(tape: headTape, outputGradient: dy.data, gradient: headGradient, inputGradient: dInput.data)
            encoder.backward(tape: encoderTape, outputGradient: dInput.data, rowStride: width, gradient: encoderGradient)
            headAdam.update(parameters: head.parameters, gradient: headGradient)
            if trainEncoder { encoderAdam.update(parameters: encoder.parameters, gradient: encoderGradient) }
        }
        return (losses.prefix(20).reduce(0, +) / 20, losses.suffix(20).reduce(0, +) / 20)
    }

    @Test func encoderAndMLPLearnTogether() throws {
        let trained = try train(trainEncoder: true), frozen = try train(trainEncoder: false)
        // Without the image the best guess of the square's centre leaves about 0.14 (two of three targets with variance
        // about 0.21 each). Trained together the two nets reach 4.2e-4; the MLP alone on the initial encoder's
        // features only 0.015, so the encoder's gradient (through the MLP's condition) is what does it.
        #expect(trained.last < 0.01, "loss \(trained.first) → \(trained.last)")
        #expect(trained.last < frozen.last / 4, "trained encoder \(trained.last), frozen \(frozen.last)")
    }
}
