import AllocationCounter
import Foundation
import ReflexCore
import TestSupport
import Testing

@testable import ReflexNN

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

/// torch's N × C × H × W as position-major (N·H·W) × C.
func positionMajor(_ t: Tensor) -> Tensor {
    let n = t.shape[0], c = t.shape[1], h = t.shape[2], w = t.shape[3]
    let out = Tensor(zeros: [n * h * w, c])
    for b in 0 ..< n {
        for ch in 0 ..< c {
            for p in 0 ..< h * w { out.data[(b * h * w + p) * c + ch] = t.data[(b * c + ch) * h * w + p] }
        }
    }
    return out
}

/// The image layers against torch, torchvision and LeRobot (Fixtures/make_image_layers.py). Tolerances are relative
/// to the output's largest value, a few times what float rounding reaches (stated beside each).
@Suite struct ImageLayersTests {
    let file: SafetensorsFile
    init() throws { file = try SafetensorsFile(path: fixtures + "/image_layers.safetensors") }

    func source(_ prefix: String) -> WeightSource {
        { name, shape in
            let t = try file.tensor(prefix + name)
            guard t.shape == shape else { throw ReflexError(.shapeMismatch, "\(name): \(t.shape) vs \(shape)") }
            return t
        }
    }

    @Test(arguments: [(0, 3, 5, 3, 2, 1, 1, true), (1, 4, 6, 3, 1, 2, 2, false), (2, 6, 4, 1, 2, 0, 1, true)])
    func conv2dMatchesTorch(_ c: (Int, Int, Int, Int, Int, Int, Int, Bool)) throws {
        let (i, cin, cout, k, s, p, d, bias) = c
        let conv = try Conv2d("conv\(i)", in: cin, out: cout, kernel: k, stride: s, padding: p, dilation: d,
                              bias: bias, weights: source(""))
        let x = try file.tensor("conv\(i).x"), want = positionMajor(try file.tensor("conv\(i).y"))
        let size = ImageSize(height: x.shape[2], width: x.shape[3])
        #expect(conv.outputSize(size) == ImageSize(height: try file.tensor("conv\(i).y").shape[2],
                                                   width: try file.tensor("conv\(i).y").shape[3]))
        let col = Tensor(zeros: [max(conv.columnCount(batch: 2, size: size), 1)]), y = Tensor(zeros: want.shape)
        let input = positionMajor(x)
        conv.evaluate(input.data, batch: 2, size: size, column: col.data, output: y.data)
        let err = relativeError(y.data, want)
        #expect(err < 1e-6, "conv\(i): \(err)")  // single layers reach ≤ 6.4e-7
    }

    @Test func batchNormFoldsIntoConv() throws {
        let bn = try BatchNorm2d("bn.norm", channels: 8, weights: source(""))
        let conv = try Conv2d("bn.conv", in: 3, out: 8, kernel: 3, padding: 1, bias: false, batchNorm: bn, weights: source(""))
        let x = try file.tensor("bn.x"), want = positionMajor(try file.tensor("bn.y"))
        let size = ImageSize(height: 6, width: 5)
        let col = Tensor(zeros: [conv.columnCount(batch: 2, size: size)]), y = Tensor(zeros: want.shape)
        let input = positionMajor(x)
        conv.evaluate(input.data, batch: 2, size: size, column: col.data, output: y.data)
        let err = relativeError(y.data, want)
        #expect(err < 1e-6, "\(err)")
    }

    /// Winograd F(2×2, 3×3) against the direct (im2col) convolution on the same weights: odd map sides (a tile past
    /// the edge), a batch of 2 and several bands of tiles, with and without bias, channels not a multiple of 16.
    @Test(arguments: [(64, 64, 23, 29, true), (24, 40, 7, 6, false), (256, 128, 9, 11, true)])
    func winogradMatchesDirectConv(_ c: (Int, Int, Int, Int, Bool)) throws {
        let (cin, cout, h, w, bias) = c
        var gen = RandomGenerator(seed: 7)
        var tensors: [String: Tensor] = [:]
        let source: WeightSource = { name, shape in
            if let t = tensors[name] { return t }
            let t = Tensor(zeros: shape)
            let bound = (6 / Float(shape.dropFirst().reduce(1, *))).squareRoot()
            gen.fillUniform(t, low: -bound, high: bound)
            tensors[name] = t
            return t
        }
        let fast = try Conv2d("c", in: cin, out: cout, kernel: 3, padding: 1, bias: bias, weights: source)
        let direct = try Conv2d("c", in: cin, out: cout, kernel: 3, padding: 1, bias: bias, winograd: false, weights: source)
        #expect(fast.usesWinograd && !direct.usesWinograd)
        let size = ImageSize(height: h, width: w)
        let x = Tensor(zeros: [2 * h * w, cin])
        gen.fillUniform(x, low: -1, high: 1)
        let want = Tensor(zeros: [2 * h * w, cout]), y = Tensor(zeros: [2 * h * w, cout])
        let col = Tensor(zeros: [max(direct.columnCount(batch: 2, size: size), fast.columnCount(batch: 2, size: size))])
        direct.evaluate(x.data, batch: 2, size: size, column: col.data, output: want.data)
        fast.evaluate(x.data, batch: 2, size: size, column: col.data, output: y.data)
        let err = relativeError(y.data, want)
        #expect(err < 3e-6, "\(cin)→\(cout) \(h)×\(w): \(err)")  // 3.9e-7, 5.4e-7, 1.2e-6 reached; against float64 Winograd is the closer of the two (C harness: 2–6e-7 vs 5e-7–1.8e-6)
        // Allocation-free after set-up.
        let before = rx_thread_allocation_count()
        for _ in 0 ..< 2 { fast.evaluate(x.data, batch: 2, size: size, column: col.data, output: y.data) }
        #expect(rx_thread_allocation_count() - before == 0)
    }

    @Test func groupNormOverFeatureMaps() throws {
        let gn = try GroupNorm("gn", groups: 2, channels: 8, weights: source(""))
        let x = positionMajor(try file.tensor("gn.x")), want = positionMajor(try file.tensor("gn.y"))
        gn.evaluate(x.data, batch: 2, length: 25, bias: nil, mish: false)
        let err = relativeError(x.data, want)
        #expect(err < 1e-6, "\(err)")
    }

    @Test func maxPoolMatchesTorch() throws {
        let pool = MaxPool2d(kernel: 3, stride: 2, padding: 1)
        let x = positionMajor(try file.tensor("pool.x")), want = positionMajor(try file.tensor("pool.y"))
        #expect(pool.outputSize(ImageSize(height: 9, width: 7)) == ImageSize(height: 5, width: 4))
        let y = Tensor(zeros: want.shape)
        pool.evaluate(x.data, channels: 4, batch: 2, size: ImageSize(height: 9, width: 7), output: y.data)
        #expect(relativeError(y.data, want) == 0)
    }

    @Test func spatialSoftmaxMatchesLeRobot() throws {
        let size = ImageSize(height: 5, width: 6)
        let ssm = try SpatialSoftmax("ssm", inChannels: 16, size: size, keypoints: 4, weights: source(""))
        // The grid LeRobot saves is the one Reflex would build.
        let grid = SpatialSoftmax.grid(size)
        #expect(relativeError(grid.data, ssm.grid) == 0)
        let x = positionMajor(try file.tensor("ssm.x")), want = try file.tensor("ssm.y")
        let scratch = Tensor(zeros: [ssm.scratchCount(batch: 2)]), y = Tensor(zeros: [2, 8])
        ssm.evaluate(x.data, batch: 2, scratch: scratch.data, output: y.data)
        let err = relativeError(y.data, want)
        #expect(err < 1e-6, "\(err)")
    }

    private static let resnets: [(String, ResNet.Normalization, ResNet.Depth)] = [
        ("resnet18_bn", .batchNorm, .resnet18), ("resnet18_gn", .groupNorm, .resnet18), ("resnet50_bn", .batchNorm, .resnet50)]

    /// A fixture's network, its input (position-major) and a workspace for it.
    private func resnet(_ c: (String, ResNet.Normalization, ResNet.Depth)) throws -> (ResNet, Tensor, ImageSize, Int, ResNetWorkspace) {
        let (name, norm, depth) = c
        let net = try ResNet(depth, normalization: norm, naming: .sequential, prefix: name + ".") { n, shape in
            DeterministicWeights.tensor(n, shape: shape)
        }
        let shape = name == "resnet18_gn" ? [2, 3, 36, 44] : [1, 3, 40, 40]
        let x = DeterministicWeights.tensor(name + ".image", shape: shape)
        let batch = x.shape[0], size = ImageSize(height: x.shape[2], width: x.shape[3])
        return (net, positionMajor(x), size, batch, ResNetWorkspace(network: net, maxBatch: batch, size: size))
    }

    @Test(arguments: resnets)
    func resnetMatchesTorchvision(_ c: (String, ResNet.Normalization, ResNet.Depth)) throws {
        let name = c.0
        let (net, input, size, batch, ws) = try resnet(c)
        let wantNCHW = try file.tensor(name + ".y")
        let want = positionMajor(wantNCHW)
        #expect(net.outputSize(size) == ImageSize(height: wantNCHW.shape[2], width: wantNCHW.shape[3]))
        let y = net.evaluate(input.data, batch: batch, size: size, workspace: ws)
        let err = relativeError(y, want)
        #expect(err < 2e-5, "\(name): \(err)")  // float rounding over 20–53 layers: 6.3e-7 (resnet18 BN), 7.2e-6 (resnet18 GN), 1.1e-5 (resnet50) reached
    }

    /// Evaluation after set-up allocates nothing (a test of its own: under a sanitizer, which owns malloc, the
    /// allocation tests are the ones left out).
    @Test(arguments: resnets)
    func resnetEvaluationAllocatesNothing(_ c: (String, ResNet.Normalization, ResNet.Depth)) throws {
        let (net, input, size, batch, ws) = try resnet(c)
        _ = net.evaluate(input.data, batch: batch, size: size, workspace: ws)
        #expect(rx_allocation_counter_active() == 1)
        let before = rx_thread_allocation_count()
        for _ in 0 ..< 3 { _ = net.evaluate(input.data, batch: batch, size: size, workspace: ws) }
        #expect(rx_thread_allocation_count() - before == 0)
    }
}
