import Logging
import ReflexRuntime
import ReflexCore

/// The daemon's one consumer of the loop's event ring: drains it, logs each event through swift-log, and keeps the
/// latest ones (numbered) for `/v1/status` and the stream. The loop's ring has a single consumer; every drain goes
/// through this object's lock.
public final class EventFeed: Sendable {
    public struct Entry: Sendable, Codable, Equatable {
        /// Increasing number of the event since the daemon started.
        public var seq: Int
        /// `monotonicNanoseconds()` when it was drained.
        public var time: UInt64
        public var kind: String
        public var text: String
    }

    struct State {
        var entries: [Entry] = []
        var next = 0
        var counts: [String: Int] = [:]
    }

    private let state = PIMutex(State())
    private let capacity: Int
    private let logger: Logger

    public init(capacity: Int = 200, logger: Logger) {
        self.capacity = capacity
        self.logger = logger
    }

    /// Drains `loop`'s events (call from any thread; serialized here).
    public func drain(_ loop: ControlLoop?, now: UInt64) {
        guard let loop else { return }
        state.withLock { s in
            loop.events.drain { event in
                let kind = Self.kindName(event.kind)
                let entry = Entry(seq: s.next, time: now, kind: kind, text: event.description)
                s.next += 1
                s.counts[kind, default: 0] += 1
                s.entries.append(entry)
                if s.entries.count > capacity { s.entries.removeFirst(s.entries.count - capacity) }
                switch event.kind {
                case .deadlineMiss, .robotFault, .torqueOff, .safetyBegan: logger.warning("\(event.description)", metadata: ["event": "\(kind)"])
                default: logger.info("\(event.description)", metadata: ["event": "\(kind)"])
                }
            }
        }
    }

    /// Adds a daemon-side event (an API action such as an e-stop or a policy switch).
    public func note(_ kind: String, _ text: String, now: UInt64) {
        state.withLock { s in
            s.entries.append(Entry(seq: s.next, time: now, kind: kind, text: text))
            s.next += 1
            s.counts[kind, default: 0] += 1
            if s.entries.count > capacity { s.entries.removeFirst(s.entries.count - capacity) }
        }
        logger.notice("\(text)", metadata: ["event": "\(kind)"])
    }

    /// Events numbered `after + 1` onward (at most `limit`, newest kept).
    public func entries(after: Int = -1, limit: Int = 50) -> [Entry] {
        state.withLock { s in Array(s.entries.filter { $0.seq > after }.suffix(limit)) }
    }

    /// Events seen per kind since the daemon started.
    public var counts: [String: Int] { state.withLock { $0.counts } }

    static func kindName(_ k: LoopEvent.Kind) -> String {
        switch k {
        case .safetyBegan: return "safety_began"
        case .safetyEnded: return "safety_ended"
        case .deadlineMiss: return "deadline_miss"
        case .torqueOff: return "torque_off"
        case .firstChunk: return "first_chunk"
        case .robotFault: return "robot_fault"
        case .policySwitch: return "policy_switch"
        case .featuresLost: return "features_lost"
        case .featuresBack: return "features_back"
        }
    }
}
