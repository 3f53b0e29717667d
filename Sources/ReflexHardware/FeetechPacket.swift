// Feetech STS/SCS packets: `FF FF id len instr params checksum` with len = params + 2 and
// checksum = ~(id + len + instr + params) & 0xFF. Status packets carry the error byte in place of instr.

/// Encoding of Feetech instruction packets into a preallocated `PacketBuffer` (pure functions).
public enum FeetechPacket {
    /// Instruction codes (Feetech `INST_*`).
    public enum Instruction: UInt8, Sendable {
        case ping = 0x01, read = 0x02, write = 0x03, regWrite = 0x04, action = 0x05
        case syncRead = 0x82, syncWrite = 0x83
    }
    /// Everyone listens; no one answers (except to sync read).
    public static let broadcastID: UInt8 = 0xFE
    /// The vendor SDK's limit on a whole packet.
    public static let maxPacketLength = 250

    /// Starts a packet: header, id, a placeholder length and the instruction (or status error byte).
    /// - Note: Real-time safe.
    @inline(__always)
    public static func begin(_ out: inout PacketBuffer, id: UInt8, instruction: UInt8) {
        out.reset()
        out.append(0xFF); out.append(0xFF); out.append(id); out.append(0); out.append(instruction)
    }

    /// Fills in the length and appends the checksum. Returns false if the packet overflowed or is too long.
    /// - Note: Real-time safe.
    @inline(__always) @discardableResult
    public static func finish(_ out: inout PacketBuffer) -> Bool {
        let length = out.count - 3 // id and len excluded, checksum included: instr + params + 1
        guard !out.overflowed, out.count + 1 <= maxPacketLength, length <= 255 else { return false }
        out[3] = UInt8(length)
        var sum: UInt32 = 0
        for i in 2 ..< out.count { sum &+= UInt32(out[i]) }
        out.append(~UInt8(truncatingIfNeeded: sum))
        return !out.overflowed
    }

    /// `~sum & 0xFF` over `bytes` (id through the last parameter).
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt8 {
        var sum: UInt32 = 0
        for b in bytes { sum &+= UInt32(b) }
        return ~UInt8(truncatingIfNeeded: sum)
    }

    /// PING: `FF FF id 02 01 sum`.
    public static func ping(_ out: inout PacketBuffer, id: UInt8) {
        begin(&out, id: id, instruction: Instruction.ping.rawValue)
        finish(&out)
    }

    /// READ `length` bytes from `address`.
    public static func read(_ out: inout PacketBuffer, id: UInt8, address: UInt8, length: UInt8) {
        begin(&out, id: id, instruction: Instruction.read.rawValue)
        out.append(address); out.append(length)
        finish(&out)
    }

    /// WRITE `value` as `width` little-endian bytes at `address`.
    public static func write(_ out: inout PacketBuffer, id: UInt8, address: UInt8, value: UInt32, width: Int) {
        begin(&out, id: id, instruction: Instruction.write.rawValue)
        out.append(address)
        out.append(littleEndian: value, width: width)
        finish(&out)
    }

    /// WRITE raw bytes at `address`.
    public static func write(_ out: inout PacketBuffer, id: UInt8, address: UInt8, data: UnsafeRawBufferPointer) {
        begin(&out, id: id, instruction: Instruction.write.rawValue)
        out.append(address)
        for b in data { out.append(b) }
        finish(&out)
    }

    /// A status packet (what a servo sends back): `FF FF id len error params sum`.
    public static func status(_ out: inout PacketBuffer, id: UInt8, error: UInt8, parameters: UnsafeRawBufferPointer) {
        begin(&out, id: id, instruction: error)
        for b in parameters { out.append(b) }
        finish(&out)
    }
}
