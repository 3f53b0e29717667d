#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CBridge
import ReflexCore

/// LeRobot's `DiffusionConditionalUnet1d` (Chi et al. 2023, Diffusion Policy, the CNN variant), inference only,
/// layer for layer and with PyTorch's tensor names:
///
/// - `diffusion_step_encoder`: sinusoidal embedding of t → Linear(E, 4E) → Mish → Linear(4E, E);
/// - FiLM condition = [emb(t), flattened observation history], fed through Mish and a Linear in every block;
/// - encoder `down_modules.i`: two residual blocks, then a stride-2 Conv1d(k=3) except on the last level;
/// - `mid_modules`: two residual blocks at the deepest width;
/// - decoder `up_modules.i`: concatenation with the matching encoder output, two residual blocks and a
///   ConvTranspose1d(k=4, stride 2) — on every decoder level, as LeRobot's `is_last` test never fires there;
/// - `final_conv`: Conv1d → GroupNorm → Mish block, then a 1×1 Conv1d to the action size.
///
/// Activations are position-major ((batch·length) × C, LeRobot's (B, T, C) before its transpose), so each layer is one GEMM for all K candidate chunks and
/// every weight is read from memory once per denoising step whatever K is.
public final class ConditionalUnet1D: @unchecked Sendable {
    public let config: ConditionalUnet1DConfig
    let stepLinear1: Linear
    let stepLinear2: Linear
    let down: [(first: ConditionalResidualBlock1D, second: ConditionalResidualBlock1D, downsample: Conv1d?)]
    let mid: [ConditionalResidualBlock1D]
    let up: [(first: ConditionalResidualBlock1D, second: ConditionalResidualBlock1D, upsample: ConvTranspose1d?)]
    let finalConv: Conv1d
    let finalNorm: GroupNorm
    let outputConv: Conv1d
    /// Every residual block in evaluation order (their FiLM rows are computed up front in this order).
    let blocks: [ConditionalResidualBlock1D]

    /// Builds the network from `weights` (names as in LeRobot's `diffusion.unet.` state dict, without the prefix).
    /// Throws when a tensor is missing or has the wrong shape (the source decides how to report it).
    /// `storage` picks how the convolution weights are kept (F32, or bfloat16 to halve the bytes a step reads).
    public init(config: ConditionalUnet1DConfig, storage: WeightStorage = .f32, weights: WeightSource) throws {
        try config.validate()
        self.config = config
        let e = config.diffusionStepEmbedDim
        stepLinear1 = Linear(weight: try weights("diffusion_step_encoder.1.weight", [4 * e, e]),
                             bias: try weights("diffusion_step_encoder.1.bias", [4 * e]))
        stepLinear2 = Linear(weight: try weights("diffusion_step_encoder.3.weight", [e, 4 * e]),
                             bias: try weights("diffusion_step_encoder.3.bias", [e]))
        let levels = config.levels
        var down: [(ConditionalResidualBlock1D, ConditionalResidualBlock1D, Conv1d?)] = []
        for (i, (cin, cout)) in levels.enumerated() {
            let p = "down_modules.\(i)"
            let isLast = i == levels.count - 1
            down.append((
                try ConditionalResidualBlock1D(p + ".0", in: cin, out: cout, config: config, storage: storage, weights: weights),
                try ConditionalResidualBlock1D(p + ".1", in: cout, out: cout, config: config, storage: storage, weights: weights),
                isLast ? nil : try Conv1d(p + ".2", in: cout, out: cout, kernel: 3, stride: 2, padding: 1, storage: storage, weights: weights)
            ))
        }
        self.down = down
        let deepest = config.downDims[config.downDims.count - 1]
        mid = try (0 ..< 2).map {
            try ConditionalResidualBlock1D("mid_modules.\($0)", in: deepest, out: deepest, config: config, storage: storage, weights: weights)
        }
        var up: [(ConditionalResidualBlock1D, ConditionalResidualBlock1D, ConvTranspose1d?)] = []
        for (i, (cout, cin)) in levels.dropFirst().reversed().enumerated() {
            let p = "up_modules.\(i)"
            up.append((
                try ConditionalResidualBlock1D(p + ".0", in: 2 * cin, out: cout, config: config, storage: storage, weights: weights),
                try ConditionalResidualBlock1D(p + ".1", in: cout, out: cout, config: config, storage: storage, weights: weights),
                try ConvTranspose1d(p + ".2", in: cout, out: cout, kernel: 4, stride: 2, padding: 1, storage: storage, weights: weights)
            ))
        }
        self.up = up
        let c0 = config.downDims[0], k = config.kernelSize
        finalConv = try Conv1d("final_conv.0.block.0", in: c0, out: c0, kernel: k, padding: k / 2, storage: storage,
                               weights: weights)
        // LeRobot builds this block without passing n_groups, so it keeps DiffusionConv1dBlock's default of 8.
        finalNorm = try GroupNorm("final_conv.0.block.1", groups: 8, channels: c0, weights: weights)
        outputConv = try Conv1d("final_conv.1", in: c0, out: config.actionSize, kernel: 1, weights: weights)
        blocks = down.flatMap { [$0.0, $0.1] } + mid + up.flatMap { [$0.0, $0.1] }
    }

    /// A network with random weights drawn as PyTorch initializes them (U(±1/√fan_in); GroupNorm γ = 1, β = 0),
    /// for benchmarks and tests. Throws only for an invalid `config`.
    public static func random(config: ConditionalUnet1DConfig, storage: WeightStorage = .f32,
                              generator: inout RandomGenerator) throws -> ConditionalUnet1D {
        try ConditionalUnet1D(config: config, storage: storage) { name, shape in
            let t = Tensor(zeros: shape)
            if name.contains("block.1.") { // GroupNorm
                t.fill(name.hasSuffix("weight") ? 1 : 0)
            } else {
                let fanIn = shape.count >= 2 ? shape.dropFirst().reduce(1, *) : shape[0]
                let bound = 1 / Float(max(fanIn, 1)).squareRoot()
                generator.fillUniform(t, low: -bound, high: bound)
            }
            return t
        }
    }


    /// Number of parameters (as `sum(p.numel() for p in unet.parameters())`).
    public var parameterCount: Int {
        var n = [stepLinear1.weight, stepLinear1.bias, stepLinear2.weight, stepLinear2.bias].reduce(0) { $0 + ($1?.count ?? 0) }
        n += blocks.reduce(0) { $0 + $1.parameterCount }
        for d in down { n += d.downsample?.parameterCount ?? 0 }
        for u in up { n += u.upsample?.parameterCount ?? 0 }
        n += finalConv.parameterCount + finalNorm.gamma.count + finalNorm.beta.count + outputConv.parameterCount
        return n
    }

    /// Writes LeRobot's `DiffusionSinusoidalPosEmb(E)(t)` into `out`, in float32 as PyTorch computes it:
    /// frequencies exp(i · −ln(10⁴)/(E/2 − 1)), then [sin(t·f), cos(t·f)].
    static func sinusoidalEmbedding(_ t: Int, size: Int, into out: UnsafeMutablePointer<Float>) {
        let half = size / 2
        let scale = Float(-(log(10000.0) / Double(half - 1)))
        for i in 0 ..< half {
            let arg = Float(t) * expf(Float(i) * scale)
            out[i] = sinf(arg)
            out[half + i] = cosf(arg)
        }
    }

    /// Predicts for `batch` noisy chunks x (batch × horizon × action, row-major as LeRobot's (B, T, D)) at diffusion
    /// step t, with `conditionBatch` rows of global condition (1 = shared by every chunk, or `batch`), writing
    /// `output` (same shape as x). `horizon` must be the workspace's.
    /// - Note: Real-time safe.
    public func evaluate(_ x: UnsafePointer<Float>, timestep t: Int, condition: UnsafePointer<Float>,
                         conditionBatch: Int, batch: Int, output: UnsafeMutablePointer<Float>,
                         workspace ws: ConditionalUnet1DWorkspace) {
        precondition(batch >= 1 && batch <= ws.maxBatch, "batch \(batch) outside 1...\(ws.maxBatch)")
        precondition(conditionBatch == 1 || conditionBatch == batch, "conditionBatch must be 1 or batch")
        let e = config.diffusionStepEmbedDim
        let g = config.globalConditionSize, cd = config.conditionDim

        // Timestep embedding and the FiLM input Mish([emb(t), condition]) per condition row.
        ConditionalUnet1D.sinusoidalEmbedding(t, size: e, into: ws.sinusoid.data)
        stepLinear1.forward(ws.sinusoid.data, batch: 1, output: ws.stepHidden.data)
        rx_activation_forward(RX_ACT_MISH, 4 * e, ws.stepHidden.data, ws.stepHidden.data)
        stepLinear2.forward(ws.stepHidden.data, batch: 1, output: ws.sinusoid.data)
        for r in 0 ..< conditionBatch {
            let row = ws.globalFeature.data + r * cd
            row.update(from: ws.sinusoid.data, count: e)
            (row + e).update(from: condition + r * g, count: g)
        }
        rx_activation_forward(RX_ACT_MISH, conditionBatch * cd, ws.globalFeature.data, ws.globalFeature.data)
        for i in 0 ..< blocks.count {
            blocks[i].film.forward(ws.globalFeature.data, batch: conditionBatch, output: ws.film.data + ws.filmOffsets[i])
        }

        // (B, T, A) is already position-major: one row of A channels per (b, t).
        var blockIndex = 0
        func run(_ block: ConditionalResidualBlock1D, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                 length: Int) {
            let filmWidth = block.scaleModulation ? 2 * block.outChannels : block.outChannels
            block.evaluate(src, batch: batch, length: length, filmRows: ws.film.data + ws.filmOffsets[blockIndex],
                           filmStride: conditionBatch == 1 ? 0 : filmWidth, column: ws.column.data,
                           scratch: ws.scratch.data, output: dst)
            blockIndex += 1
        }

        var current = x
        var length = ws.horizon
        for (i, level) in down.enumerated() {
            let skip = ws.skips[i].data
            run(level.first, current, ws.p0.data, length: length)
            run(level.second, ws.p0.data, skip, length: length)
            if let d = level.downsample {
                d.evaluate(skip, batch: batch, length: length, column: ws.column.data, output: ws.p1.data)
                length = d.outputLength(length)
                current = UnsafePointer(ws.p1.data)
            } else {
                current = UnsafePointer(skip)
            }
        }
        run(mid[0], current, ws.p0.data, length: length)
        run(mid[1], ws.p0.data, ws.p1.data, length: length)
        current = UnsafePointer(ws.p1.data)
        var channels = config.downDims[config.downDims.count - 1]
        for (i, level) in up.enumerated() {
            // Concatenate [x, skip] along channels, row by row (torch.cat(dim=1)).
            let skipIndex = down.count - 1 - i
            let skipChannels = down[skipIndex].second.outChannels
            let width = channels + skipChannels
            for r in 0 ..< batch * length {
                (ws.p2.data + r * width).update(from: current + r * channels, count: channels)
                (ws.p2.data + r * width + channels).update(from: ws.skips[skipIndex].data + r * skipChannels, count: skipChannels)
            }
            run(level.first, ws.p2.data, ws.p0.data, length: length)
            run(level.second, ws.p0.data, ws.p1.data, length: length)
            channels = level.second.outChannels
            if let u = level.upsample {
                u.evaluate(ws.p1.data, batch: batch, length: length, column: ws.column.data, output: ws.p0.data)
                length = u.outputLength(length)
                ws.p1.data.update(from: ws.p0.data, count: channels * batch * length)
            }
            current = UnsafePointer(ws.p1.data)
        }
        finalConv.evaluate(current, batch: batch, length: length, column: ws.column.data, output: ws.p0.data,
                           addBias: false)
        finalNorm.evaluate(ws.p0.data, batch: batch, length: length, bias: finalConv.bias?.data, mish: true)
        outputConv.evaluate(ws.p0.data, batch: batch, length: length, column: ws.column.data, output: output)
    }
}

/// Buffers for evaluating a `ConditionalUnet1D` on up to `maxBatch` chunks of `horizon` steps, made once so
/// evaluation allocates nothing.
public final class ConditionalUnet1DWorkspace: @unchecked Sendable {
    public let horizon: Int
    public let maxBatch: Int
    let sinusoid: Tensor
    let stepHidden: Tensor
    let globalFeature: Tensor
    let film: Tensor
    let filmOffsets: [Int]
    let p0: Tensor, p1: Tensor, p2: Tensor, scratch: Tensor, column: Tensor
    let skips: [Tensor]

    public init(network: ConditionalUnet1D, horizon: Int, maxBatch: Int) throws {
        let config = network.config
        try config.validate(horizon: horizon)
        self.horizon = horizon
        self.maxBatch = maxBatch
        let e = config.diffusionStepEmbedDim
        sinusoid = Tensor(zeros: [e])
        stepHidden = Tensor(zeros: [4 * e])
        globalFeature = Tensor(zeros: [maxBatch, config.conditionDim])
        var offsets: [Int] = []
        var total = 0
        for block in network.blocks {
            offsets.append(total)
            total += maxBatch * (block.scaleModulation ? 2 : 1) * block.outChannels
        }
        filmOffsets = offsets
        film = Tensor(zeros: [total])
        // Walk the architecture for the largest activation (channels × batch·length) and scratch.
        let b = maxBatch
        var act = config.actionSize * b * horizon, col = 0
        var length = horizon
        var skips: [Tensor] = []
        for level in network.down {
            for block in [level.first, level.second] {
                act = max(act, max(block.inChannels, block.outChannels) * b * length)
                col = max(col, block.columnCount(batch: b, length: length), block.outChannels * b * length)
            }
            skips.append(Tensor(zeros: [level.second.outChannels * b * length]))
            if let d = level.downsample {
                col = max(col, d.columnCount(batch: b, length: length))
                length = d.outputLength(length)
            }
        }
        for block in network.mid { col = max(col, block.columnCount(batch: b, length: length)) }
        for level in network.up {
            for block in [level.first, level.second] {
                act = max(act, max(block.inChannels, block.outChannels) * b * length)
                col = max(col, block.columnCount(batch: b, length: length))
            }
            if let u = level.upsample {
                col = max(col, u.columnCount(batch: b, length: length))
                length = u.outputLength(length)
                act = max(act, u.outChannels * b * length)
            }
        }
        col = max(col, network.finalConv.columnCount(batch: b, length: length))
        act = max(act, network.finalConv.outChannels * b * length)
        self.skips = skips
        p0 = Tensor(zeros: [act])
        p1 = Tensor(zeros: [act])
        p2 = Tensor(zeros: [act])
        scratch = Tensor(zeros: [act])
        column = Tensor(zeros: [max(col, 1)])
    }
}
