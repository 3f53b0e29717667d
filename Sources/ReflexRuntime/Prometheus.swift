import ReflexRobot

/// Prometheus text exposition (format 0.0.4) of a loop's counters, safety counts and timing histograms.
public enum Prometheus {
    /// Bucket bounds of the timing histograms, in seconds (10 µs … 100 ms, then +Inf).
    public static let bounds: [Double] = [1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1]
    static let nanosecondBounds = bounds.map { UInt64(($0 * 1e9).rounded()) }

    /// Metric names and help of each loop timing.
    static let timingNames: [(LoopMetric, String, String)] = [
        (.periodJitter, "reflex_loop_period_jitter_seconds", "|time between two consecutive wake-ups - period|"),
        (.wakeLatency, "reflex_loop_wake_latency_seconds", "Wake-up time - deadline"),
        (.tickDuration, "reflex_loop_tick_duration_seconds", "Wake-up to the end of the write"),
        (.inferenceLatency, "reflex_inference_latency_seconds", "One predictChunk on the inference worker"),
        (.chunkAge, "reflex_chunk_age_seconds", "Now - time of the observation the executed chunk was conditioned on"),
    ]

    /// Appends one metric family.
    static func family(_ out: inout String, _ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
        out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        for (labels, value) in samples { out += "\(name)\(labels) \(format(value))\n" }
    }

    static func format(_ v: Double) -> String {
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    /// The loop's figures as exposition text; `extra` families (lifecycle, e-stop…) come first.
    /// - Warning: Not real-time safe.
    public static func text(loop: ControlLoop?, extra: String = "") -> String {
        var out = extra
        guard let loop else { return out }
        loop.telemetry.withHistograms { histograms, c, s in
            let counters: [(String, String, Int)] = [
                ("reflex_loop_ticks_total", "Control ticks executed", c.ticks),
                ("reflex_loop_deadline_misses_total", "Ticks that ended after the next deadline", c.deadlineMisses),
                ("reflex_loop_skipped_periods_total", "Periods skipped by re-phasing after overruns", c.skippedPeriods),
                ("reflex_inference_requests_total", "Chunks asked of the inference worker", c.inferenceRequests),
                ("reflex_inference_chunks_total", "Chunks received from the inference worker", c.chunksReceived),
                ("reflex_inference_anytime_chunks_total", "Chunks returned early as the x0 estimate to meet their deadline", c.anytimeChunks),
                ("reflex_loop_no_action_ticks_total", "Ticks without an action (held)", c.noActionTicks),
                ("reflex_robot_read_failures_total", "Reads that failed (no reply, corrupt, non-finite)", c.readFailures),
                ("reflex_robot_write_failures_total", "Writes that failed", c.writeFailures),
            ]
            for (name, help, v) in counters { family(&out, name, "counter", help, [("", Double(v))]) }
            family(&out, "reflex_safety_events_total", "counter", "Ticks or trips per safety event kind", [
                ("{kind=\"position_clamped\"}", Double(s.positionClamped)),
                ("{kind=\"step_limited\"}", Double(s.stepLimited)),
                ("{kind=\"non_finite_action\"}", Double(s.nonFiniteActions)),
                ("{kind=\"no_action\"}", Double(s.noAction)),
                ("{kind=\"stale_state\"}", Double(s.staleReads)),
                ("{kind=\"watchdog\"}", Double(s.watchdogTrips)),
                ("{kind=\"emergency_stop\"}", Double(s.emergencyStops)),
                ("{kind=\"servo_fault\"}", Double(s.servoFaultStops)),
            ])
            for (metric, name, help) in timingNames {
                let h = histograms[metric.rawValue]
                var samples: [(String, Double)] = []
                for (b, n) in zip(bounds, h.count(atOrBelow: nanosecondBounds)) { samples.append(("_bucket{le=\"\(b)\"}", Double(n))) }
                samples.append(("_bucket{le=\"+Inf\"}", Double(h.totalCount)))
                samples.append(("_sum", h.sum * 1e-9))
                samples.append(("_count", Double(h.totalCount)))
                out += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
                for (suffix, v) in samples { out += "\(name)\(suffix) \(format(v))\n" }
            }
        }
        return out
    }
}
