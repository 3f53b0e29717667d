#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore
import Testing

@testable import ReflexRuntime

@Suite struct TimingHistogramTests {
    /// Every value lands in a bucket that holds it, buckets follow each other without gaps, and no bucket is wider
    /// than 1/1,024 of its values (three significant digits).
    @Test func bucketsTileTheRangeAtThreeSignificantDigits() {
        var previousHighest: UInt64? = nil
        for i in 0 ... TimingHistogram.index(of: 10_000_000_000) {
            let high = TimingHistogram.highestValue(ofBucket: i)
            let low = previousHighest.map { $0 + 1 } ?? 0
            #expect(TimingHistogram.index(of: low) == i && TimingHistogram.index(of: high) == i, "bucket \(i): \(low)...\(high)")
            #expect(high - low <= max(low / 1024, 0) + 1, "bucket \(i) is \(high - low + 1) wide at \(low)")
            previousHighest = high
        }
        #expect(TimingHistogram.index(of: 2047) == 2047 && TimingHistogram.index(of: 2048) == 2048)
    }

    /// Against the samples themselves, sorted: count, min, max and mean exact; each percentile the highest value
    /// of the bucket holding the sample at that rank (HdrHistogram's definition); Prometheus' cumulative counts
    /// between the exact count at the bound and the count at its bucket's top.
    @Test func summaryAgreesWithTheSortedSamples() {
        var gen = RandomGenerator(seed: 5)
        for trial in 0 ..< 4 {
            var h = TimingHistogram(highest: 10_000_000_000)
            var samples: [UInt64] = []
            for _ in 0 ..< 5_000 + 3_000 * trial {
                // Log-uniform from 1 ns to ~0.1 s, like jitter and inference latencies together.
                let v = UInt64(exp(gen.uniform() * 18.4))
                samples.append(v)
                h.record(v)
            }
            samples.sort()
            let n = UInt64(samples.count)
            #expect(h.totalCount == n && h.minValue == samples.first! && h.maxValue == samples.last!)
            let exactMean = samples.reduce(0.0) { $0 + Double($1) } / Double(n)
            #expect(abs(h.mean - exactMean) <= exactMean * 1e-12)
            let ps = [0.0, 1, 50, 90, 99, 99.9, 100]
            for (p, got) in zip(ps, h.values(atPercentiles: ps)) {
                let rank = max(1, Int((p.nextDown * Double(n) / 100).rounded(.up)))
                let sample = p == 0 ? samples.first! : p == 100 ? samples.last! : samples[rank - 1]
                let expected = p == 0 || p == 100 ? sample
                    : min(TimingHistogram.highestValue(ofBucket: TimingHistogram.index(of: sample)), samples.last!)
                #expect(got == expected, "p\(p): \(got), expected \(expected)")
            }
            let bounds: [UInt64] = [10_000, 25_000, 1_000_000, 50_000_000]
            for (b, got) in zip(bounds, h.count(atOrBelow: bounds)) {
                let top = TimingHistogram.highestValue(ofBucket: TimingHistogram.index(of: b))
                let atBound = UInt64(samples.filter { $0 <= b }.count), atTop = UInt64(samples.filter { $0 <= top }.count)
                #expect(got >= atBound && got <= atTop, "≤ \(b): \(got), exact \(atBound)…\(atTop)")
            }
        }
    }

    @Test func emptyAndClampedAndReset() {
        var h = TimingHistogram(highest: 1_000_000)
        #expect(h.values(atPercentiles: [50, 99]) == [0, 0] && h.mean == 0 && h.totalCount == 0)
        h.record(5_000_000) // above the highest: kept as the highest
        #expect(h.maxValue == 1_000_000 && h.values(atPercentiles: [50]) == [1_000_000])
        h.record(0)
        #expect(h.minValue == 0 && h.values(atPercentiles: [0, 50, 100]) == [0, 0, 1_000_000])
        h.reset()
        #expect(h.totalCount == 0 && h.count(atOrBelow: [2_000_000]) == [0] && h.maxValue == 0)
    }
}
