import CBridge
import Foundation
import ReflexCore

/// The shape of a `ConvEncoder`.
public struct ConvEncoderConfig: Codable, Sendable, Equatable {
    public var imageHeight: Int
    public var imageWidth: Int
    public var inChannels: Int
    /// Output channels of each conv → GroupNorm → ReLU stage.
    public var channels: [Int]
    public var kernelSize: Int
    public var stride: Int
    public var padding: Int
    /// Channels per GroupNorm group (groups = C / groupSize, at least 1).
    public var groupSize: Int
    /// Spatial softmax keypoints (the 1×1 projection's outputs).
    public var keypoints: Int
    /// Width of the output features (the Linear after the keypoints).
    public var features: Int

    public init(imageHeight: Int, imageWidth: Int, inChannels: Int = 3, channels: [Int] = [16, 32, 32, 64],
                kernelSize: Int = 3, stride: Int = 2, padding: Int = 1, groupSize: Int = 8, keypoints: Int = 32,
                features: Int = 64) {
        self.imageHeight = imageHeight
        self.imageWidth = imageWidth
        self.inChannels = inChannels
        self.channels = channels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.groupSize = groupSize
        self.keypoints = keypoints
        self.features = features
    }

    public var imageSize: ImageSize { ImageSize(height: imageHeight, width: imageWidth) }

    /// Groups of stage i's GroupNorm.
    public func groups(_ i: Int) -> Int { max(1, channels[i] / groupSize) }

    /// The input size of each stage, then the final map's size (channels.count + 1 entries).
    public var mapSizes: [ImageSize] {
        var sizes = [imageSize]
        for _ in channels {
            let s = sizes[sizes.count - 1]
            sizes.append(ImageSize(height: (s.height + 2 * padding - kernelSize) / stride + 1,
                                   width: (s.width + 2 * padding - kernelSize) / stride + 1))
        }
        return sizes
    }

    /// Checks sizes; throws `invalidValue` naming the bad field.
    public func validate() throws {
        func bad(_ what: String) -> ReflexError { ReflexError(.invalidValue, "ConvEncoder: \(what)") }
        if imageHeight <= 0 || imageWidth <= 0 || inChannels <= 0 { throw bad("image \(inChannels)×\(imageHeight)×\(imageWidth) is empty") }
        if channels.isEmpty || channels.contains(where: { $0 <= 0 }) { throw bad("channels \(channels) must be positive and not empty") }
        if kernelSize < 1 || stride < 1 || padding < 0 { throw bad("kernel \(kernelSize), stride \(stride), padding \(padding) out of range") }
        if groupSize < 1 { throw bad("group_size must be positive, got \(groupSize)") }
        for (i, c) in channels.enumerated() where c % groups(i) != 0 {
            throw bad("stage \(i): \(c) channels do not split into groups of \(groupSize)")
        }
        if keypoints <= 0 || features <= 0 { throw bad("keypoints \(keypoints) and features \(features) must be positive") }
        for (i, s) in mapSizes.dropLast().enumerated()
        where s.height + 2 * padding < kernelSize || s.width + 2 * padding < kernelSize {
            throw bad("a \(imageHeight)×\(imageWidth) image is \(s) at stage \(i), smaller than the \(kernelSize)×\(kernelSize) kernel")
        }
    }
}

/// A small trainable image encoder: (Conv2d 3×3 stride 2 → GroupNorm → ReLU) per stage, then LeRobot's
/// `SpatialSoftmax` (a learnable 1×1 keypoint projection, softmax over pixels, expected (x, y)), then Linear → ReLU,
/// as LeRobot's `DiffusionRgbEncoder` ends. This is robomimic's and Diffusion Policy's design with a small trunk in
/// place of ResNet18: on a 96×96 image ResNet18's trunk is about 0.33 G multiply-adds forward (three times that with
/// the backward), too slow to train on two cores; the default trunk here (16-32-32-64 channels) is about 5.6 M.
///
/// Parameters live in one flat tensor (views per layer), like `MLP`'s, so `Adam` steps the whole encoder at once.
/// Images and feature maps are position-major (NHWC), (batch·H·W) × C, the layout of the inference layers: a pixel's
/// channels are contiguous, so im2col is memcpy runs, GroupNorm and the softmax read rows, and the same GEMMs serve.
/// Convolution weights are kept (C_out, kh, kw, C_in) for the GEMM and permuted to PyTorch's (C_out, C_in, kh, kw)
/// only when saved or loaded.
public struct ConvEncoder: Sendable {
    public let config: ConvEncoderConfig
    public let layout: ParameterLayout
    public let parameters: Tensor
    public let convs: [TrainableConv2d]
    public let norms: [GroupNorm]
    /// The spatial softmax's keypoint projection (`pool.nets`).
    public let keypointProjection: TrainableConv2d
    public let out: Linear
    /// H·W × 2 of the last map, LeRobot's `pos_grid`.
    public let grid: Tensor
    let sizes: [ImageSize]
    /// Slot indices of convs.i.weight, norms.i.weight, pool.nets.weight, out.weight (each followed by its bias).
    let convSlots: [Int]
    let normSlots: [Int]
    let poolSlot: Int
    let outSlot: Int

    /// Parameter names as the PyTorch module in Tests/ReflexNNTests/Fixtures/make_conv_encoder_grads.py has them;
    /// convolution shapes here are the internal (C_out, kh, kw, C_in).
    public static func layout(for config: ConvEncoderConfig) -> ParameterLayout {
        var layout = ParameterLayout()
        var cin = config.inChannels
        let k = config.kernelSize
        for (i, c) in config.channels.enumerated() {
            layout.add("convs.\(i).weight", [c, k, k, cin])
            layout.add("convs.\(i).bias", [c])
            layout.add("norms.\(i).weight", [c])
            layout.add("norms.\(i).bias", [c])
            cin = c
        }
        layout.add("pool.nets.weight", [config.keypoints, 1, 1, cin])
        layout.add("pool.nets.bias", [config.keypoints])
        layout.add("out.weight", [config.features, 2 * config.keypoints])
        layout.add("out.bias", [config.features])
        return layout
    }

    /// An encoder over existing parameters (`parameters.count` must match the layout).
    public init(config: ConvEncoderConfig, parameters: Tensor) throws {
        try config.validate()
        let layout = ConvEncoder.layout(for: config)
        guard parameters.count == layout.count else {
            throw ReflexError(.shapeMismatch, "ConvEncoder needs \(layout.count) parameters, got \(parameters.count)")
        }
        self.config = config
        self.layout = layout
        self.parameters = parameters
        let views = layout.views(of: parameters)
        let index = Dictionary(uniqueKeysWithValues: layout.slots.enumerated().map { ($1.name, $0) })
        func slot(_ name: String) -> Int { index[name] ?? 0 }
        var convs: [TrainableConv2d] = [], norms: [GroupNorm] = []
        var cin = config.inChannels
        for (i, c) in config.channels.enumerated() {
            let w = slot("convs.\(i).weight"), n = slot("norms.\(i).weight")
            convs.append(TrainableConv2d(weight: views[w].reshaped([c, config.kernelSize * config.kernelSize * cin]),
                                         bias: views[w + 1], inChannels: cin, kernel: config.kernelSize,
                                         stride: config.stride, padding: config.padding))
            norms.append(try GroupNorm("norms.\(i)", groups: config.groups(i), channels: c) { name, _ in
                name.hasSuffix(".weight") ? views[n] : views[n + 1]
            })
            cin = c
        }
        self.convs = convs
        self.norms = norms
        poolSlot = slot("pool.nets.weight")
        keypointProjection = TrainableConv2d(weight: views[poolSlot].reshaped([config.keypoints, cin]),
                                             bias: views[poolSlot + 1], inChannels: cin, kernel: 1)
        outSlot = slot("out.weight")
        out = Linear(weight: views[outSlot], bias: views[outSlot + 1])
        sizes = config.mapSizes
        grid = SpatialSoftmax.grid(sizes[sizes.count - 1])
        convSlots = config.channels.indices.map { slot("convs.\($0).weight") }
        normSlots = config.channels.indices.map { slot("norms.\($0).weight") }
    }

    /// A freshly initialized encoder, PyTorch's defaults: Conv2d and Linear weights and biases U(−1/√fan_in,
    /// 1/√fan_in), GroupNorm γ = 1, β = 0.
    public init(config: ConvEncoderConfig, generator: inout RandomGenerator) throws {
        try config.validate()
        try self.init(config: config, parameters: Tensor(zeros: [ConvEncoder.layout(for: config).count]))
        func fill(_ w: Tensor, _ b: Tensor?, fanIn: Int) {
            let bound = 1 / Float(fanIn).squareRoot()
            generator.fillUniform(w, low: -bound, high: bound)
            if let b { generator.fillUniform(b, low: -bound, high: bound) }
        }
        for conv in convs { fill(conv.weight, conv.bias, fanIn: conv.rowWidth) }
        for norm in norms { norm.gamma.fill(1) }
        fill(keypointProjection.weight, keypointProjection.bias, fanIn: keypointProjection.rowWidth)
        fill(out.weight, out.bias, fanIn: out.inputSize)
    }

    public var parameterCount: Int { layout.count }
    public var featureCount: Int { config.features }
    /// Floats per input image (H·W·C).
    public var imageCount: Int { config.imageSize.pixels * config.inChannels }

    /// One image for `forward` from a uint8 frame as `reflex collect` records it (H × W × C, already position-major):
    /// scaled to [0, 1] as LeRobot's datasets give images, then, when `mean` and `std` (C each) are given,
    /// (x − mean)/std per channel (LeRobot's MEAN_STD image normalization). Writes `imageCount` floats at `image`.
    /// `shift` (dy, dx) moves the picture by whole pixels, edge pixels repeated: pixel (y, x) is read from
    /// (y + dy, x + dx) clamped to the frame, which is DrQ's random-shift augmentation (pad by replication, then
    /// crop) for |dy|, |dx| ≤ pad.
    /// - Note: Real-time safe.
    public func loadFrame(_ frame: UnsafePointer<UInt8>, into image: UnsafeMutablePointer<Float>,
                          mean: UnsafePointer<Float>? = nil, std: UnsafePointer<Float>? = nil,
                          shift: (dy: Int, dx: Int) = (0, 0)) {
        let c = config.inChannels, h = config.imageHeight, w = config.imageWidth
        for y in 0 ..< h {
            let sy = min(max(y + shift.dy, 0), h - 1)
            for x in 0 ..< w {
                let sx = min(max(x + shift.dx, 0), w - 1), p = y * w + x, q = sy * w + sx
                for ch in 0 ..< c {
                    var v = Float(frame[q * c + ch]) / 255
                    if let mean, let std { v = (v - mean[ch]) / std[ch] }
                    image[p * c + ch] = v
                }
            }
        }
    }

    /// Training forward: features (batch × features, inside the tape) from images ((batch·H·W) × C_in,
    /// position-major, already normalized), keeping what `backward` needs.
    /// - Note: Real-time safe.
    @discardableResult
    public func forward(_ images: UnsafePointer<Float>, batch: Int, tape: ConvEncoderTape) -> UnsafeMutablePointer<Float> {
        precondition(batch <= tape.maxBatch, "batch \(batch) > tape capacity \(tape.maxBatch)")
        tape.batch = batch
        var x = images
        for i in convs.indices {
            let size = sizes[i], length = sizes[i + 1].pixels
            let z = tape.convOutputs[i].data, a = tape.normOutputs[i].data, h = tape.activations[i].data
            convs[i].forward(x, batch: batch, size: size, column: tape.columns[i].data, output: z)
            norms[i].forward(z, batch: batch, length: length, output: a, mean: tape.means[i].data, rstd: tape.rstds[i].data)
            Activation.relu.forward(a, h, count: batch * length * convs[i].outChannels)
            x = UnsafePointer(h)
        }
        let last = sizes[sizes.count - 1]
        keypointProjection.forward(x, batch: batch, size: last, column: nil, output: tape.maps.data)
        SpatialSoftmax.forward(maps: tape.maps.data, batch: batch, keypoints: config.keypoints, grid: grid.data,
                               pixels: last.pixels, softmax: tape.softmax.data, output: tape.keypoints.data)
        out.forward(tape.keypoints.data, batch: batch, output: tape.preActivation.data)
        Activation.relu.forward(tape.preActivation.data, tape.features.data, count: batch * config.features)
        return tape.features.data
    }

    /// Backward from dL/d(features) (batch × features) through the last `forward` on `tape`: accumulates (+=)
    /// parameter gradients into `gradient` (same layout as `parameters`). Row b of the features' gradient starts at
    /// `outputGradient + b · rowStride` (default: the feature count), so the input gradient of a network whose input
    /// rows hold the features as a condition (an MLP denoiser's) is read where it is. The images' gradient is not
    /// formed (nothing upstream of a camera learns).
    /// - Note: Real-time safe.
    public func backward(tape: ConvEncoderTape, outputGradient: UnsafePointer<Float>, rowStride: Int? = nil,
                         gradient: Tensor) {
        precondition(gradient.count == layout.count, "gradient has the wrong layout")
        let batch = tape.batch, g = gradient.data, slots = layout.slots, f = config.features
        let dPre = tape.preActivationGradient.data
        for b in 0 ..< batch { (dPre + b * f).update(from: outputGradient + b * (rowStride ?? f), count: f) }
        Activation.relu.backward(input: tape.preActivation.data, outputGradient: dPre, inputGradient: dPre,
                                 count: batch * f)
        let o = slots[outSlot].offset
        out.backward(input: tape.keypoints.data, outputGradient: dPre, batch: batch, weightGradient: g + o,
                     biasGradient: g + o + out.weight.count, inputGradient: tape.keypointGradient.data)
        let last = sizes[sizes.count - 1], n = convs.count - 1
        SpatialSoftmax.backward(softmax: tape.softmax.data, output: tape.keypoints.data,
                                outputGradient: tape.keypointGradient.data, batch: batch, keypoints: config.keypoints,
                                grid: grid.data, pixels: last.pixels, mapGradient: tape.mapGradient.data)
        // dh: dL/d(a stage's output), then (written by that stage's convolution) dL/d(the stage before's output).
        let dh = tape.gradientA.data, dz = tape.gradientB.data
        let p = slots[poolSlot].offset
        keypointProjection.backward(columns: tape.activations[n].data, outputGradient: tape.mapGradient.data,
                                    batch: batch, size: last, weightGradient: g + p,
                                    biasGradient: g + p + keypointProjection.weight.count, columnGradient: nil,
                                    inputGradient: dh)
        for i in stride(from: n, through: 0, by: -1) {
            let length = sizes[i + 1].pixels, count = batch * length * convs[i].outChannels
            Activation.relu.backward(input: tape.normOutputs[i].data, outputGradient: dh, inputGradient: dh, count: count)
            let no = slots[normSlots[i]].offset
            norms[i].backward(input: tape.convOutputs[i].data, mean: tape.means[i].data, rstd: tape.rstds[i].data,
                              outputGradient: dh, batch: batch, length: length, inputGradient: dz,
                              gammaGradient: g + no, betaGradient: g + no + convs[i].outChannels)
            let co = slots[convSlots[i]].offset
            convs[i].backward(columns: tape.columns[i].data, outputGradient: dz, batch: batch, size: sizes[i],
                              weightGradient: g + co, biasGradient: g + co + convs[i].weight.count,
                              columnGradient: tape.columnGradient.data, inputGradient: i == 0 ? nil : dh)
        }
    }

    /// (name, tensor) pairs in PyTorch's layout and names (convolution weights (C_out, C_in, kh, kw)), plus
    /// `pool.pos_grid` as LeRobot's SpatialSoftmax registers it, so `load_state_dict` in torch reads the file.
    public func namedParameters(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        var named: [(name: String, tensor: Tensor)] = []
        for (slot, view) in zip(layout.slots, layout.views(of: parameters)) {
            if slot.shape.count == 4 {
                let s = slot.shape
                let t = Tensor(zeros: [s[0], s[3], s[1], s[2]])
                ConvEncoder.permute(view.data, toTorch: true, shape: s, t.data)
                named.append((prefix + slot.name, t))
            } else {
                named.append((prefix + slot.name, view))
            }
        }
        named.append((prefix + "pool.pos_grid", grid))
        return named
    }

    /// Saves the parameters (PyTorch names and layout) and the config (JSON, metadata `config`).
    public func save(to path: String) throws {
        let json = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        try writeSafetensors(namedParameters(), to: path, metadata: ["config": json])
    }

    /// Reads an encoder saved by `save` (or written from the PyTorch module): the config from metadata, then every
    /// parameter, each checked for presence and shape.
    public static func load(from path: String) throws -> ConvEncoder {
        let file = try SafetensorsFile(path: path)
        guard let json = file.metadata["config"] else {
            throw ReflexError(.invalidValue, "no ConvEncoder config in the metadata", at: .init(file: path))
        }
        let config: ConvEncoderConfig
        do { config = try JSONDecoder().decode(ConvEncoderConfig.self, from: Data(json.utf8)) } catch {
            throw ReflexError(.invalidValue, "bad ConvEncoder config in the metadata: \(error)", at: .init(file: path))
        }
        return try load(config: config, from: file)
    }

    /// Reads parameters named as `namedParameters` writes them (prefix prepended) from `file`.
    public static func load(config: ConvEncoderConfig, from file: SafetensorsFile, prefix: String = "") throws -> ConvEncoder {
        try config.validate()
        let layout = ConvEncoder.layout(for: config)
        let flat = Tensor(zeros: [layout.count])
        for (slot, view) in zip(layout.slots, layout.views(of: flat)) {
            let name = prefix + slot.name, s = slot.shape
            let want = s.count == 4 ? [s[0], s[3], s[1], s[2]] : s
            guard let entry = file.entry(name) else {
                throw ReflexError(.safetensorsMissingTensor, "missing tensor '\(name)' (expected shape \(want))",
                                  at: .init(file: file.path, element: "tensor '\(name)'"))
            }
            guard entry.shape == want else {
                throw ReflexError(.shapeMismatch, "shape \(entry.shape) in the file, the encoder needs \(want)",
                                  at: .init(file: file.path, element: "tensor '\(name)'"))
            }
            let t = try file.tensor(name)
            if s.count == 4 { permute(t.data, toTorch: false, shape: s, view.data) } else { view.assign(from: t) }
        }
        return try ConvEncoder(config: config, parameters: flat)
    }

    /// Between the internal (C_out, kh, kw, C_in) = `shape` and PyTorch's (C_out, C_in, kh, kw).
    static func permute(_ src: UnsafePointer<Float>, toTorch: Bool, shape s: [Int], _ dst: UnsafeMutablePointer<Float>) {
        let cout = s[0], taps = s[1] * s[2], cin = s[3]
        for o in 0 ..< cout {
            for t in 0 ..< taps {
                for i in 0 ..< cin {
                    let ours = (o * taps + t) * cin + i, torch = (o * cin + i) * taps + t
                    if toTorch { dst[torch] = src[ours] } else { dst[ours] = src[torch] }
                }
            }
        }
    }
}

/// What `ConvEncoder.forward` keeps for `backward` (each stage's im2col matrix, convolution output, GroupNorm
/// statistics and output, ReLU output; the keypoint maps, softmax and keypoints), plus gradient scratch. Made once
/// for `maxBatch`, so training steps allocate nothing.
public final class ConvEncoderTape: @unchecked Sendable {
    public let maxBatch: Int
    public internal(set) var batch = 0
    let columns: [Tensor]
    let convOutputs: [Tensor]
    let normOutputs: [Tensor]
    let activations: [Tensor]
    let means: [Tensor]
    let rstds: [Tensor]
    let maps: Tensor
    let softmax: Tensor
    let keypoints: Tensor
    let preActivation: Tensor
    let features: Tensor
    let preActivationGradient: Tensor
    let keypointGradient: Tensor
    let mapGradient: Tensor
    let gradientA: Tensor
    let gradientB: Tensor
    let columnGradient: Tensor

    public init(config: ConvEncoderConfig, maxBatch: Int) {
        self.maxBatch = maxBatch
        let sizes = config.mapSizes, k = config.kernelSize
        let ins = [config.inChannels] + config.channels.dropLast()
        columns = config.channels.indices.map { Tensor(zeros: [maxBatch * sizes[$0 + 1].pixels * k * k * ins[$0]]) }
        let mapCounts = config.channels.indices.map { maxBatch * sizes[$0 + 1].pixels * config.channels[$0] }
        convOutputs = mapCounts.map { Tensor(zeros: [$0]) }
        normOutputs = mapCounts.map { Tensor(zeros: [$0]) }
        activations = mapCounts.map { Tensor(zeros: [$0]) }
        means = config.channels.indices.map { Tensor(zeros: [maxBatch * config.groups($0)]) }
        rstds = config.channels.indices.map { Tensor(zeros: [maxBatch * config.groups($0)]) }
        let last = sizes[sizes.count - 1].pixels
        maps = Tensor(zeros: [maxBatch * last * config.keypoints])
        softmax = Tensor(zeros: [maxBatch * last * config.keypoints])
        mapGradient = Tensor(zeros: [maxBatch * last * config.keypoints])
        keypoints = Tensor(zeros: [maxBatch, 2 * config.keypoints])
        keypointGradient = Tensor(zeros: [maxBatch, 2 * config.keypoints])
        preActivation = Tensor(zeros: [maxBatch, config.features])
        preActivationGradient = Tensor(zeros: [maxBatch, config.features])
        features = Tensor(zeros: [maxBatch, config.features])
        let widest = mapCounts.max() ?? 0
        gradientA = Tensor(zeros: [widest])
        gradientB = Tensor(zeros: [widest])
        columnGradient = Tensor(zeros: [columns.dropFirst().map(\.count).max() ?? 0])
    }

    /// The features of the last forward pass (batch × features).
    public var output: UnsafeMutablePointer<Float> { features.data }
}
