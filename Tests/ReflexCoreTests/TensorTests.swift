import ReflexCore
import Testing

@Suite struct TensorTests {
    @Test func viewsShareStorageAndCopiesDoNot() {
        let t = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        let flat = t.flattened()
        let row = t.row(1)
        #expect(row.shape == [3])
        #expect(row.scalars == [4, 5, 6])
        row[0] = 40
        #expect(t[1, 0] == 40)
        #expect(flat[3] == 40)
        let c = t.copy()
        c[0, 0] = -1
        #expect(t[0, 0] == 1)
    }

    @Test func reshapeInfersOneDimension() {
        let t = Tensor(zeros: [4, 6])
        #expect(t.reshaped([3, -1]).shape == [3, 8])
        #expect(t.reshaped([-1]).shape == [24])
        #expect(t.rows(1 ..< 3).shape == [2, 6])
        #expect(t.rows(1 ..< 3).offset == 6)
    }

    @Test func storageIsAlignedForAVX512() {
        for n in [1, 3, 17, 1000] {
            #expect(Int(bitPattern: Tensor(zeros: [n]).data) % 64 == 0)
        }
    }
}

@Suite struct RandomTests {
    @Test func sameSeedSameStreamAndDifferentSeedsDiffer() {
        var a = RandomGenerator(seed: 42), b = RandomGenerator(seed: 42), c = RandomGenerator(seed: 43)
        let xa = (0 ..< 100).map { _ in a.next() }
        let xb = (0 ..< 100).map { _ in b.next() }
        let xc = (0 ..< 100).map { _ in c.next() }
        #expect(xa == xb)
        #expect(xa != xc)
    }

    @Test func xoshiroMatchesTheReferenceStream() throws {
        // Reference: xoshiro256** from state {1, 2, 3, 4} (Vigna's C code) gives 11520, 0, 1509978240, 1215971899390074240.
        var g = try RandomGenerator(state: .init(s: [1, 2, 3, 4], spareGaussian: nil))
        #expect(g.next() == 11520)
        #expect(g.next() == 0)
        #expect(g.next() == 1_509_978_240)
        #expect(g.next() == 1_215_971_899_390_074_240)
    }

    @Test func stateResumesExactlyIncludingTheSpareGaussian() throws {
        var g = RandomGenerator(seed: 9)
        _ = g.gaussian() // leaves a spare
        let saved = g.state
        #expect(saved.spareGaussian != nil)
        let expected = (0 ..< 10).map { _ in g.gaussian() }
        var resumed = try RandomGenerator(state: saved)
        #expect((0 ..< 10).map { _ in resumed.gaussian() } == expected)
    }

    @Test func rejectsABadState() {
        let e = reflexError { _ = try RandomGenerator(state: .init(s: [0, 0, 0, 0], spareGaussian: nil)) }
        #expect(e?.code == .invalidArgument)
    }

    @Test func gaussianAndUniformHaveTheRightMoments() {
        var g = RandomGenerator(seed: 1)
        let n = 200_000
        var sum = 0.0, sq = 0.0, usum = 0.0
        var umin = 1.0, umax = 0.0
        for _ in 0 ..< n {
            let z = g.gaussian()
            sum += z
            sq += z * z
            let u = g.uniform()
            usum += u
            umin = min(umin, u)
            umax = max(umax, u)
        }
        // Standard errors: mean 1/sqrt(n) ≈ 0.0022, variance ≈ 0.0032; 5 sigma bounds.
        #expect(abs(sum / Double(n)) < 0.012)
        #expect(abs(sq / Double(n) - 1) < 0.016)
        #expect(abs(usum / Double(n) - 0.5) < 0.004)
        #expect(umin >= 0 && umax < 1)
    }

    @Test func indexBelowCoversTheRangeUniformly() {
        var g = RandomGenerator(seed: 3)
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0 ..< 70000 { counts[g.index(below: 7)] += 1 }
        #expect(counts.allSatisfy { abs($0 - 10000) < 500 })
    }
}

@Suite struct StatisticsTests {
    @Test func wilsonIntervalMatchesTheTextbookValue() {
        // 80 of 100: Wilson 95% interval is (0.7111, 0.8666).
        let (lo, hi) = Statistics.wilsonInterval(successes: 80, trials: 100)
        #expect(abs(lo - 0.7111) < 1e-3)
        #expect(abs(hi - 0.8666) < 1e-3)
    }

    @Test func quantilesInterpolateLikeNumpy() {
        #expect(Statistics.median([3, 1, 2, 4]) == 2.5)
        #expect(Statistics.quantile([0, 10], 0.9) == 9)
    }
}
