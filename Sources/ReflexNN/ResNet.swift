import CBridge
import ReflexCore

/// The convolutional trunk of torchvision's ResNet (He et al. 2016) — BasicBlocks (resnet18/34) or Bottlenecks
/// (resnet50/101, torchvision's v1.5 with the stride on the 3×3) — everything before `avgpool`
/// and `fc`, which is what LeRobot's image encoders keep — for inference on position-major feature maps.
///
/// BatchNorm (eval mode) is folded into the convolution before it at load; with `use_group_norm` (LeRobot's choice
/// when the backbone is not pretrained) each BatchNorm2d is a GroupNorm of C/16 groups instead.
public struct ResNet: Sendable {
    /// torchvision's constructors this trunk implements.
    public enum Depth: String, Sendable, CaseIterable {
        case resnet18, resnet34, resnet50, resnet101
        /// Blocks per stage (layer1 … layer4).
        public var blocks: [Int] {
            switch self {
            case .resnet18: [2, 2, 2, 2]
            case .resnet34, .resnet50: [3, 4, 6, 3]
            case .resnet101: [3, 4, 23, 3]
            }
        }
        /// Bottleneck blocks (1×1, 3×3, 1×1 with 4× expansion) rather than BasicBlocks (two 3×3).
        public var bottleneck: Bool { self == .resnet50 || self == .resnet101 }
    }

    /// What follows each convolution.
    public enum Normalization: Sendable, Equatable {
        /// BatchNorm2d with running statistics, folded into the convolution.
        case batchNorm
        /// GroupNorm with channels/16 groups (LeRobot's `_replace_submodules`), ε = 1e-5.
        case groupNorm
    }

    /// How the checkpoint names the trunk's modules.
    public enum Naming: Sendable {
        /// torchvision's own: conv1, bn1, layer1 … layer4.
        case torchvision
        /// LeRobot's `nn.Sequential(*list(resnet.children())[:-2])`: 0 (conv1), 1 (bn1), 4 … 7 (layer1 … layer4).
        case sequential

        func stem(_ name: String) -> String { self == .torchvision ? name : (name == "conv1" ? "0" : "1") }
        func stage(_ i: Int) -> String { self == .torchvision ? "layer\(i + 1)" : "\(i + 4)" }
    }

    /// A convolution and what normalizes its output (nil when BatchNorm was folded into it).
    public struct ConvNorm: Sendable {
        public let conv: Conv2d
        public let groupNorm: GroupNorm?

        init(_ conv: String, _ norm: String, in cin: Int, out cout: Int, kernel: Int, stride: Int, padding: Int,
             normalization: Normalization, storage: WeightStorage, weights: WeightSource) throws {
            switch normalization {
            case .batchNorm:
                let bn = try BatchNorm2d(norm, channels: cout, weights: weights)
                self.conv = try Conv2d(conv, in: cin, out: cout, kernel: kernel, stride: stride, padding: padding,
                                       bias: false, batchNorm: bn, storage: storage, weights: weights)
                groupNorm = nil
            case .groupNorm:
                self.conv = try Conv2d(conv, in: cin, out: cout, kernel: kernel, stride: stride, padding: padding,
                                       bias: false, storage: storage, weights: weights)
                groupNorm = try GroupNorm(norm, groups: cout / 16, channels: cout, weights: weights)
            }
        }

        public var parameterCount: Int { conv.parameterCount + 2 * (groupNorm?.channels ?? 0) }

        /// y = norm(conv(x)), then ReLU when `relu`.
        /// - Note: Real-time safe.
        func evaluate(_ x: UnsafePointer<Float>, batch: Int, size: ImageSize, column: UnsafeMutablePointer<Float>,
                      output y: UnsafeMutablePointer<Float>, relu: Bool) {
            conv.evaluate(x, batch: batch, size: size, column: column, output: y)
            let out = conv.outputSize(size)
            groupNorm?.evaluate(y, batch: batch, length: out.pixels, bias: nil, mish: false)
            if relu { Activation.relu.forward(y, y, count: batch * out.pixels * conv.outChannels) }
        }
    }

    /// torchvision's `BasicBlock` (two layers) or `Bottleneck` (three): relu(layers(x) + downsample(x)), each layer
    /// but the last followed by ReLU.
    public struct Block: Sendable {
        public let layers: [ConvNorm]
        /// 1×1 convolution with stride and its norm (`downsample.0`, `downsample.1`) when shape changes.
        public let downsample: ConvNorm?

        /// Sizes after each layer, starting from `size`.
        func sizes(_ size: ImageSize) -> [ImageSize] {
            var out = [size]
            for l in layers { out.append(l.conv.outputSize(out[out.count - 1])) }
            return out
        }
    }

    public let depth: Depth
    public let normalization: Normalization
    public let stem: ConvNorm
    public let maxPool = MaxPool2d(kernel: 3, stride: 2, padding: 1)
    public let blocks: [Block]
    public let inChannels: Int

    /// Channels of the final feature map.
    public var outChannels: Int { blocks.last?.layers.last?.conv.outChannels ?? 64 }

    /// Reads every tensor under `prefix` (e.g. "rgb_encoder.backbone." with `.sequential`, "" with `.torchvision`).
    public init(_ depth: Depth, inChannels: Int = 3, normalization: Normalization, naming: Naming, prefix: String = "",
                storage: WeightStorage = .f32, weights: WeightSource) throws {
        self.depth = depth
        self.normalization = normalization
        self.inChannels = inChannels
        let p = prefix
        stem = try ConvNorm(p + naming.stem("conv1"), p + naming.stem("bn1"), in: inChannels, out: 64, kernel: 7,
                            stride: 2, padding: 3, normalization: normalization, storage: storage, weights: weights)
        var blocks: [Block] = []
        var channels = 64
        for (stage, count) in depth.blocks.enumerated() {
            let width = 64 << stage
            let out = depth.bottleneck ? 4 * width : width
            for j in 0 ..< count {
                let stride = (stage > 0 && j == 0) ? 2 : 1
                let b = p + naming.stage(stage) + ".\(j)."
                func layer(_ i: Int, _ cin: Int, _ cout: Int, _ kernel: Int, _ s: Int) throws -> ConvNorm {
                    try ConvNorm(b + "conv\(i)", b + "bn\(i)", in: cin, out: cout, kernel: kernel, stride: s,
                                 padding: kernel / 2, normalization: normalization, storage: storage, weights: weights)
                }
                let layers = depth.bottleneck
                    ? [try layer(1, channels, width, 1, 1), try layer(2, width, width, 3, stride), try layer(3, width, out, 1, 1)]
                    : [try layer(1, channels, width, 3, stride), try layer(2, width, width, 3, 1)]
                var down: ConvNorm?
                if stride != 1 || channels != out {
                    down = try ConvNorm(b + "downsample.0", b + "downsample.1", in: channels, out: out, kernel: 1,
                                        stride: stride, padding: 0, normalization: normalization, storage: storage,
                                        weights: weights)
                }
                blocks.append(Block(layers: layers, downsample: down))
                channels = out
            }
        }
        self.blocks = blocks
    }

    /// The feature map's size for an input image of `size`.
    public func outputSize(_ size: ImageSize) -> ImageSize {
        var s = maxPool.outputSize(stem.conv.outputSize(size))
        for b in blocks { s = b.sizes(s).last ?? s }
        return s
    }

    /// Multiply-adds per image of `size` (the convolutions; norms and pooling are a few percent more).
    public func multiplyAdds(_ size: ImageSize) -> Int {
        var total = stem.conv.multiplyAdds(size)
        var s = maxPool.outputSize(stem.conv.outputSize(size))
        for b in blocks {
            total += b.downsample?.conv.multiplyAdds(s) ?? 0
            let sizes = b.sizes(s)
            for (l, size) in zip(b.layers, sizes) { total += l.conv.multiplyAdds(size) }
            s = sizes.last ?? s
        }
        return total
    }

    /// The largest activation (floats per image) and im2col scratch (floats per image) any layer needs.
    func bufferSizes(_ size: ImageSize) -> (activation: Int, column: Int) {
        let s0 = stem.conv.outputSize(size)
        var act = s0.pixels * 64, col = stem.conv.columnCount(batch: 1, size: size)
        var s = maxPool.outputSize(s0)
        for b in blocks {
            col = max(col, b.downsample?.conv.columnCount(batch: 1, size: s) ?? 0)
            let sizes = b.sizes(s)
            for (i, l) in b.layers.enumerated() {
                col = max(col, l.conv.columnCount(batch: 1, size: sizes[i]))
                act = max(act, sizes[i + 1].pixels * l.conv.outChannels)
            }
            s = sizes.last ?? s
        }
        return (act, col)
    }

    /// Runs the trunk on `batch` position-major images x ((batch·H·W) × C_in); the feature map
    /// ((batch·h·w) × 512, h × w = `outputSize(size)`) is returned, a view into the workspace.
    /// - Note: Real-time safe.
    @discardableResult
    public func evaluate(_ x: UnsafePointer<Float>, batch: Int, size: ImageSize,
                         workspace ws: ResNetWorkspace) -> UnsafeMutablePointer<Float> {
        precondition(batch <= ws.maxBatch && size == ws.size, "ResNet workspace is for \(ws.maxBatch) images of \(ws.size)")
        let col = ws.column.data
        var a = ws.buffers[0].data, t = ws.buffers[1].data, u = ws.buffers[2].data, d = ws.buffers[3].data
        stem.evaluate(x, batch: batch, size: size, column: col, output: t, relu: true)
        let s0 = stem.conv.outputSize(size)
        maxPool.evaluate(t, channels: 64, batch: batch, size: s0, output: a)
        var s = maxPool.outputSize(s0)
        for b in blocks {
            // Layers ping-pong between t and u; the block's input a stays for the identity path.
            var cur = a, size = s
            for (i, l) in b.layers.enumerated() {
                let dst = i % 2 == 0 ? t : u
                l.evaluate(cur, batch: batch, size: size, column: col, output: dst, relu: i < b.layers.count - 1)
                size = l.conv.outputSize(size)
                cur = dst
            }
            let n = batch * size.pixels * (b.layers.last?.conv.outChannels ?? 0)
            var identity = UnsafePointer(a)
            if let down = b.downsample {
                down.evaluate(a, batch: batch, size: s, column: col, output: d, relu: false)
                identity = UnsafePointer(d)
            }
            for i in 0 ..< n { cur[i] = max(cur[i] + identity[i], 0) }
            if cur == t { swap(&a, &t) } else { swap(&a, &u) }
            s = size
        }
        return a
    }
}

/// The buffers one `ResNet.evaluate` call needs for up to `maxBatch` images of `size`, made once.
public final class ResNetWorkspace: @unchecked Sendable {
    public let maxBatch: Int
    public let size: ImageSize
    let buffers: [Tensor]
    let column: Tensor

    public init(network: ResNet, maxBatch: Int, size: ImageSize) {
        self.maxBatch = maxBatch
        self.size = size
        let (act, col) = network.bufferSizes(size)
        buffers = (0 ..< 4).map { _ in Tensor(zeros: [max(act * maxBatch, 1)]) }
        column = Tensor(zeros: [max(col * maxBatch, 1)])
    }
}
