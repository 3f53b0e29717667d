import ReflexCore

/// Per-call times of a body run in rounds; rounds absorb the noise of a shared machine, and the median of
/// round means is the figure a benchmark reports, with the 10th–90th percentile spread beside it.
struct TimingSamples: Codable {
    /// Mean time per call in each round, in microseconds.
    var roundMicros: [Double]
    var median: Double { Statistics.median(roundMicros) }
    var p10: Double { Statistics.quantile(roundMicros, 0.1) }
    var p90: Double { Statistics.quantile(roundMicros, 0.9) }

    var summary: [String: Double] { ["median_us": median, "p10_us": p10, "p90_us": p90] }
}

/// Runs `body` `warmup` times, then `rounds` rounds of `calls` calls, timing each round.
func measure(warmup: Int, rounds: Int, calls: Int, _ body: () -> Void) -> TimingSamples {
    for _ in 0 ..< warmup { body() }
    var out: [Double] = []
    for _ in 0 ..< rounds {
        let t0 = monotonicNanoseconds()
        for _ in 0 ..< calls { body() }
        let t1 = monotonicNanoseconds()
        out.append(Double(t1 - t0) / 1000 / Double(calls))
    }
    return TimingSamples(roundMicros: out)
}

/// Formats rows as an aligned text table.
func table(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    let widths = (0 ..< header.count).map { c in all.map { $0[c].count }.max() ?? 0 }
    func line(_ r: [String]) -> String {
        zip(r, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
    }
    return ([line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line))
        .joined(separator: "\n")
}

func fmt(_ x: Double, _ digits: Int = 2) -> String {
    let p = pow10(digits)
    return "\((x * p).rounded() / p)"
}

private func pow10(_ n: Int) -> Double { (0 ..< n).reduce(1.0) { r, _ in r * 10 } }
