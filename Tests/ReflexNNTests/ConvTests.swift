import CBridge
import ReflexCore
import TestSupport
import Testing

@testable import ReflexNN

/// Naive references for the convolution layers and the packed GEMM, in the layouts PyTorch documents.
@Suite struct ConvTests {
    @Test(arguments: [1, 2])
    func packedGemmMatchesNaive(threads: Int) {
        KernelThreads.with(threads) {
            var gen = RandomGenerator(seed: 5)
            // K = 3000 spans several K blocks; M = 37 and odd N exercise every tail.
            for (n, m, k) in [(1, 37, 3000), (4, 64, 10), (7, 37, 2049), (33, 20, 100)] {
                let x = Tensor(zeros: [n, k]), w = Tensor(zeros: [m, k]), y = Tensor(zeros: [n, m])
                gen.fillGaussian(x)
                gen.fillGaussian(w)
                let packed = PackedWeights(w.data, rows: m, columns: k)
                packed.multiply(x.data, rows: n, output: y.data)
                var worst: Double = 0
                for i in 0 ..< n {
                    for j in 0 ..< m {
                        var s: Double = 0
                        for q in 0 ..< k { s += Double(x.data[i * k + q]) * Double(w.data[j * k + q]) }
                        worst = max(worst, abs(Double(y.data[i * m + j]) - s) / Double(k).squareRoot())
                    }
                }
                #expect(worst < 1e-4, "N=\(n) M=\(m) K=\(k): error \(worst)")
            }
        }
    }

    @Test func bf16PackedGemmUsesRoundedWeights() {
        var gen = RandomGenerator(seed: 8)
        let n = 5, m = 70, k = 1500
        let x = Tensor(zeros: [n, k]), w = Tensor(zeros: [m, k]), y = Tensor(zeros: [n, m])
        gen.fillGaussian(x)
        gen.fillGaussian(w)
        // The reference multiplies by the bfloat16-rounded weights in double: the kernel's only rounding is storage.
        var bits = [UInt16](repeating: 0, count: m * k)
        let rounded = Tensor(zeros: [m, k])
        bits.withUnsafeMutableBufferPointer { rx_f32_to_bf16(m * k, w.data, $0.baseAddress) }
        bits.withUnsafeBufferPointer { rx_bf16_to_f32(m * k, $0.baseAddress, rounded.data) }
        let packed = PackedWeights(w.data, rows: m, columns: k, storage: .bf16)
        #expect(packed.byteCount == 80 * k * 2) // rows padded to a multiple of 16
        packed.multiply(x.data, rows: n, output: y.data)
        var worst: Double = 0
        for i in 0 ..< n {
            for j in 0 ..< m {
                var s: Double = 0
                for q in 0 ..< k { s += Double(x.data[i * k + q]) * Double(rounded.data[j * k + q]) }
                worst = max(worst, abs(Double(y.data[i * m + j]) - s) / Double(k).squareRoot())
            }
        }
        #expect(worst < 1e-4, "error \(worst)")
    }

    @Test func conv1dMatchesNaive() throws {
        var gen = RandomGenerator(seed: 6)
        for (cin, cout, k, stride, pad, length) in [(3, 5, 5, 1, 2, 8), (4, 4, 3, 2, 1, 8), (6, 2, 1, 1, 0, 4)] {
            let w = Tensor(zeros: [cout, cin, k]), b = Tensor(zeros: [cout])
            gen.fillGaussian(w)
            gen.fillGaussian(b)
            let conv = try Conv1d("c", in: cin, out: cout, kernel: k, stride: stride, padding: pad) { name, _ in
                name.hasSuffix("weight") ? w : b
            }
            let batch = 2, lout = conv.outputLength(length)
            let x = Tensor(zeros: [batch * length, cin]), y = Tensor(zeros: [batch * lout, cout])
            gen.fillGaussian(x)
            let col = Tensor(zeros: [max(conv.columnCount(batch: batch, length: length), 1)])
            conv.evaluate(x.data, batch: batch, length: length, column: col.data, output: y.data)
            for bi in 0 ..< batch {
                for t in 0 ..< lout {
                    for o in 0 ..< cout {
                        var s = b.data[o]
                        for i in 0 ..< cin {
                            for j in 0 ..< k {
                                let p = t * stride + j - pad
                                if p >= 0 && p < length { s += w.data[(o * cin + i) * k + j] * x.data[(bi * length + p) * cin + i] }
                            }
                        }
                        #expect(abs(y.data[(bi * lout + t) * cout + o] - s) < 1e-4)
                    }
                }
            }
        }
    }

    @Test func convTranspose1dMatchesNaive() throws {
        var gen = RandomGenerator(seed: 7)
        let cin = 3, cout = 4, k = 4, stride = 2, pad = 1, length = 5, batch = 2
        let w = Tensor(zeros: [cin, cout, k]), b = Tensor(zeros: [cout])
        gen.fillGaussian(w)
        gen.fillGaussian(b)
        let conv = try ConvTranspose1d("u", in: cin, out: cout, kernel: k, stride: stride, padding: pad) { name, _ in
            name.hasSuffix("weight") ? w : b
        }
        let lout = conv.outputLength(length)
        #expect(lout == 2 * length)
        let x = Tensor(zeros: [batch * length, cin]), y = Tensor(zeros: [batch * lout, cout])
        gen.fillGaussian(x)
        let z = Tensor(zeros: [conv.columnCount(batch: batch, length: length)])
        conv.evaluate(x.data, batch: batch, length: length, column: z.data, output: y.data)
        for bi in 0 ..< batch {
            for o in 0 ..< lout {
                for co in 0 ..< cout {
                    var s = b.data[co]
                    for i in 0 ..< length {
                        let j = o + pad - i * stride
                        guard j >= 0 && j < k else { continue }
                        for ci in 0 ..< cin { s += w.data[(ci * cout + co) * k + j] * x.data[(bi * length + i) * cin + ci] }
                    }
                    #expect(abs(y.data[(bi * lout + o) * cout + co] - s) < 1e-4)
                }
            }
        }
    }
}
