// The byte stream a servo bus talks over: a serial port, a pseudo-terminal, or an in-memory link in tests.

/// A half-duplex byte stream to a chain of servos.
///
/// Buses only need these three verbs, so the same `FeetechBus`/`DynamixelBus` code runs over a `SerialPort`, a
/// pseudo-terminal to the emulator, or `LoopbackTransport` straight into a `ServoBusEmulator`.
public protocol ServoTransport: AnyObject {
    /// Writes all of `bytes` (blocking until the kernel took them).
    /// - Note: Real-time safe.
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// Reads what is available into `buffer`, waiting at most until `deadline` (``monotonicNanoseconds()``).
    /// Returns the number of bytes read; 0 means the deadline passed with nothing to read.
    /// - Note: Real-time safe.
    func read(into buffer: UnsafeMutableRawBufferPointer, deadline: UInt64) throws -> Int
    /// Throws away bytes received but not yet read (a late reply from an earlier request, line noise).
    /// - Note: Real-time safe.
    func discardInput()
}

extension ServoTransport {
    /// Writes an array's bytes.
    /// - Note: Real-time safe (no copy).
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }
}
