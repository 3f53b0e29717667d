#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Summary statistics used in reports and benchmarks.
public enum Statistics {
    /// The q-quantile (0…1) of `values` by linear interpolation between order statistics (numpy's default).
    public static func quantile(_ values: [Double], _ q: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let pos = q * Double(sorted.count - 1)
        let lo = Int(pos.rounded(.down)), hi = Int(pos.rounded(.up))
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - Double(lo))
    }

    public static func median(_ values: [Double]) -> Double { quantile(values, 0.5) }

    public static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
    }

    /// Sample standard deviation (n − 1).
    public static func standardDeviation(_ values: [Double]) -> Double {
        guard values.count > 1 else { return 0 }
        let m = mean(values)
        return (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
    }

    /// Wilson score interval for a binomial proportion (successes of n trials), z = 1.96 for 95%.
    public static func wilsonInterval(successes: Int, trials: Int, z: Double = 1.959964) -> (low: Double, high: Double) {
        guard trials > 0 else { return (0, 1) }
        let n = Double(trials), p = Double(successes) / n
        let denom = 1 + z * z / n
        let center = (p + z * z / (2 * n)) / denom
        let half = z * ((p * (1 - p) / n + z * z / (4 * n * n)).squareRoot()) / denom
        return (max(0, center - half), min(1, center + half))
    }
}

/// A monotonic clock reading in nanoseconds (CLOCK_MONOTONIC).
/// - Note: Real-time safe.
public func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
