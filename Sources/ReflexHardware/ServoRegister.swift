// Control-table registers as typed data: an address, a width and how negative numbers are stored.
// Never string keys (LeRobot's `feetech/tables.py` carries a TODO regretting its string keys).

/// How a register stores a signed quantity.
public enum RegisterEncoding: Sendable, Hashable {
    /// Plain unsigned little-endian.
    case unsigned
    /// Sign-magnitude with the sign in bit `signBit` (Feetech: bit 15 for positions/velocities, 11 for the
    /// homing offset, 10 for the load).
    case signMagnitude(signBit: Int)
    /// Two's complement over the register width (Dynamixel X series).
    case twosComplement
}

/// Which memory a register lives in: EEPROM registers keep their value through a power cycle and on most
/// servos can only be written with torque off (Feetech also needs `lock` = 0).
public enum RegisterArea: Sendable, Hashable { case eeprom, ram }

/// One entry of a servo's control table.
public struct ServoRegister: Sendable, Hashable, CustomStringConvertible {
    /// The register's name in the vendor's manual (for messages and `reflex servo` output only).
    public let name: String
    /// Byte address in the control table.
    public let address: UInt16
    /// Width in bytes: 1, 2 or 4. Multi-byte values are little-endian on both buses.
    public let width: Int
    public let encoding: RegisterEncoding
    public let writable: Bool
    public let area: RegisterArea

    public init(_ name: String, _ address: UInt16, _ width: Int, encoding: RegisterEncoding = .unsigned,
                writable: Bool = true, area: RegisterArea = .ram) {
        self.name = name
        self.address = address
        self.width = width
        self.encoding = encoding
        self.writable = writable
        self.area = area
    }

    public var description: String { "\(name)@\(address)/\(width)" }

    /// The value stored in the register's raw bits, e.g. raw 0x8010 of a bit-15 sign-magnitude word is -16.
    /// - Note: Real-time safe.
    @inline(__always)
    public func decode(raw: UInt32) -> Int32 {
        switch encoding {
        case .unsigned:
            return Int32(bitPattern: raw)
        case .signMagnitude(let bit):
            let sign = UInt32(1) << UInt32(bit)
            let magnitude = Int32(bitPattern: raw & (sign - 1))
            return raw & sign != 0 ? -magnitude : magnitude
        case .twosComplement:
            switch width {
            case 1: return Int32(Int8(truncatingIfNeeded: raw))
            case 2: return Int32(Int16(truncatingIfNeeded: raw))
            default: return Int32(bitPattern: raw)
            }
        }
    }

    /// The raw bits that store `value`; values beyond the field are clamped to its largest magnitude.
    /// - Note: Real-time safe.
    @inline(__always)
    public func encode(_ value: Int32) -> UInt32 {
        let mask: UInt32 = width >= 4 ? 0xFFFF_FFFF : (UInt32(1) << UInt32(8 * width)) - 1
        switch encoding {
        case .unsigned, .twosComplement:
            return UInt32(bitPattern: value) & mask
        case .signMagnitude(let bit):
            let sign = UInt32(1) << UInt32(bit)
            let magnitude = min(value.magnitude, sign - 1)
            return value < 0 ? (magnitude | sign) : magnitude
        }
    }
}

/// Little-endian byte access shared by both protocols.
@usableFromInline
enum LittleEndian {
    @inline(__always) @usableFromInline
    static func load(_ p: UnsafeRawBufferPointer, _ offset: Int, width: Int) -> UInt32 {
        var v: UInt32 = 0
        for i in 0 ..< width { v |= UInt32(p[offset + i]) << UInt32(8 * i) }
        return v
    }
}
