// A robot description's `hardware:` section (robots/so101.yaml), checked and typed for a bus: which protocol, and
// each joint's servo (id, model, offset, direction).
import ReflexCore
import ReflexRobot

/// One joint's servo on the bus.
public struct ServoAssignment: Codable, Sendable, Equatable {
    /// The joint this servo drives (the description's joint or gripper name).
    public var joint: String
    public var id: UInt8
    public var model: String
    /// Ticks at joint zero.
    public var offset: Int
    /// +1 or -1: whether positive ticks turn the joint positively.
    public var direction: Int

    public init(joint: String, id: UInt8, model: String, offset: Int, direction: Int) {
        self.joint = joint
        self.id = id
        self.model = model
        self.offset = offset
        self.direction = direction
    }

    /// The servo model's control table (checked to exist when the configuration was made).
    public var controlTable: ServoControlTable { ServoControlTable.named(model) ?? STS3215.table }
}

/// A robot's servo bus, validated from its description's `hardware:` section.
public struct ArmBusConfiguration: Sendable, Equatable {
    public var bus: ServoProtocol
    public var port: String?
    public var baudRate: Int
    public var servos: [ServoAssignment]

    public init(bus: ServoProtocol, port: String?, baudRate: Int, servos: [ServoAssignment]) throws {
        self.bus = bus
        self.port = port
        self.baudRate = baudRate
        self.servos = servos
        try validate()
    }

    /// Checks and types a description's `hardware:` section; errors name the file and key.
    /// - Warning: Not real-time safe.
    public init(_ mapping: HardwareMapping, file: String? = nil) throws {
        guard let bus = ServoProtocol(rawValue: mapping.bus.lowercased()) else {
            throw ReflexError(.invalidArgument, "unknown bus '\(mapping.bus)' (feetech or dynamixel)",
                              at: .init(file: file, keyPath: "hardware.bus"))
        }
        var servos: [ServoAssignment] = []
        for (k, s) in mapping.servos.enumerated() {
            guard (0 ... 252).contains(s.id) else {
                throw ReflexError(.invalidArgument, "servo id \(s.id) is out of range 0…252",
                                  at: .init(file: file, keyPath: "hardware.servos[\(k)].id"))
            }
            servos.append(ServoAssignment(joint: s.joint, id: UInt8(s.id), model: s.model, offset: s.offset, direction: s.direction))
        }
        self.bus = bus
        self.port = mapping.port
        self.baudRate = mapping.baudRate
        self.servos = servos
        try validate(file: file)
    }

    /// The description's hardware section; an error if it has none.
    /// - Warning: Not real-time safe.
    public init(description: RobotDescription) throws {
        guard let hw = description.hardware else {
            throw ReflexError(.invalidArgument, "robot '\(description.name)' has no hardware: section",
                              at: .init(file: description.path, keyPath: "hardware"))
        }
        try self.init(hw, file: description.path)
    }

    /// Checks the section's internal consistency.
    public func validate(file: String? = nil) throws {
        guard !servos.isEmpty else {
            throw ReflexError(.invalidArgument, "no servos listed", at: .init(file: file, keyPath: "hardware.servos"))
        }
        var seen = Set<UInt8>()
        for (k, s) in servos.enumerated() {
            let at = ReflexError.Location(file: file, keyPath: "hardware.servos[\(k)]")
            guard s.id <= 252, seen.insert(s.id).inserted else {
                throw ReflexError(.invalidArgument, "servo id \(s.id) is out of range or repeated", at: at)
            }
            guard let table = ServoControlTable.named(s.model) else {
                throw ReflexError(.invalidArgument, "unknown servo model '\(s.model)' (known: \(ServoControlTable.knownModels.joined(separator: ", ")))", at: at)
            }
            guard table.wireProtocol == bus else {
                throw ReflexError(.invalidArgument, "\(s.model) does not speak the \(bus) protocol", at: at)
            }
            guard s.direction == 1 || s.direction == -1 else {
                throw ReflexError(.invalidArgument, "direction must be 1 or -1, got \(s.direction)", at: at)
            }
        }
        guard baudRate > 0 else {
            throw ReflexError(.invalidArgument, "baud_rate must be positive", at: .init(file: file, keyPath: "hardware.baud_rate"))
        }
    }
}

extension ServoProtocol: Codable {}

extension ServoControlTable {
    /// Model names accepted in descriptions and on the command line.
    public static let knownModels = ["sts3215", "xl330", "xl330-m288", "xl430", "xl430-w250"]

    /// The table for a model name (case-insensitive).
    public static func named(_ name: String) -> ServoControlTable? {
        switch name.lowercased() {
        case "sts3215", "sts": return STS3215.table
        case "xl330", "xl330-m288", "xl330_m288": return XL330.table
        case "xl430", "xl430-w250", "xl430_w250": return XL430.table
        default: return nil
        }
    }

    /// The table for a model number (what a ping returns), if known.
    public static func forModelNumber(_ n: UInt16, on bus: ServoProtocol) -> ServoControlTable? {
        [STS3215.table, XL330.table, XL430.table].first { $0.modelNumber == n && $0.wireProtocol == bus }
    }
}
