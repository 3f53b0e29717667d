// A per-bus retry budget: a bus that needs more retries than this in a window is broken (a loose cable, a second
// device answering, a wrong baud rate), and an arm on it stops commanding motion instead of retrying forever.

/// At most `retries` bus retries in any fixed window of `windowSeconds`; more and the arm stops commanding
/// motion until it is activated again (or the next episode starts).
public struct BusRetryBudget: Sendable, Codable, Equatable {
    public var retries: Int
    public var windowSeconds: Double

    public init(retries: Int, windowSeconds: Double) {
        self.retries = retries
        self.windowSeconds = windowSeconds
    }

    /// 50 retries in 5 s: at 100 Hz one tick in ten needing a retry for five seconds running.
    public static let standard = BusRetryBudget(retries: 50, windowSeconds: 5)

    enum CodingKeys: String, CodingKey {
        case retries
        case windowSeconds = "window_seconds"
    }

    /// Why this budget cannot be used, or nil.
    public var problem: String? {
        guard retries >= 0 else { return "retries must be ≥ 0, got \(retries)" }
        guard windowSeconds > 0, windowSeconds <= 3600 else { return "window_seconds must be in (0, 3600], got \(windowSeconds)" }
        return nil
    }
}

/// The budget's state on the loop's thread: fixed windows, counted from the bus's own retry counter.
struct RetryBudgetTracker {
    var windowStart: UInt64 = 0
    var retriesAtStart = 0
    /// Retries in the window when the budget ran out (0: it has not).
    var exhaustedWith = 0

    var exhausted: Bool { exhaustedWith > 0 }

    /// Starts a fresh window (activate, a new episode).
    mutating func reset(now: UInt64, retries: Int) {
        windowStart = now
        retriesAtStart = retries
        exhaustedWith = 0
    }

    /// True when this call found the budget newly exhausted.
    /// - Note: Real-time safe.
    mutating func check(_ budget: BusRetryBudget, retries: Int, now: UInt64) -> Bool {
        guard !exhausted else { return false }
        let used = retries - retriesAtStart
        if used > budget.retries {
            exhaustedWith = used
            return true
        }
        if Double(now &- windowStart) * 1e-9 >= budget.windowSeconds {
            windowStart = now
            retriesAtStart = retries
        }
        return false
    }
}
