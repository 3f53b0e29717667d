import ReflexRobot
import Synchronization

/// Something the loop wants a person to know about: a safety event starting or ending, a deadline miss, a fault.
public struct LoopEvent: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: UInt8, Sendable {
        /// Safety events that began this tick (`events`), with the robot status behind them.
        case safetyBegan
        /// Safety events that ended this tick.
        case safetyEnded
        /// The tick ended after the next deadline; `value` is the overrun in ns.
        case deadlineMiss
        /// The robot was switched to torque off by the safety layer.
        case torqueOff
        /// The first chunk of a run arrived; `value` is the inference latency in ns.
        case firstChunk
        /// The robot reported faults it had not reported on the previous tick (`status` names them and the joint).
        case robotFault
        /// The loop switched policy (`value` is the new generation) and holds until its first chunk.
        case policySwitch
        /// The task features (a camera's estimate) went missing or stale: the loop holds until they are back.
        case featuresLost
        /// The task features are fresh again; `value` is how many ticks the loop held.
        case featuresBack
    }

    public var kind: Kind
    public var tick: Int64
    public var events: SafetyEvents
    public var status: RobotStatus
    public var value: UInt64

    public var description: String {
        switch kind {
        case .safetyBegan: return "tick \(tick): \(events)\(status == .ok ? "" : " (robot: \(status))")"
        case .safetyEnded: return "tick \(tick): cleared \(events)"
        case .deadlineMiss: return "tick \(tick): deadline missed by \(Double(value) / 1000) µs"
        case .torqueOff: return "tick \(tick): torque off\(status == .ok ? "" : " (robot: \(status))")"
        case .firstChunk: return "tick \(tick): first chunk after \(Double(value) / 1000) µs of inference"
        case .robotFault: return "tick \(tick): robot reports \(status)"
        case .policySwitch: return "tick \(tick): switched to policy generation \(value), holding until its first chunk"
        case .featuresLost: return "tick \(tick): task features missing or stale, holding"
        case .featuresBack: return "tick \(tick): task features back after \(value) ticks held"
        }
    }
}

/// A lock-free single-producer/single-consumer ring of `LoopEvent`s: the loop pushes without waiting (an event is
/// dropped and counted when the ring is full), a logger thread drains them into swift-log or the terminal.
public final class LoopEventLog: @unchecked Sendable {
    private let ring: UnsafeMutableBufferPointer<LoopEvent>
    private let head = Atomic<Int>(0) // next to write (producer)
    private let tail = Atomic<Int>(0) // next to read (consumer)
    private let dropped = Atomic<Int>(0)

    public init(capacity: Int = 1024) {
        ring = .allocate(capacity: max(capacity, 2))
        ring.initialize(repeating: LoopEvent(kind: .deadlineMiss, tick: 0, events: [], status: .ok, value: 0))
    }

    deinit { ring.deallocate() }

    /// - Note: Real-time safe.
    func push(_ event: LoopEvent) {
        let h = head.load(ordering: .relaxed)
        let next = (h + 1) % ring.count
        guard next != tail.load(ordering: .acquiring) else {
            dropped.add(1, ordering: .relaxed)
            return
        }
        ring[h] = event
        head.store(next, ordering: .releasing)
    }

    /// Hands every queued event to `body`, oldest first (one consumer thread).
    public func drain(_ body: (LoopEvent) -> Void) {
        var t = tail.load(ordering: .relaxed)
        while t != head.load(ordering: .acquiring) {
            body(ring[t])
            t = (t + 1) % ring.count
            tail.store(t, ordering: .releasing)
        }
    }

    /// Events lost to a full ring.
    public var droppedCount: Int { dropped.load(ordering: .relaxed) }
}
