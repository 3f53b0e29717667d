import Foundation
import ReflexCore
import TestSupport
import Testing

@testable import ReflexNN

/// `MultiheadAttention` against the textbook formula computed naively in double (Vaswani et al. 2017, §3.2.2 with
/// PyTorch's packed in_proj layout), at sizes that leave ragged panels (keys and queries not multiples of 6 or 16).
@Suite struct AttentionTests {
    private func random(_ shape: [Int], _ gen: inout RandomGenerator, scale: Float = 0.5) -> Tensor {
        let t = Tensor(zeros: shape)
        gen.fillUniform(t, low: -scale, high: scale)
        return t
    }

    @Test(arguments: [(1, 1, 8, 1), (7, 13, 24, 2), (100, 29, 64, 4)])
    func matchesTheFormula(queries: Int, keys: Int, dim: Int, heads: Int) throws {
        var gen = RandomGenerator(seed: UInt64(queries * 100 + keys))
        let tensors = [
            "a.in_proj_weight": random([3 * dim, dim], &gen), "a.in_proj_bias": random([3 * dim], &gen),
            "a.out_proj.weight": random([dim, dim], &gen), "a.out_proj.bias": random([dim], &gen),
        ]
        let mha = try MultiheadAttention("a", dim: dim, heads: heads) { name, _ in tensors[name]! }
        let q = random([queries, dim], &gen, scale: 2), k = random([keys, dim], &gen, scale: 2), v = random([keys, dim], &gen, scale: 2)
        let y = Tensor(zeros: [queries, dim])
        let ws = AttentionWorkspace(dim: dim, heads: heads, maxQueries: queries + 3, maxKeys: keys + 5)
        mha.evaluate(query: q.data, queries: queries, key: k.data, value: v.data, keys: keys, output: y.data, workspace: ws)

        // Naive reference in double.
        let w = tensors["a.in_proj_weight"]!, b = tensors["a.in_proj_bias"]!
        func project(_ x: Tensor, _ rows: Int, _ part: Int) -> [Double] {
            var out = [Double](repeating: 0, count: rows * dim)
            for r in 0 ..< rows { for o in 0 ..< dim {
                var s = Double(b.data[part * dim + o])
                for i in 0 ..< dim { s += Double(w.data[(part * dim + o) * dim + i]) * Double(x.data[r * dim + i]) }
                out[r * dim + o] = s
            } }
            return out
        }
        let qp = project(q, queries, 0), kp = project(k, keys, 1), vp = project(v, keys, 2)
        let hd = dim / heads
        var context = [Double](repeating: 0, count: queries * dim)
        for h in 0 ..< heads { for i in 0 ..< queries {
            var scores = (0 ..< keys).map { j in
                (0 ..< hd).reduce(0.0) { $0 + qp[i * dim + h * hd + $1] * kp[j * dim + h * hd + $1] } / Double(hd).squareRoot()
            }
            let top = scores.max()!
            scores = scores.map { exp($0 - top) }
            let total = scores.reduce(0, +)
            for c in 0 ..< hd { context[i * dim + h * hd + c] = (0 ..< keys).reduce(0.0) { $0 + scores[$1] * vp[$1 * dim + h * hd + c] } / total }
        } }
        let ow = tensors["a.out_proj.weight"]!, ob = tensors["a.out_proj.bias"]!
        let want = Tensor(zeros: [queries, dim])
        for i in 0 ..< queries { for o in 0 ..< dim {
            var s = Double(ob.data[o])
            for c in 0 ..< dim { s += Double(ow.data[o * dim + c]) * context[i * dim + c] }
            want.data[i * dim + o] = Float(s)
        } }
        let err = relativeError(y.data, want)
        #expect(err < 1e-5, "relative error \(err)")  // reached 1.2e-7, 4.3e-7, 9.7e-7
    }
}
