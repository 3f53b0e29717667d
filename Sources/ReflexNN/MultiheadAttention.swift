import CBridge
import ReflexCore

/// A linear layer y = x Wᵀ + b on the packed GEMM (`PackedWeights`): the weight is streamed once per call whatever
/// the number of rows, and nothing is allocated (a general GEMM of a few rows packs into fresh buffers).
public struct PackedLinear: Sendable {
    public let weight: PackedWeights
    public let bias: Tensor?
    public var inputSize: Int { weight.columns }
    public var outputSize: Int { weight.rows }

    /// From a PyTorch (out × in) matrix and optional bias, each value scaled by `scale`.
    public init(weight w: Tensor, bias b: Tensor?, scale: Float = 1) {
        precondition(w.rank == 2 && (b?.count ?? w.shape[0]) == w.shape[0], "PackedLinear: weight \(w.shape), bias \(b?.shape ?? [])")
        if scale == 1 {
            weight = PackedWeights(w.data, rows: w.shape[0], columns: w.shape[1])
            bias = b
        } else {
            let ws = w.copy(), bs = b?.copy()
            for i in 0 ..< ws.count { ws.data[i] *= scale }
            if let bs { for i in 0 ..< bs.count { bs.data[i] *= scale } }
            weight = PackedWeights(ws.data, rows: w.shape[0], columns: w.shape[1])
            bias = bs
        }
    }

    /// Reads `prefix.weight` (out × in) and `prefix.bias` (out).
    public init(_ prefix: String, in inputs: Int, out outputs: Int, weights: WeightSource) throws {
        self.init(weight: try weights(prefix + ".weight", [outputs, inputs]), bias: try weights(prefix + ".bias", [outputs]))
    }

    public var parameterCount: Int { weight.rows * weight.columns + (bias?.count ?? 0) }

    /// Y (rows × out, row stride `ldy`) = X (rows × in) Wᵀ + b.
    /// - Note: Real-time safe.
    public func evaluate(_ x: UnsafePointer<Float>, rows: Int, output y: UnsafeMutablePointer<Float>) {
        weight.multiply(x, rows: rows, output: y)
        if let bias { rx_bias_add(rows, outputSize, y, outputSize, bias.data) }
    }
}

/// PyTorch's `nn.MultiheadAttention` at inference (Vaswani et al. 2017, §3.2.2), one sequence, no masks:
/// softmax(Q Kᵀ/√d_head) V per head, heads concatenated, then `out_proj`.
///
/// Weights come in PyTorch's layout: `in_proj_weight` (3·D × D: the query, key and value projections stacked),
/// `in_proj_bias`, `out_proj.weight`, `out_proj.bias`. Tokens are rows (position-major, as the image layers' feature
/// maps), so each projection is one packed GEMM over all tokens, its weights packed once at load. The two products
/// per head run on the same microkernel: K_h and V_hᵀ are packed per call like weights (O(S·d) copying against
/// O(S²·d) multiply-adds), which keeps attention allocation-free and off the general GEMM's packing buffers.
/// 1/√d_head is folded into the query projection at load (PyTorch scales q after projecting; the two differ by
/// rounding only).
public struct MultiheadAttention: Sendable {
    public let dim: Int
    public let heads: Int
    public var headDim: Int { dim / heads }
    public let query: PackedLinear
    public let key: PackedLinear
    public let value: PackedLinear
    public let out: PackedLinear

    public init(_ prefix: String, dim: Int, heads: Int, weights: WeightSource) throws {
        guard heads >= 1, dim % heads == 0 else {
            throw ReflexError(.invalidValue, "dim_model \(dim) is not divisible by n_heads \(heads)", at: .init(element: prefix))
        }
        self.dim = dim
        self.heads = heads
        let w = try weights(prefix + ".in_proj_weight", [3 * dim, dim])
        let b = try weights(prefix + ".in_proj_bias", [3 * dim])
        func part(_ i: Int, scale: Float = 1) -> PackedLinear {
            let wi = Tensor(zeros: [dim, dim]), bi = Tensor(zeros: [dim])
            wi.data.update(from: w.data + i * dim * dim, count: dim * dim)
            bi.data.update(from: b.data + i * dim, count: dim)
            return PackedLinear(weight: wi, bias: bi, scale: scale)
        }
        query = part(0, scale: 1 / Float(dim / heads).squareRoot())
        key = part(1)
        value = part(2)
        out = try PackedLinear(prefix + ".out_proj", in: dim, out: dim, weights: weights)
    }

    public var parameterCount: Int { 4 * dim * dim + 4 * dim }

    /// Multiply-adds for `queries` query tokens against `keys` key tokens.
    public func multiplyAdds(queries: Int, keys: Int) -> Int {
        2 * queries * dim * dim + 2 * keys * dim * dim + 2 * queries * keys * dim
    }

    /// y (queries × D) = attention(query = q, key = k, value = v); q is queries × D, k and v keys × D (k and v may be
    /// the same rows, as may q and k). `y` must not alias the inputs.
    /// - Note: Real-time safe.
    public func evaluate(query q: UnsafePointer<Float>, queries: Int, key k: UnsafePointer<Float>,
                         value v: UnsafePointer<Float>, keys: Int, output y: UnsafeMutablePointer<Float>,
                         workspace ws: AttentionWorkspace) {
        precondition(queries <= ws.maxQueries && keys <= ws.maxKeys && ws.dim == dim, "attention workspace too small")
        let d = dim, hd = headDim
        let qs = ws.q.data, ks = ws.k.data, vs = ws.v.data, ctx = ws.context.data
        query.evaluate(q, rows: queries, output: qs)
        key.evaluate(k, rows: keys, output: ks)
        value.evaluate(v, rows: keys, output: vs)
        let scores = ws.scores.data, vt = ws.valueT.data, packed = ws.packed.data
        for h in 0 ..< heads {
            // scores = Q_h K_hᵀ: K_h is the "weight" (keys × hd, row stride D).
            rx_pack_panels(keys, hd, ks + h * hd, d, packed)
            rx_sgemm_panels(queries, keys, hd, qs + h * hd, d, packed, scores, keys)
            rx_softmax_rows(queries, keys, scores, keys)
            // context_h = P V_h = P (V_hᵀ)ᵀ: V_hᵀ (hd × keys) is the "weight".
            for t in 0 ..< keys {
                let row = vs + t * d + h * hd
                for j in 0 ..< hd { vt[j * keys + t] = row[j] }
            }
            rx_pack_panels(hd, keys, vt, keys, packed)
            rx_sgemm_panels(queries, hd, keys, scores, keys, packed, ctx + h * hd, d)
        }
        out.evaluate(ctx, rows: queries, output: y)
    }
}

/// Buffers for one `MultiheadAttention.evaluate` of up to `maxQueries` × `maxKeys` tokens, made once; one workspace
/// serves every attention layer of a model with these sizes.
public final class AttentionWorkspace: @unchecked Sendable {
    public let dim: Int
    public let maxQueries: Int
    public let maxKeys: Int
    let q, k, v, context, scores, valueT, packed: Tensor

    public init(dim: Int, heads: Int, maxQueries: Int, maxKeys: Int) {
        self.dim = dim
        self.maxQueries = maxQueries
        self.maxKeys = maxKeys
        let hd = dim / max(heads, 1)
        q = Tensor(zeros: [maxQueries * dim])
        context = Tensor(zeros: [maxQueries * dim])
        k = Tensor(zeros: [maxKeys * dim])
        v = Tensor(zeros: [maxKeys * dim])
        scores = Tensor(zeros: [maxQueries * maxKeys])
        valueT = Tensor(zeros: [hd * maxKeys])
        packed = Tensor(zeros: [max(rx_packed_size(maxKeys, hd), rx_packed_size(hd, maxKeys), 1)])
    }
}
