import Synchronization

/// A lock-free single-producer/single-consumer "latest value" handover: the producer fills the back slot and
/// publishes it; the consumer takes the newest published slot, never waiting and never seeing a half-written one.
/// Three slots so that neither side ever waits for the other: one being written, one being read, one in the middle.
/// Slots are made once (reference types with preallocated storage); values the consumer skipped are simply dropped.
public final class TripleBuffer<Slot: AnyObject>: @unchecked Sendable {
    private let slots: [Slot]
    /// Index of the middle slot, with `dirty` set while it holds a value the consumer has not taken.
    private let middle = Atomic<UInt8>(1)
    private static var dirty: UInt8 { 4 }
    /// Owned by the producer.
    private var back = 0
    /// Owned by the consumer.
    private var front = 2

    public init(_ make: () -> Slot) {
        slots = [make(), make(), make()]
    }

    /// The slot the producer fills next.
    /// - Note: Real-time safe.
    public var writable: Slot { slots[back] }

    /// Publishes the filled slot (producer).
    /// - Note: Real-time safe.
    public func publish() {
        let old = middle.exchange(UInt8(back) | Self.dirty, ordering: .acquiringAndReleasing)
        back = Int(old & 3)
    }

    /// The newest published slot if one arrived since the last call, else nil (consumer).
    /// - Note: Real-time safe.
    public func consume() -> Slot? {
        guard middle.load(ordering: .acquiring) & Self.dirty != 0 else { return nil }
        let old = middle.exchange(UInt8(front), ordering: .acquiringAndReleasing)
        front = Int(old & 3)
        return slots[front]
    }

    /// The slot the consumer took last.
    /// - Note: Real-time safe.
    public var current: Slot { slots[front] }
}
