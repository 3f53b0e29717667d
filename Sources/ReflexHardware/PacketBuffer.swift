// A fixed-capacity byte buffer for building one packet: made once, reused every tick, never grows.

/// Bytes of one outgoing packet. Appending past the capacity is refused (the encoder reports it), so a
/// hot-path encode never reallocates.
public struct PacketBuffer: Sendable {
    @usableFromInline var storage: [UInt8]
    /// Bytes written so far.
    public private(set) var count: Int = 0
    /// Set when an append did not fit (the packet is then invalid).
    public private(set) var overflowed = false

    /// A buffer holding up to `capacity` bytes.
    /// - Warning: Not real-time safe (allocates once).
    public init(capacity: Int) {
        storage = [UInt8](repeating: 0, count: capacity)
    }

    public var capacity: Int { storage.count }

    /// Empties the buffer.
    /// - Note: Real-time safe.
    @inline(__always) public mutating func reset() {
        count = 0
        overflowed = false
    }

    /// Appends one byte.
    /// - Note: Real-time safe.
    @inline(__always) public mutating func append(_ byte: UInt8) {
        guard count < storage.count else { overflowed = true; return }
        storage[count] = byte
        count += 1
    }

    /// Appends `width` bytes of `value`, little-endian.
    /// - Note: Real-time safe.
    @inline(__always) public mutating func append(littleEndian value: UInt32, width: Int) {
        for i in 0 ..< width { append(UInt8(truncatingIfNeeded: value >> UInt32(8 * i))) }
    }

    /// The byte at `index` (< count).
    @inline(__always) public subscript(index: Int) -> UInt8 {
        get { storage[index] }
        set { storage[index] = newValue }
    }

    /// Sets the count directly (for encoders that expand in place); must stay within capacity.
    @inline(__always) mutating func setCount(_ n: Int) { count = min(n, storage.count) }

    /// The written bytes, for a transport write.
    /// - Note: Real-time safe.
    @inline(__always) public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0 ..< count])) }
    }

    /// A copy of the written bytes.
    /// - Warning: Not real-time safe.
    public var bytes: [UInt8] { Array(storage[0 ..< count]) }
}
