// A servo model's control table as data, with the registers a bus, a robot and the emulator need by role.

/// Which wire protocol a servo speaks.
public enum ServoProtocol: String, Sendable, Hashable, CaseIterable {
    /// Feetech STS/SCS (`FF FF id len instr params ~sum`), the SO-100/SO-101 arms' STS3215.
    case feetech
    /// ROBOTIS Dynamixel Protocol 2.0 (`FF FF FD 00`, CRC-16), the Koch and ALOHA arms' XL330/XL430.
    case dynamixel
}

/// A servo model: its control table and the registers that play the roles everyone needs.
public struct ServoControlTable: Sendable {
    public let modelName: String
    public let modelNumber: UInt16
    public let wireProtocol: ServoProtocol
    /// Encoder ticks per revolution.
    public let resolution: Int
    /// Bytes of control-table memory (what the emulator allocates).
    public let memorySize: Int
    public let registers: [ServoRegister]

    public let modelNumberRegister: ServoRegister
    public let id: ServoRegister
    public let baudRate: ServoRegister
    public let torqueEnable: ServoRegister
    public let goalPosition: ServoRegister
    public let presentPosition: ServoRegister
    public let presentVelocity: ServoRegister
    /// Present load (Feetech, XL430) or present current (XL330).
    public let presentLoad: ServoRegister
    public let presentTemperature: ServoRegister
    public let minPositionLimit: ServoRegister
    public let maxPositionLimit: ServoRegister
    /// Factory values the emulator starts from: (register, value).
    public let defaults: [(ServoRegister, Int32)]

    /// The register with the manual's name (case-insensitive, `_` optional) — for the CLI only.
    /// - Warning: Not real-time safe.
    public func register(named name: String) -> ServoRegister? {
        func key(_ s: String) -> String { s.lowercased().filter { $0 != "_" && $0 != " " } }
        let k = key(name)
        return registers.first { key($0.name) == k }
    }

    /// The register that starts at `address`, if any.
    public func register(at address: UInt16) -> ServoRegister? {
        registers.first { $0.address == address }
    }
}
