import ReflexCore
import ReflexRobot

/// The timings a control loop records per tick, each into a `TimingHistogram` (nanoseconds, 3 significant digits).
public enum LoopMetric: Int, CaseIterable, Sendable, Codable, CustomStringConvertible {
    /// |time between two consecutive wake-ups − period|: how evenly commands go out.
    case periodJitter
    /// Wake-up time − deadline: the scheduler's lateness.
    case wakeLatency
    /// Wake-up to the end of the write: the tick's own cost.
    case tickDuration
    /// One `predictChunk` on the worker.
    case inferenceLatency
    /// Now − the time of the observation the executed chunk was conditioned on.
    case chunkAge

    public var description: String {
        switch self {
        case .periodJitter: return "period_jitter"
        case .wakeLatency: return "wake_latency"
        case .tickDuration: return "tick_duration"
        case .inferenceLatency: return "inference_latency"
        case .chunkAge: return "chunk_age"
        }
    }
}

/// Counts the loop keeps; faults by kind are in `SafetyCounters` beside them.
public struct LoopCounters: Sendable, Codable, Equatable {
    public var ticks = 0
    /// Ticks that ended after the next deadline (the loop then re-phases to the next free slot).
    public var deadlineMisses = 0
    /// Periods skipped by re-phasing.
    public var skippedPeriods = 0
    public var inferenceRequests = 0
    public var chunksReceived = 0
    /// Chunks the sampler returned early, as its x₀ estimate, to meet their deadline (anytime denoising).
    public var anytimeChunks = 0
    /// Ticks with no action to take (no chunk yet, or the chunk ran out): the safety layer held.
    public var noActionTicks = 0
    public var readFailures = 0
    public var writeFailures = 0
    /// Ticks held because the task features (a camera's estimate) were missing or stale.
    public var featureHolds = 0
    /// Telemetry samples lost because the reader held the lock for too long (should stay 0).
    public var droppedSamples = 0
    public init() {}
}

/// A histogram's figures in microseconds.
public struct HistogramSummary: Sendable, Codable, Equatable {
    public var count: UInt64
    public var min: Double
    public var mean: Double
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var p999: Double
    public var max: Double

    init(_ h: TimingHistogram) {
        count = h.totalCount
        let us = { (v: UInt64) in Double(v) / 1000 }
        let p = h.values(atPercentiles: [50, 90, 99, 99.9])
        min = count == 0 ? 0 : us(h.minValue)
        mean = h.mean / 1000
        p50 = us(p[0])
        p90 = us(p[1])
        p99 = us(p[2])
        p999 = us(p[3])
        max = us(h.maxValue)
    }
}

/// Everything a reader (CLI, daemon, test) sees of a running loop at one moment.
public struct LoopSnapshot: Sendable, Codable, Equatable {
    public var counters: LoopCounters
    public var safety: SafetyCounters
    public var mode: SafetyLayer.Mode
    /// Safety events of the latest tick.
    public var events: [String]
    /// Keyed by `LoopMetric.description`.
    public var timings: [String: HistogramSummary]
}

/// The loop's telemetry: the loop thread records into a small pending buffer and flushes it into the shared
/// histograms under a try-lock at the end of each tick, so a reader holding the lock delays the figures, never the
/// tick. Readers compute summaries inside the lock and copy out only numbers (copying a histogram out would make
/// the loop's next record reallocate it).
final class LoopTelemetry: @unchecked Sendable {
    struct Shared {
        var histograms: [TimingHistogram]
        var counters = LoopCounters()
        var safety = SafetyCounters()
        var mode = SafetyLayer.Mode.waiting
        var events: SafetyEvents = []
    }

    /// Largest value kept (10 s); anything above is recorded as this.
    static let highest: UInt64 = 10_000_000_000
    private let shared: PIMutex<Shared>
    private let pendingMetric: UnsafeMutableBufferPointer<UInt8>
    private let pendingValue: UnsafeMutableBufferPointer<UInt64>
    private var pendingCount = 0
    /// Loop-local counters, published with each flush.
    var counters = LoopCounters()

    init(pendingCapacity: Int = 4096) {
        let hist = TimingHistogram(highest: Self.highest)
        shared = PIMutex(Shared(histograms: Array(repeating: hist, count: LoopMetric.allCases.count)))
        pendingMetric = .allocate(capacity: pendingCapacity)
        pendingValue = .allocate(capacity: pendingCapacity)
        pendingMetric.initialize(repeating: 0)
        pendingValue.initialize(repeating: 0)
        // Touch every histogram's storage now so none is shared copy-on-write when the loop first records.
        shared.withLock { s in for i in s.histograms.indices { s.histograms[i].reset() } }
    }

    deinit {
        pendingMetric.deallocate()
        pendingValue.deallocate()
    }

    /// - Note: Real-time safe.
    @inline(__always)
    func record(_ metric: LoopMetric, _ nanoseconds: UInt64) {
        guard pendingCount < pendingMetric.count else {
            counters.droppedSamples += 1
            return
        }
        pendingMetric[pendingCount] = UInt8(metric.rawValue)
        pendingValue[pendingCount] = nanoseconds // the histogram clamps to its highest
        pendingCount += 1
    }

    /// Flushes pending samples and publishes counters if the lock is free; otherwise keeps them for next time.
    /// - Note: Real-time safe.
    func flush(safety: SafetyCounters, mode: SafetyLayer.Mode, events: SafetyEvents) {
        let n = pendingCount
        let local = counters
        let flushed: Bool? = shared.withLockIfAvailable { s in
            for k in 0 ..< n { s.histograms[Int(pendingMetric[k])].record(pendingValue[k]) }
            s.counters = local
            s.safety = safety
            s.mode = mode
            s.events = events
            return true
        }
        if flushed != nil { pendingCount = 0 }
    }

    /// Clears everything (a new run).
    /// - Warning: Not real-time safe.
    func reset() {
        pendingCount = 0
        counters = LoopCounters()
        shared.withLock { s in
            for i in s.histograms.indices { s.histograms[i].reset() }
            s.counters = LoopCounters()
            s.safety = SafetyCounters()
            s.events = []
        }
    }

    /// - Warning: Not real-time safe.
    func snapshot() -> LoopSnapshot {
        shared.withLock { s in
            var timings: [String: HistogramSummary] = [:]
            for m in LoopMetric.allCases { timings[m.description] = HistogramSummary(s.histograms[m.rawValue]) }
            return LoopSnapshot(counters: s.counters, safety: s.safety, mode: s.mode, events: s.events.names, timings: timings)
        }
    }

    /// Reads the histograms in place under the lock (Prometheus exposition); `body` must not keep them.
    /// - Warning: Not real-time safe.
    func withHistograms<T>(_ body: ([TimingHistogram], LoopCounters, SafetyCounters) -> T) -> T {
        shared.withLock { s in body(s.histograms, s.counters, s.safety) }
    }
}
