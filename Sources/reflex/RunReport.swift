import Foundation
import ReflexRuntime

/// Prints a loop's figures as the table `reflex run` and `reflex bench loop` show at the end.
func loopTable(_ s: LoopSnapshot) -> String {
    let rows: [(String, LoopMetric)] = [("period jitter", .periodJitter), ("wake latency", .wakeLatency),
                                        ("tick duration", .tickDuration), ("inference latency", .inferenceLatency),
                                        ("chunk age", .chunkAge)]
    return table(["µs", "count", "p50", "p99", "p99.9", "max"], rows.compactMap { name, m in
        guard let h = s.timings[m.description] else { return nil }
        return [name, "\(h.count)", fmt(h.p50, 1), fmt(h.p99, 1), fmt(h.p999, 1), fmt(h.max, 1)]
    })
}

/// One line of counts: ticks, misses, chunks, holds, faults.
func loopCounts(_ s: LoopSnapshot) -> String {
    let c = s.counters, f = s.safety
    var parts = ["\(c.ticks) ticks", "\(c.deadlineMisses) deadline misses (\(c.skippedPeriods) periods skipped)",
                 "\(c.chunksReceived) chunks", "\(c.noActionTicks) ticks without an action"]
    if c.anytimeChunks > 0 { parts.append("\(c.anytimeChunks) chunks returned early (anytime denoising)") }
    if c.readFailures > 0 { parts.append("\(c.readFailures) failed reads") }
    if c.writeFailures > 0 { parts.append("\(c.writeFailures) failed writes") }
    if c.featureHolds > 0 { parts.append("\(c.featureHolds) ticks held for missing or stale task features") }
    if f.watchdogTrips > 0 { parts.append("\(f.watchdogTrips) watchdog trips") }
    if f.emergencyStops > 0 { parts.append("emergency stop") }
    if f.servoFaultStops > 0 { parts.append("servo fault stop") }
    if f.positionClamped > 0 { parts.append("\(f.positionClamped) ticks position-clamped") }
    if f.stepLimited > 0 { parts.append("\(f.stepLimited) ticks rate-limited") }
    if f.nonFiniteActions > 0 { parts.append("\(f.nonFiniteActions) NaN actions held") }
    return parts.joined(separator: ", ")
}

/// Writes `value` as one line of sorted-key JSON on standard output.
func printJSON<T: Encodable>(_ value: T) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    print(String(decoding: try enc.encode(value), as: UTF8.self))
}
