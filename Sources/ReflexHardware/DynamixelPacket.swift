// Dynamixel Protocol 2.0 packets: `FF FF FD 00 id lenL lenH instr params crcL crcH`, len = instr + params + 2
// after byte stuffing (an `FD` after `FF FF` inside the body gets a second `FD`), CRC-16 (polynomial 0x8005,
// not reflected, initial value 0) over everything before the CRC, stuffed.

/// Encoding of Dynamixel 2.0 packets into a preallocated `PacketBuffer` (pure functions).
public enum DynamixelPacket {
    /// Instruction codes.
    public enum Instruction: UInt8, Sendable {
        case ping = 0x01, read = 0x02, write = 0x03, regWrite = 0x04, action = 0x05, factoryReset = 0x06
        case reboot = 0x08, clear = 0x10, status = 0x55
        case syncRead = 0x82, syncWrite = 0x83, fastSyncRead = 0x8A, bulkRead = 0x92, bulkWrite = 0x93
    }
    public static let broadcastID: UInt8 = 0xFE
    /// The status packet's alert bit: read Hardware Error Status (address 70) to see why.
    public static let alertBit: UInt8 = 0x80
    /// The status packet's "access error" (7): a read-only register, or EEPROM written with torque on.
    public static let accessError: UInt8 = 7

    /// The CRC-16 table for polynomial 0x8005 (MSB first), computed once.
    static let crcTable: [UInt16] = (0 ..< 256).map { i -> UInt16 in
        var c = UInt16(i) << 8
        for _ in 0 ..< 8 { c = (c & 0x8000) != 0 ? (c << 1) ^ 0x8005 : c << 1 }
        return c
    }

    /// CRC-16/BUYPASS (poly 0x8005, init 0) over `bytes`, continuing from `crc`.
    /// - Note: Real-time safe.
    @inline(__always)
    public static func crc16(_ bytes: UnsafeRawBufferPointer, start crc: UInt16 = 0) -> UInt16 {
        var c = crc
        crcTable.withUnsafeBufferPointer { table in
            for b in bytes {
                c = (c << 8) ^ table[Int(UInt8(truncatingIfNeeded: c >> 8) ^ b)]
            }
        }
        return c
    }

    /// Starts a packet: header, reserved byte, id, placeholder length, instruction.
    /// - Note: Real-time safe.
    @inline(__always)
    public static func begin(_ out: inout PacketBuffer, id: UInt8, instruction: UInt8) {
        out.reset()
        out.append(0xFF); out.append(0xFF); out.append(0xFD); out.append(0x00)
        out.append(id); out.append(0); out.append(0); out.append(instruction)
    }

    /// Byte-stuffs the body in place, fills in the length and appends the CRC. Returns false on overflow.
    /// - Note: Real-time safe.
    @inline(__always) @discardableResult
    public static func finish(_ out: inout PacketBuffer) -> Bool {
        guard !out.overflowed else { return false }
        let end = out.count
        // Count the FD bytes that follow FF FF (the check looks at the unstuffed bytes, as the C SDK does).
        var extra = 0
        var i = 7
        while i < end {
            if out[i] == 0xFD && out[i - 1] == 0xFF && out[i - 2] == 0xFF { extra += 1 }
            i += 1
        }
        guard end + extra + 2 <= out.capacity else { return false }
        if extra > 0 {
            // Expand backwards so every byte moves once.
            var src = end - 1
            var dst = end + extra - 1
            while src >= 7 {
                let b = out[src]
                out[dst] = b
                dst -= 1
                if b == 0xFD && out[src - 1] == 0xFF && out[src - 2] == 0xFF {
                    out[dst] = 0xFD
                    dst -= 1
                }
                src -= 1
            }
            out.setCount(end + extra)
        }
        let length = out.count - 7 + 2
        guard length <= 0xFFFF else { return false }
        out[5] = UInt8(truncatingIfNeeded: length)
        out[6] = UInt8(truncatingIfNeeded: length >> 8)
        let crc = out.withUnsafeBytes { crc16($0) }
        out.append(UInt8(truncatingIfNeeded: crc))
        out.append(UInt8(truncatingIfNeeded: crc >> 8))
        return !out.overflowed
    }

    /// PING.
    public static func ping(_ out: inout PacketBuffer, id: UInt8) {
        begin(&out, id: id, instruction: Instruction.ping.rawValue)
        finish(&out)
    }

    /// READ `length` bytes from `address`.
    public static func read(_ out: inout PacketBuffer, id: UInt8, address: UInt16, length: UInt16) {
        begin(&out, id: id, instruction: Instruction.read.rawValue)
        out.append(littleEndian: UInt32(address), width: 2)
        out.append(littleEndian: UInt32(length), width: 2)
        finish(&out)
    }

    /// WRITE `value` as `width` little-endian bytes at `address`.
    public static func write(_ out: inout PacketBuffer, id: UInt8, address: UInt16, value: UInt32, width: Int) {
        begin(&out, id: id, instruction: Instruction.write.rawValue)
        out.append(littleEndian: UInt32(address), width: 2)
        out.append(littleEndian: value, width: width)
        finish(&out)
    }

    /// WRITE raw bytes at `address`.
    public static func write(_ out: inout PacketBuffer, id: UInt8, address: UInt16, data: UnsafeRawBufferPointer) {
        begin(&out, id: id, instruction: Instruction.write.rawValue)
        out.append(littleEndian: UInt32(address), width: 2)
        for b in data { out.append(b) }
        finish(&out)
    }

    /// A status packet: `FF FF FD 00 id len 55 error params crc`.
    public static func status(_ out: inout PacketBuffer, id: UInt8, error: UInt8, parameters: UnsafeRawBufferPointer) {
        begin(&out, id: id, instruction: Instruction.status.rawValue)
        out.append(error)
        for b in parameters { out.append(b) }
        finish(&out)
    }
}
