import CBridge
import ReflexCore

/// What ACT's transformer layers are: sizes and options of LeRobot's `ACTConfig` that shape them.
public struct ACTTransformerConfig: Sendable, Equatable {
    public var dimModel: Int
    public var heads: Int
    public var dimFeedforward: Int
    /// `feedforward_activation`: relu or gelu (LeRobot's glu halves the width linear2 expects, so its own model fails).
    public var activation: Activation
    /// Normalize before each sub-layer (and once after the encoder stack) instead of after it.
    public var preNorm: Bool
    public var encoderLayers: Int
    public var decoderLayers: Int

    public init(dimModel: Int, heads: Int, dimFeedforward: Int, activation: Activation, preNorm: Bool,
                encoderLayers: Int, decoderLayers: Int) {
        self.dimModel = dimModel
        self.heads = heads
        self.dimFeedforward = dimFeedforward
        self.activation = activation
        self.preNorm = preNorm
        self.encoderLayers = encoderLayers
        self.decoderLayers = decoderLayers
    }
}

/// Reads a LayerNorm's `prefix.weight` and `prefix.bias` (PyTorch's ε = 1e-5).
func readLayerNorm(_ prefix: String, width: Int, weights: WeightSource) throws -> LayerNorm {
    LayerNorm(gamma: try weights(prefix + ".weight", [width]), beta: try weights(prefix + ".bias", [width]))
}

/// linear2(activation(linear1(x))): the feed-forward block of both layer kinds.
public struct ACTFeedforward: Sendable {
    public let linear1: PackedLinear
    public let linear2: PackedLinear
    public let activation: Activation

    init(_ prefix: String, config c: ACTTransformerConfig, weights: WeightSource) throws {
        linear1 = try PackedLinear(prefix + "linear1", in: c.dimModel, out: c.dimFeedforward, weights: weights)
        linear2 = try PackedLinear(prefix + "linear2", in: c.dimFeedforward, out: c.dimModel, weights: weights)
        activation = c.activation
    }

    /// y = linear2(activation(linear1(x))) over `rows` tokens; `hidden` holds rows × dim_feedforward.
    /// - Note: Real-time safe.
    func evaluate(_ x: UnsafePointer<Float>, rows: Int, hidden: UnsafeMutablePointer<Float>, output y: UnsafeMutablePointer<Float>) {
        linear1.evaluate(x, rows: rows, output: hidden)
        activation.forward(hidden, hidden, count: rows * linear1.outputSize)
        linear2.evaluate(hidden, rows: rows, output: y)
    }
}

/// LeRobot's `ACTEncoderLayer` (dropout off): self-attention whose queries and keys carry the position embedding
/// and whose values do not, then the feed-forward block; each with a residual and a LayerNorm, before (pre_norm) or
/// after it.
public struct ACTEncoderLayer: Sendable {
    public let selfAttention: MultiheadAttention
    public let feedforward: ACTFeedforward
    public let norm1: LayerNorm
    public let norm2: LayerNorm
    public let preNorm: Bool

    public init(_ prefix: String, config c: ACTTransformerConfig, weights: WeightSource) throws {
        selfAttention = try MultiheadAttention(prefix + "self_attn", dim: c.dimModel, heads: c.heads, weights: weights)
        feedforward = try ACTFeedforward(prefix, config: c, weights: weights)
        norm1 = try readLayerNorm(prefix + "norm1", width: c.dimModel, weights: weights)
        norm2 = try readLayerNorm(prefix + "norm2", width: c.dimModel, weights: weights)
        preNorm = c.preNorm
    }

    /// x (S × D) ← layer(x) in place, with `pos` (S × D) added to queries and keys.
    /// - Note: Real-time safe.
    public func evaluate(_ x: UnsafeMutablePointer<Float>, tokens s: Int, position pos: UnsafePointer<Float>,
                         workspace ws: ACTTransformerWorkspace) {
        let d = selfAttention.dim, n = s * d
        let a = ws.a.data, b = ws.b.data
        // a = the sub-layer's input (normed under pre_norm), b = a + pos.
        if preNorm { norm1.forward(x, batch: s, output: a, mean: nil, rstd: nil) } else { a.update(from: x, count: n) }
        for i in 0 ..< n { b[i] = a[i] + pos[i] }
        selfAttention.evaluate(query: b, queries: s, key: b, value: a, keys: s, output: ws.c.data, workspace: ws.attention)
        for i in 0 ..< n { x[i] += ws.c.data[i] }
        if !preNorm { norm1.forward(x, batch: s, output: x, mean: nil, rstd: nil) }
        let ffIn: UnsafeMutablePointer<Float>
        if preNorm { norm2.forward(x, batch: s, output: a, mean: nil, rstd: nil); ffIn = a } else { ffIn = x }
        feedforward.evaluate(ffIn, rows: s, hidden: ws.hidden.data, output: b)
        for i in 0 ..< n { x[i] += b[i] }
        if !preNorm { norm2.forward(x, batch: s, output: x, mean: nil, rstd: nil) }
    }
}

/// LeRobot's `ACTDecoderLayer` (dropout off): self-attention over the action queries, cross-attention from them to
/// the encoder's output (keys carry the encoder's position embedding, queries the decoder's), then the feed-forward
/// block; residuals and LayerNorms as in the encoder layer.
public struct ACTDecoderLayer: Sendable {
    public let selfAttention: MultiheadAttention
    public let crossAttention: MultiheadAttention
    public let feedforward: ACTFeedforward
    public let norm1: LayerNorm
    public let norm2: LayerNorm
    public let norm3: LayerNorm
    public let preNorm: Bool

    public init(_ prefix: String, config c: ACTTransformerConfig, weights: WeightSource) throws {
        selfAttention = try MultiheadAttention(prefix + "self_attn", dim: c.dimModel, heads: c.heads, weights: weights)
        crossAttention = try MultiheadAttention(prefix + "multihead_attn", dim: c.dimModel, heads: c.heads, weights: weights)
        feedforward = try ACTFeedforward(prefix, config: c, weights: weights)
        norm1 = try readLayerNorm(prefix + "norm1", width: c.dimModel, weights: weights)
        norm2 = try readLayerNorm(prefix + "norm2", width: c.dimModel, weights: weights)
        norm3 = try readLayerNorm(prefix + "norm3", width: c.dimModel, weights: weights)
        preNorm = c.preNorm
    }

    /// y (T × D) ← layer(y) in place. `memory` is the encoder's output (S × D), `memoryKeys` the same plus its
    /// position embedding, `pos` the decoder's position embedding (T × D).
    /// - Note: Real-time safe.
    public func evaluate(_ y: UnsafeMutablePointer<Float>, queries t: Int, position pos: UnsafePointer<Float>,
                         memory: UnsafePointer<Float>, memoryKeys: UnsafePointer<Float>, tokens s: Int,
                         workspace ws: ACTTransformerWorkspace) {
        let d = selfAttention.dim, n = t * d
        let a = ws.a.data, b = ws.b.data, c = ws.c.data
        if preNorm { norm1.forward(y, batch: t, output: a, mean: nil, rstd: nil) } else { a.update(from: y, count: n) }
        for i in 0 ..< n { b[i] = a[i] + pos[i] }
        selfAttention.evaluate(query: b, queries: t, key: b, value: a, keys: t, output: c, workspace: ws.attention)
        for i in 0 ..< n { y[i] += c[i] }
        if preNorm { norm2.forward(y, batch: t, output: a, mean: nil, rstd: nil) } else {
            norm1.forward(y, batch: t, output: y, mean: nil, rstd: nil)
            a.update(from: y, count: n)
        }
        for i in 0 ..< n { b[i] = a[i] + pos[i] }
        crossAttention.evaluate(query: b, queries: t, key: memoryKeys, value: memory, keys: s, output: c, workspace: ws.attention)
        for i in 0 ..< n { y[i] += c[i] }
        let ffIn: UnsafeMutablePointer<Float>
        if preNorm { norm3.forward(y, batch: t, output: a, mean: nil, rstd: nil); ffIn = a } else {
            norm2.forward(y, batch: t, output: y, mean: nil, rstd: nil)
            ffIn = y
        }
        feedforward.evaluate(ffIn, rows: t, hidden: ws.hidden.data, output: b)
        for i in 0 ..< n { y[i] += b[i] }
        if !preNorm { norm3.forward(y, batch: t, output: y, mean: nil, rstd: nil) }
    }
}

/// LeRobot's `ACTEncoder` and `ACTDecoder` together: the encoder layers (then a LayerNorm under pre_norm), and the
/// decoder layers on queries that start at zero (then the decoder's LayerNorm, always).
public struct ACTTransformer: Sendable {
    public let config: ACTTransformerConfig
    public let encoderLayers: [ACTEncoderLayer]
    public let encoderNorm: LayerNorm?
    public let decoderLayers: [ACTDecoderLayer]
    public let decoderNorm: LayerNorm

    /// Reads `prefix + "encoder."` and `prefix + "decoder."` (LeRobot: prefix "model.").
    public init(_ prefix: String, config c: ACTTransformerConfig, weights: WeightSource) throws {
        guard c.encoderLayers >= 1, c.decoderLayers >= 1, c.dimModel >= 1, c.dimFeedforward >= 1 else {
            throw ReflexError(.invalidValue, "ACT needs at least one encoder and one decoder layer and positive sizes",
                              at: .init(element: prefix))
        }
        config = c
        encoderLayers = try (0 ..< c.encoderLayers).map {
            try ACTEncoderLayer(prefix + "encoder.layers.\($0).", config: c, weights: weights)
        }
        encoderNorm = c.preNorm ? try readLayerNorm(prefix + "encoder.norm", width: c.dimModel, weights: weights) : nil
        decoderLayers = try (0 ..< c.decoderLayers).map {
            try ACTDecoderLayer(prefix + "decoder.layers.\($0).", config: c, weights: weights)
        }
        decoderNorm = try readLayerNorm(prefix + "decoder.norm", width: c.dimModel, weights: weights)
    }

    public var parameterCount: Int {
        let d = config.dimModel, f = config.dimFeedforward
        let ff = 2 * d * f + d + f
        return config.encoderLayers * (4 * d * d + 4 * d + ff + 4 * d)
            + config.decoderLayers * (8 * d * d + 8 * d + ff + 6 * d) + (config.preNorm ? 2 * d : 0) + 2 * d
    }

    /// Multiply-adds for `tokens` encoder tokens and `queries` action queries.
    public func multiplyAdds(tokens s: Int, queries t: Int) -> Int {
        let d = config.dimModel, f = config.dimFeedforward
        let encoder = encoderLayers.first.map { $0.selfAttention.multiplyAdds(queries: s, keys: s) + 2 * s * d * f } ?? 0
        let decoder = decoderLayers.first.map {
            $0.selfAttention.multiplyAdds(queries: t, keys: t) + $0.crossAttention.multiplyAdds(queries: t, keys: s) + 2 * t * d * f
        } ?? 0
        return config.encoderLayers * encoder + config.decoderLayers * decoder
    }

    /// Encodes `tokens` (S × D, with position embedding `encoderPosition`), then decodes `queries` action queries
    /// from zero with `decoderPosition` (T × D); the decoder's output (T × D) is returned, a view into the workspace.
    /// The encoder's output stays in `workspace.memory`.
    /// - Note: Real-time safe.
    @discardableResult
    public func evaluate(tokens x: UnsafePointer<Float>, count s: Int, encoderPosition: UnsafePointer<Float>,
                         decoderPosition: UnsafePointer<Float>, queries t: Int,
                         workspace ws: ACTTransformerWorkspace) -> UnsafeMutablePointer<Float> {
        precondition(s <= ws.maxTokens && t <= ws.maxQueries, "ACT workspace is for \(ws.maxTokens) tokens, \(ws.maxQueries) queries")
        let d = config.dimModel
        let memory = ws.memory.data
        memory.update(from: x, count: s * d)
        for layer in encoderLayers { layer.evaluate(memory, tokens: s, position: encoderPosition, workspace: ws) }
        encoderNorm?.forward(memory, batch: s, output: memory, mean: nil, rstd: nil)
        let keys = ws.memoryKeys.data
        for i in 0 ..< s * d { keys[i] = memory[i] + encoderPosition[i] }
        let y = ws.decoder.data
        y.update(repeating: 0, count: t * d)
        for layer in decoderLayers {
            layer.evaluate(y, queries: t, position: decoderPosition, memory: memory, memoryKeys: keys, tokens: s, workspace: ws)
        }
        decoderNorm.forward(y, batch: t, output: y, mean: nil, rstd: nil)
        return y
    }
}

/// Buffers for `ACTTransformer.evaluate` with up to `maxTokens` encoder tokens and `maxQueries` action queries,
/// made once.
public final class ACTTransformerWorkspace: @unchecked Sendable {
    public let maxTokens: Int
    public let maxQueries: Int
    let attention: AttentionWorkspace
    /// Encoder tokens, then its output.
    public let memory: Tensor
    let memoryKeys: Tensor
    let decoder: Tensor
    let a, b, c, hidden: Tensor

    public init(config: ACTTransformerConfig, maxTokens: Int, maxQueries: Int) {
        self.maxTokens = maxTokens
        self.maxQueries = maxQueries
        let rows = max(maxTokens, maxQueries), d = config.dimModel
        attention = AttentionWorkspace(dim: d, heads: config.heads, maxQueries: rows, maxKeys: rows)
        memory = Tensor(zeros: [maxTokens * d])
        memoryKeys = Tensor(zeros: [maxTokens * d])
        decoder = Tensor(zeros: [maxQueries * d])
        a = Tensor(zeros: [rows * d])
        b = Tensor(zeros: [rows * d])
        c = Tensor(zeros: [rows * d])
        hidden = Tensor(zeros: [rows * config.dimFeedforward])
    }
}
