import CBridge
import ReflexCore
import Testing

/// The register-tiled kernel against a plain triple loop, for every transposition, with row counts that leave tile
/// remainders, vector-column remainders (16 or 64 columns a tile with AVX-512, 8 or 16 with AVX2) and scalar leftover
/// columns, and with beta 0 (C not read) and beta ≠ 0.
@Suite struct SmallGemmTests {
    @Test(arguments: [(0, 0), (0, 1), (1, 0), (1, 1)])
    func matchesTheNaiveProduct(_ tA: Int, _ tB: Int) {
        var gen = RandomGenerator(seed: UInt64(10 * tA + tB))
        for (m, n, k) in [(33, 64, 5), (100, 64, 64), (32, 16, 3), (45, 83, 40), (37, 24, 9), (256, 256, 256)] {
            let lda = (tA == 0 ? k : m) + 3, ldb = (tB == 0 ? n : k) + 1, ldc = n + 2
            let a = Tensor(zeros: [(tA == 0 ? m : k) * lda]), b = Tensor(zeros: [(tB == 0 ? k : n) * ldb])
            gen.fillGaussian(a)
            gen.fillGaussian(b)
            for beta: Float in [0, 0.5] {
                let c = Tensor(zeros: [m * ldc])
                gen.fillGaussian(c)
                if beta == 0 { c.fill(.nan) } // beta 0 must not read C
                let c0 = c.copy()
                let handled = rx_small_sgemm(Int32(tA), Int32(tB), m, n, k, 1.5, a.data, lda, b.data, ldb, beta, c.data, ldc)
                #expect(handled == 1)
                var worst: Float = 0
                for i in 0 ..< m {
                    for j in 0 ..< n {
                        var s: Double = 0
                        for p in 0 ..< k {
                            let av = tA == 0 ? a.data[i * lda + p] : a.data[p * lda + i]
                            let bv = tB == 0 ? b.data[p * ldb + j] : b.data[j * ldb + p]
                            s += Double(av) * Double(bv)
                        }
                        let want = Float(1.5 * s) + (beta == 0 ? 0 : beta * c0.data[i * ldc + j])
                        worst = max(worst, abs(c.data[i * ldc + j] - want) / max(1, abs(want)))
                    }
                }
                #expect(worst < 1e-4, "\(m)×\(n)×\(k) tA \(tA) tB \(tB) beta \(beta): error \(worst)")
            }
        }
    }

    @Test func declinesShapesOutsideItsRange() {
        // Fewer columns than one vector register holds (8 with AVX2, 16 with AVX-512): left to Eigen.
        let a = Tensor(zeros: [64]), b = Tensor(zeros: [64]), c = Tensor(shape: [64], repeating: 7)
        #expect(rx_small_sgemm(0, 0, 8, 7, 8, 1, a.data, 8, b.data, 7, 0, c.data, 7) == 0)
        #expect(c.scalars.allSatisfy { $0 == 7 })
    }
}
