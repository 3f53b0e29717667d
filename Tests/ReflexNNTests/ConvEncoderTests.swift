import AllocationCounter
import Foundation
import ReflexCore
import TestSupport
import Testing

@testable import ReflexNN

private let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Fixtures/conv_encoder_grads.safetensors").path

/// The trainable image encoder against torch (Fixtures/make_conv_encoder_grads.py: the same encoder with LeRobot's
/// SpatialSoftmax, forward and backward in float64). Errors are max |a − b| / max |b| per tensor.
@Suite struct ConvEncoderTests {
    let file: SafetensorsFile
    let encoder: ConvEncoder
    init() throws {
        file = try SafetensorsFile(path: fixture)
        encoder = try ConvEncoder.load(from: fixture)
    }

    /// Σ features · r in double, for a forward on `tape`.
    func loss(_ images: Tensor, _ r: Tensor, tape: ConvEncoderTape) -> Double {
        let y = encoder.forward(images.data, batch: 2, tape: tape)
        var l = 0.0
        for i in 0 ..< r.count { l += Double(y[i]) * Double(r.data[i]) }
        return l
    }

    @Test func forwardAndEveryGradientMatchTorch() throws {
        let images = positionMajor(try file.tensor("x")), r = try file.tensor("r")
        let tape = ConvEncoderTape(config: encoder.config, maxBatch: 2)
        let y = encoder.forward(images.data, batch: 2, tape: tape)
        let featureError = relativeError(y, try file.tensor("features"))
        #expect(featureError < 2e-6, "features: \(featureError)")  // reached 1.8e-7
        let gradient = Tensor(zeros: [encoder.parameterCount])
        encoder.backward(tape: tape, outputGradient: r.data, gradient: gradient)
        // The gradient has the parameters' layout, so an encoder over it permutes it to torch's names and shapes.
        let named = try ConvEncoder(config: encoder.config, parameters: gradient).namedParameters()
        for (name, g) in named where name != "pool.pos_grid" {
            let want = try file.tensor("grad." + name)
            #expect(g.shape == want.shape, "\(name): \(g.shape) vs \(want.shape)")
            if name == "pool.nets.bias" {
                // Exactly 0 (a softmax ignores a shift of its inputs): torch's and ours are rounding noise.
                let largest = g.scalars.map(abs).max() ?? 0
                #expect(largest < 1e-6, "grad.\(name): \(largest)")  // reached 2.2e-8
                continue
            }
            let err = relativeError(g.data, want)
            #expect(err < 5e-6, "grad.\(name): \(err)")  // reached ≤ 5.6e-7 (convs.0.bias)
        }
    }

    @Test func gradientsMatchFiniteDifferences() throws {
        let images = positionMajor(try file.tensor("x")), r = try file.tensor("r")
        let tape = ConvEncoderTape(config: encoder.config, maxBatch: 2)
        _ = loss(images, r, tape: tape)
        let gradient = Tensor(zeros: [encoder.parameterCount])
        encoder.backward(tape: tape, outputGradient: r.data, gradient: gradient)
        // The largest gradient of each tensor; h large enough that float rounding of L stays small, small enough
        // that few ReLUs flip.
        let h: Float = 1e-3
        for slot in encoder.layout.slots {
            var i = slot.offset
            for j in slot.offset ..< slot.offset + slot.count where abs(gradient.data[j]) > abs(gradient.data[i]) { i = j }
            let saved = encoder.parameters.data[i]
            encoder.parameters.data[i] = saved + h
            let up = loss(images, r, tape: tape)
            encoder.parameters.data[i] = saved - h
            let down = loss(images, r, tape: tape)
            encoder.parameters.data[i] = saved
            let fd = (up - down) / (2 * Double(h)), g = Double(gradient.data[i])
            // Reached: within 1.1e-3 relative (convs.0.bias), 2.2e-5 absolute for pool.nets.bias (0 exactly).
            #expect(abs(fd - g) <= 1e-4 + 1e-2 * abs(g), "\(slot.name)[\(i - slot.offset)]: backward \(g), finite difference \(fd)")
        }
    }

    @Test func savesPyTorchNamesAndLoadsThemBack() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("conv_encoder_\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try encoder.save(to: path)
        let saved = try SafetensorsFile(path: path)
        // Every tensor torch's state dict has, under its name and shape.
        for (name, t) in encoder.namedParameters() {
            let want = try file.tensor(name)
            #expect(t.shape == want.shape, "\(name)")
            #expect(try saved.tensor(name).scalars == want.scalars, "\(name)")
        }
        let back = try ConvEncoder.load(from: path)
        #expect(back.config == encoder.config)
        #expect(back.parameters.scalars == encoder.parameters.scalars)
    }

    @Test func framesLoadAsLeRobotScalesThem() throws {
        var config = encoder.config
        config.imageHeight = 1
        config.imageWidth = 2
        config.channels = [4]
        let net = try ConvEncoder(config: config, parameters: Tensor(zeros: [ConvEncoder.layout(for: config).count]))
        let frame: [UInt8] = [0, 51, 255, 102, 204, 153]  // two pixels, RGB
        var image = [Float](repeating: 0, count: 6)
        net.loadFrame(frame, into: &image)
        #expect(image == frame.map { Float($0) / 255 })
        let mean: [Float] = [0.5, 0.25, 0], std: [Float] = [0.5, 0.25, 2]
        net.loadFrame(frame, into: &image, mean: mean, std: std)
        for i in 0 ..< 6 {
            let want = (Float(frame[i]) / 255 - mean[i % 3]) / std[i % 3]
            #expect(abs(image[i] - want) <= 1e-6, "\(i): \(image[i]) vs \(want)")
        }
    }

    @Test func badConfigsAndFilesAreRefused() throws {
        var config = encoder.config
        config.channels = [8, 14]  // groups of 4: 3 groups, which 14 channels do not fill
        #expect(throws: ReflexError.self) { try config.validate() }
        config = encoder.config
        config.imageHeight = 2
        config.padding = 0
        #expect(throws: ReflexError.self) { try config.validate() }
        config = encoder.config
        config.keypoints = 9  // pool.nets.weight in the file has 8
        #expect(throws: ReflexError.self) { try ConvEncoder.load(config: config, from: file) }
    }

    @Test(arguments: [1, 2])
    func trainingStepAllocatesNothing(threads: Int) throws {
        #expect(rx_allocation_counter_active() == 1)
        try KernelThreads.with(threads) {
            var gen = RandomGenerator(seed: 7)
            let config = ConvEncoderConfig(imageHeight: 32, imageWidth: 40, channels: [16, 32, 32, 64], keypoints: 16,
                                           features: 32)
            let net = try ConvEncoder(config: config, generator: &gen)
            let tape = ConvEncoderTape(config: config, maxBatch: 8)
            let grad = Tensor(zeros: [net.parameterCount])
            var adam = Adam(parameterCount: net.parameterCount)
            let x = Tensor(zeros: [8 * net.imageCount]), dy = Tensor(zeros: [8, config.features])
            gen.fillGaussian(x)
            gen.fillGaussian(dy)
            func step(_ batch: Int) {
                net.forward(x.data, batch: batch, tape: tape)
                grad.fill(0)
                net.backward(tape: tape, outputGradient: dy.data, gradient: grad)
                adam.update(parameters: net.parameters, gradient: grad)
            }
            for b in [1, 3, 8] { step(b) }  // warm-up grows the per-thread GEMM packing buffers
            let before = rx_thread_allocation_count()
            for i in 0 ..< 30 { step([1, 3, 8][i % 3]) }
            let allocations = rx_thread_allocation_count() - before
            #expect(allocations == 0, "\(allocations) allocations in 30 training steps (threads \(threads))")
        }
    }
}

/// TrainableConv2d's backward for the geometries the encoder fixture does not reach (stride 1 with padding 2, a 1×1
/// kernel with stride 2, a 1×1 pointwise one without im2col), against central differences of L = Σ r ⊙ y in double.
@Suite struct TrainableConv2dTests {
    @Test(arguments: [(3, 1, 2), (1, 2, 0), (1, 1, 0), (3, 2, 0)])
    func backwardMatchesFiniteDifferences(_ geometry: (Int, Int, Int)) {
        let (k, s, p) = geometry
        var gen = RandomGenerator(seed: UInt64(10 * k + s + p))
        let cin = 3, cout = 4, batch = 2, size = ImageSize(height: 7, width: 6)
        let w = Tensor(zeros: [cout, k * k * cin]), b = Tensor(zeros: [cout])
        gen.fillGaussian(w)
        gen.fillGaussian(b)
        let conv = TrainableConv2d(weight: w, bias: b, inChannels: cin, kernel: k, stride: s, padding: p)
        let out = conv.outputSize(size)
        let x = Tensor(zeros: [batch * size.pixels * cin]), r = Tensor(zeros: [batch * out.pixels * cout])
        gen.fillGaussian(x)
        gen.fillGaussian(r)
        let pointwise = k == 1 && s == 1 && p == 0
        let col = Tensor(zeros: [max(conv.columnCount(batch: batch, size: size), 1)])
        let dcol = Tensor(zeros: [max(conv.columnCount(batch: batch, size: size), 1)])
        let y = Tensor(zeros: [r.count])
        func loss() -> Double {
            conv.forward(x.data, batch: batch, size: size, column: pointwise ? nil : col.data, output: y.data)
            return (0 ..< r.count).reduce(0.0) { $0 + Double(y.data[$1]) * Double(r.data[$1]) }
        }
        _ = loss()
        let dw = Tensor(zeros: [w.count]), db = Tensor(zeros: [cout]), dx = Tensor(zeros: [x.count])
        conv.backward(columns: pointwise ? x.data : col.data, outputGradient: r.data, batch: batch, size: size,
                      weightGradient: dw.data, biasGradient: db.data, columnGradient: dcol.data, inputGradient: dx.data)
        // L is linear in each value, so the differences are exact but for float rounding of L (gradients of a few units;
        // reached ≤ 3.4e-4 absolute, with stride 1 and padding 2).
        let h: Float = 1e-2
        for (t, g) in [(w, dw), (b, db), (x, dx)] {
            for i in 0 ..< t.count {
                let saved = t.data[i]
                t.data[i] = saved + h
                let up = loss()
                t.data[i] = saved - h
                let down = loss()
                t.data[i] = saved
                let fd = (up - down) / (2 * Double(h))
                #expect(abs(fd - Double(g.data[i])) <= 3e-3, "k \(k) s \(s) p \(p): \(g.data[i]) vs \(fd) at \(i)")
            }
        }
    }
}
