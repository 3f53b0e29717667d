// What differs between the Feetech and Dynamixel 2.0 buses, so one `ServoBus` runs both.
import ReflexCore

/// A protocol's request encoders and status-packet layout.
public protocol ServoWireCodec {
    static var wireProtocol: ServoProtocol { get }
    static var statusFraming: ServoFraming { get }
    /// Bytes of a status packet besides its data (Feetech 6, Dynamixel 11).
    static var statusOverhead: Int { get }
    /// Largest register address the protocol can carry.
    static var maxAddress: Int { get }
    static func ping(_ out: inout PacketBuffer, id: UInt8)
    static func read(_ out: inout PacketBuffer, id: UInt8, address: UInt16, length: UInt16)
    static func write(_ out: inout PacketBuffer, id: UInt8, address: UInt16, data: UnsafeRawBufferPointer)
    static func syncWrite(_ out: inout PacketBuffer, group: ServoSyncWrite) -> Bool
    static func syncRead(_ out: inout PacketBuffer, group: ServoSyncRead) -> Bool
    /// The error byte and where the data starts, for a status frame.
    static func status(of frame: ServoFrame, in parser: ServoFrameParser) -> (error: UInt8, dataOffset: Int, dataCount: Int)
    /// True when the error byte means the servo refused the request (the data is not valid).
    static func isRefusal(_ error: UInt8) -> Bool
    /// The error byte in words.
    static func describe(error: UInt8) -> String
}

/// Feetech STS/SCS.
public enum FeetechCodec: ServoWireCodec {
    public static let wireProtocol = ServoProtocol.feetech
    public static let statusFraming = ServoFraming.feetechStatus
    public static let statusOverhead = 6
    public static let maxAddress = 255

    public static func ping(_ out: inout PacketBuffer, id: UInt8) { FeetechPacket.ping(&out, id: id) }

    public static func read(_ out: inout PacketBuffer, id: UInt8, address: UInt16, length: UInt16) {
        FeetechPacket.read(&out, id: id, address: UInt8(truncatingIfNeeded: address), length: UInt8(truncatingIfNeeded: length))
    }

    public static func write(_ out: inout PacketBuffer, id: UInt8, address: UInt16, data: UnsafeRawBufferPointer) {
        FeetechPacket.write(&out, id: id, address: UInt8(truncatingIfNeeded: address), data: data)
    }

    public static func syncWrite(_ out: inout PacketBuffer, group: ServoSyncWrite) -> Bool {
        FeetechPacket.begin(&out, id: FeetechPacket.broadcastID, instruction: FeetechPacket.Instruction.syncWrite.rawValue)
        out.append(UInt8(truncatingIfNeeded: group.address))
        out.append(UInt8(group.width))
        for (k, id) in group.ids.enumerated() {
            out.append(id)
            for b in 0 ..< group.width { out.append(group.data[k * group.width + b]) }
        }
        return FeetechPacket.finish(&out)
    }

    public static func syncRead(_ out: inout PacketBuffer, group: ServoSyncRead) -> Bool {
        FeetechPacket.begin(&out, id: FeetechPacket.broadcastID, instruction: FeetechPacket.Instruction.syncRead.rawValue)
        out.append(UInt8(truncatingIfNeeded: group.address))
        out.append(UInt8(group.length))
        for id in group.ids { out.append(id) }
        return FeetechPacket.finish(&out)
    }

    public static func status(of frame: ServoFrame, in parser: ServoFrameParser) -> (error: UInt8, dataOffset: Int, dataCount: Int) {
        (frame.instruction, frame.parameterOffset, frame.parameterCount)
    }

    /// Feetech error bits report conditions (voltage, angle, heat, current, load); the data is still valid.
    public static func isRefusal(_ error: UInt8) -> Bool { false }

    public static func describe(error: UInt8) -> String {
        let e = STS3215.StatusError(rawValue: error)
        var parts: [String] = []
        if e.contains(.voltage) { parts.append("input voltage") }
        if e.contains(.angle) { parts.append("angle sensor") }
        if e.contains(.overheat) { parts.append("overheat") }
        if e.contains(.overCurrent) { parts.append("over-current") }
        if e.contains(.overload) { parts.append("overload") }
        let other = error & ~(1 | 2 | 4 | 8 | 32)
        if other != 0 { parts.append("unknown bits 0x\(String(other, radix: 16))") }
        return parts.isEmpty ? "no error" : parts.joined(separator: ", ")
    }
}

/// Dynamixel Protocol 2.0.
public enum DynamixelCodec: ServoWireCodec {
    public static let wireProtocol = ServoProtocol.dynamixel
    public static let statusFraming = ServoFraming.dynamixelStatus
    public static let statusOverhead = 11
    public static let maxAddress = 0xFFFF

    public static func ping(_ out: inout PacketBuffer, id: UInt8) { DynamixelPacket.ping(&out, id: id) }

    public static func read(_ out: inout PacketBuffer, id: UInt8, address: UInt16, length: UInt16) {
        DynamixelPacket.read(&out, id: id, address: address, length: length)
    }

    public static func write(_ out: inout PacketBuffer, id: UInt8, address: UInt16, data: UnsafeRawBufferPointer) {
        DynamixelPacket.write(&out, id: id, address: address, data: data)
    }

    public static func syncWrite(_ out: inout PacketBuffer, group: ServoSyncWrite) -> Bool {
        DynamixelPacket.begin(&out, id: DynamixelPacket.broadcastID, instruction: DynamixelPacket.Instruction.syncWrite.rawValue)
        out.append(littleEndian: UInt32(group.address), width: 2)
        out.append(littleEndian: UInt32(group.width), width: 2)
        for (k, id) in group.ids.enumerated() {
            out.append(id)
            for b in 0 ..< group.width { out.append(group.data[k * group.width + b]) }
        }
        return DynamixelPacket.finish(&out)
    }

    public static func syncRead(_ out: inout PacketBuffer, group: ServoSyncRead) -> Bool {
        DynamixelPacket.begin(&out, id: DynamixelPacket.broadcastID, instruction: DynamixelPacket.Instruction.syncRead.rawValue)
        out.append(littleEndian: UInt32(group.address), width: 2)
        out.append(littleEndian: UInt32(group.length), width: 2)
        for id in group.ids { out.append(id) }
        return DynamixelPacket.finish(&out)
    }

    /// BULK READ: `id addrL addrH lenL lenH` per entry.
    public static func bulkRead(_ out: inout PacketBuffer, group: ServoBulkRead) -> Bool {
        DynamixelPacket.begin(&out, id: DynamixelPacket.broadcastID, instruction: DynamixelPacket.Instruction.bulkRead.rawValue)
        for k in 0 ..< group.ids.count {
            out.append(group.ids[k])
            out.append(littleEndian: UInt32(group.addresses[k]), width: 2)
            out.append(littleEndian: UInt32(group.lengths[k]), width: 2)
        }
        return DynamixelPacket.finish(&out)
    }

    public static func status(of frame: ServoFrame, in parser: ServoFrameParser) -> (error: UInt8, dataOffset: Int, dataCount: Int) {
        guard frame.parameterCount >= 1 else { return (0, frame.parameterOffset, 0) }
        return (parser.byte(at: frame.parameterOffset), frame.parameterOffset + 1, frame.parameterCount - 1)
    }

    /// The low 7 bits are a processing result (1 result fail … 7 access error); 0x80 is the hardware alert,
    /// which leaves the data valid.
    public static func isRefusal(_ error: UInt8) -> Bool { error & 0x7F != 0 }

    public static func describe(error: UInt8) -> String {
        var parts: [String] = []
        switch error & 0x7F {
        case 0: break
        case 1: parts.append("result fail")
        case 2: parts.append("instruction error")
        case 3: parts.append("CRC error")
        case 4: parts.append("data range error")
        case 5: parts.append("data length error")
        case 6: parts.append("data limit error")
        case 7: parts.append("access error")
        default: parts.append("unknown error \(error & 0x7F)")
        }
        if error & DynamixelPacket.alertBit != 0 { parts.append("hardware alert (read Hardware_Error_Status)") }
        return parts.isEmpty ? "no error" : parts.joined(separator: ", ")
    }

    /// Hardware Error Status bits in words.
    public static func describe(hardwareError bits: UInt8) -> String {
        let e = DynamixelHardwareError(rawValue: bits)
        var parts: [String] = []
        if e.contains(.inputVoltage) { parts.append("input voltage") }
        if e.contains(.overheating) { parts.append("overheating") }
        if e.contains(.motorEncoder) { parts.append("motor encoder") }
        if e.contains(.electricalShock) { parts.append("electrical shock") }
        if e.contains(.overload) { parts.append("overload") }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }
}
