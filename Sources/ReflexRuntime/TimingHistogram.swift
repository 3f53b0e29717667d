/// A histogram of nanosecond timings in HdrHistogram's layout at three significant digits: values below 2,048 ns
/// counted exactly, larger ones in 1,024 sub-buckets per power of two (a bucket is at most 1/1,024 of its value
/// wide). Minimum, maximum and mean are exact; percentiles are the highest value of the bucket they fall in, clamped
/// to the exact extremes, as HdrHistogram's `valueAtPercentile` gives them.
///
/// Reflex's own rather than hdrhistogram-swift's: that package's generic `Histogram<Count>` runs unspecialized across
/// the module boundary (witness-table calls for every bucket), so summarizing the loop's five histograms took about
/// 30 ms — perf showed the daemon's status requests spending their time there, and a status or a stream frame during
/// an episode cost a third of a core. Here the counts are one `[UInt64]` sized at init, a summary is one pass over it.
struct TimingHistogram: Sendable {
    /// Values below this are counted exactly (2 × 1,024: three significant digits, as HdrHistogram rounds them).
    static let exactBelow: UInt64 = 2048
    /// Largest value kept; anything above is recorded as this.
    let highest: UInt64
    private(set) var counts: [UInt64]
    private(set) var totalCount: UInt64 = 0
    private(set) var minValue: UInt64 = .max
    private(set) var maxValue: UInt64 = 0
    private(set) var sum: Double = 0

    init(highest: UInt64) {
        self.highest = highest
        counts = Array(repeating: 0, count: Self.index(of: highest) + 1)
    }

    /// The bucket of `v`: itself below 2,048, then 1,024 buckets per power of two.
    @inline(__always)
    static func index(of v: UInt64) -> Int {
        if v < exactBelow { return Int(v) }
        let shift = 53 - v.leadingZeroBitCount // v >> shift is in 1,024 ..< 2,048
        return Int(exactBelow) + (shift - 1) * 1024 + Int(v >> UInt64(shift)) - 1024
    }

    /// The highest value that falls in bucket `i`.
    static func highestValue(ofBucket i: Int) -> UInt64 {
        if i < Int(exactBelow) { return UInt64(i) }
        let j = i - Int(exactBelow), shift = UInt64(j / 1024 + 1)
        return (UInt64(j % 1024 + 1024) << shift) + (1 << shift) - 1
    }

    /// - Note: Real-time safe.
    @inline(__always)
    mutating func record(_ value: UInt64) {
        let v = Swift.min(value, highest)
        counts.withUnsafeMutableBufferPointer { $0[Self.index(of: v)] &+= 1 }
        totalCount &+= 1
        if v < minValue { minValue = v }
        if v > maxValue { maxValue = v }
        sum += Double(v)
    }

    /// - Note: Real-time safe.
    mutating func reset() {
        counts.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        totalCount = 0
        minValue = .max
        maxValue = 0
        sum = 0
    }

    var mean: Double { totalCount == 0 ? 0 : sum / Double(totalCount) }

    /// The value at each percentile of `percentiles` (ascending, in 0...100), in one pass: the largest value that
    /// `100 − p` per cent of the samples are at or above, to the bucket's resolution; 0 when nothing was recorded.
    func values(atPercentiles percentiles: [Double]) -> [UInt64] {
        guard totalCount > 0 else { return percentiles.map { _ in 0 } }
        var out: [UInt64] = []
        out.reserveCapacity(percentiles.count)
        var cumulative: UInt64 = 0, i = 0
        counts.withUnsafeBufferPointer { c in
            for p in percentiles {
                if p <= 0 { out.append(minValue); continue }
                if p >= 100 { out.append(maxValue); continue }
                // One ulp below, as HdrHistogram does, so that p × count landing on an integer is not rounded past it.
                let target = Swift.max(1, UInt64((p.nextDown * Double(totalCount) / 100).rounded(.up)))
                while cumulative + c[i] < target { cumulative += c[i]; i += 1 }
                out.append(Swift.max(Swift.min(Self.highestValue(ofBucket: i), maxValue), minValue))
            }
        }
        return out
    }

    /// How many samples fall in buckets at or below `bound`'s (cumulative counts for Prometheus' `le` buckets).
    func count(atOrBelow bounds: [UInt64]) -> [UInt64] {
        var out: [UInt64] = []
        out.reserveCapacity(bounds.count)
        var cumulative: UInt64 = 0, next = 0
        counts.withUnsafeBufferPointer { c in
            for b in bounds {
                let last = Self.index(of: Swift.min(b, highest))
                while next <= last { cumulative += c[next]; next += 1 }
                out.append(cumulative)
            }
        }
        return out
    }
}
