// LeRobot's calibration file, as `Robot._save_calibration` writes it (draccus JSON, indent 4):
// `{motor: {id, drive_mode, homing_offset, range_min, range_max}}`, motors in the robot's order, one file per
// robot id under ~/.cache/huggingface/lerobot/calibration/robots/<robot type>/<id>.json. Reading it lets an arm
// calibrated with LeRobot run under Reflex without calibrating again.
import ReflexCore

/// One motor's entry (LeRobot's `MotorCalibration`). `homing_offset` is what was written to the servo's
/// Homing_Offset register; `range_min`/`range_max` are Present_Position ticks read with that offset applied.
public struct LeRobotMotorCalibration: Sendable, Equatable {
    public var id: Int
    /// 0 or 1: 1 reverses the normalized direction on buses that apply it (Feetech; see `LeRobotMotorUnits`).
    public var driveMode: Int
    public var homingOffset: Int
    public var rangeMin: Int
    public var rangeMax: Int

    public init(id: Int, driveMode: Int, homingOffset: Int, rangeMin: Int, rangeMax: Int) {
        self.id = id
        self.driveMode = driveMode
        self.homingOffset = homingOffset
        self.rangeMin = rangeMin
        self.rangeMax = rangeMax
    }

    /// The file's keys, in LeRobot's order (the dataclass's fields).
    public static let keys = ["id", "drive_mode", "homing_offset", "range_min", "range_max"]
}

/// A LeRobot calibration file: motors by LeRobot's motor name, in file order.
public struct LeRobotCalibration: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var motor: String
        public var calibration: LeRobotMotorCalibration
        public init(motor: String, calibration: LeRobotMotorCalibration) {
            self.motor = motor
            self.calibration = calibration
        }
    }

    public var motors: [Entry]

    public init(motors: [Entry]) { self.motors = motors }

    /// The entry of `motor`, if present.
    public subscript(motor: String) -> LeRobotMotorCalibration? {
        motors.first { $0.motor == motor }?.calibration
    }

    /// Parses a file's text. Errors name the file, the motor and the key (`shoulder_pan.range_min`).
    /// - Warning: Not real-time safe.
    public static func parse(_ text: String, file: String? = nil) throws -> LeRobotCalibration {
        let root: JSONValue
        do {
            root = try JSONParser.parse(text)
        } catch let e as ReflexError {
            throw ReflexError(.invalidCalibration, e.message, at: .init(file: file, byteOffset: e.location.byteOffset))
        }
        guard let members = root.objectValue else {
            throw ReflexError(.invalidCalibration, "a LeRobot calibration file is a JSON object of motors", at: .init(file: file))
        }
        guard !members.isEmpty else {
            throw ReflexError(.invalidCalibration, "no motors in the calibration", at: .init(file: file))
        }
        var entries: [Entry] = []
        for (motor, value) in members {
            func bad(_ key: String?, _ message: String) -> ReflexError {
                ReflexError(.invalidCalibration, message, at: .init(file: file, keyPath: key.map { motor + "." + $0 } ?? motor))
            }
            guard let fields = value.objectValue else { throw bad(nil, "motor entry must be an object with \(LeRobotMotorCalibration.keys.joined(separator: ", "))") }
            if let extra = fields.first(where: { !LeRobotMotorCalibration.keys.contains($0.key) }) {
                throw bad(extra.key, "unknown key (expected \(LeRobotMotorCalibration.keys.joined(separator: ", ")))")
            }
            var ints: [Int] = []
            for key in LeRobotMotorCalibration.keys {
                guard let v = value[key] else { throw bad(key, "missing") }
                // LeRobot's fields are ints: draccus refuses 1.5, true or "1".
                guard let n = v.numberValue, n == n.rounded(), abs(n) <= 1e9 else {
                    throw bad(key, "must be an integer, got \(v.serialized)")
                }
                ints.append(Int(n))
            }
            let c = LeRobotMotorCalibration(id: ints[0], driveMode: ints[1], homingOffset: ints[2], rangeMin: ints[3], rangeMax: ints[4])
            guard (0 ... 252).contains(c.id) else { throw bad("id", "servo id \(c.id) is out of range 0…252") }
            guard c.driveMode == 0 || c.driveMode == 1 else { throw bad("drive_mode", "must be 0 or 1, got \(c.driveMode)") }
            guard c.rangeMin < c.rangeMax else {
                // LeRobot's _normalize divides by (max - min) and refuses min == max.
                throw bad("range_max", "range_min (\(c.rangeMin)) must be below range_max (\(c.rangeMax))")
            }
            if let dup = entries.first(where: { $0.calibration.id == c.id }) {
                throw bad("id", "servo id \(c.id) is also \(dup.motor)'s")
            }
            entries.append(Entry(motor: motor, calibration: c))
        }
        return LeRobotCalibration(motors: entries)
    }

    /// Reads a file.
    /// - Warning: Not real-time safe.
    public static func load(path: String) throws -> LeRobotCalibration {
        try parse(try readTextFile(path), file: path)
    }

    /// The file's text byte for byte as LeRobot writes it (`json.dump(..., indent=4)`, no final newline).
    public var serialized: String {
        var lines = ["{"]
        for (k, e) in motors.enumerated() {
            let c = e.calibration
            let values = [c.id, c.driveMode, c.homingOffset, c.rangeMin, c.rangeMax]
            lines.append("    \(JSONValue.string(e.motor).serialized): {")
            for (j, key) in LeRobotMotorCalibration.keys.enumerated() {
                lines.append("        \"\(key)\": \(values[j])" + (j + 1 < values.count ? "," : ""))
            }
            lines.append("    }" + (k + 1 < motors.count ? "," : ""))
        }
        lines.append("}")
        return lines.joined(separator: "\n")
    }

    /// Writes the file atomically.
    /// - Warning: Not real-time safe.
    public func save(path: String) throws {
        try writeFileAtomically(Array(serialized.utf8), to: path)
    }

    /// Each servo's entry in the bus configuration's order, matched by LeRobot's motor name (= the description's
    /// joint name: shoulder_pan … gripper) and checked to have the same id. Errors name the motor.
    /// - Warning: Not real-time safe.
    public func entries(for hardware: ArmBusConfiguration, file: String? = nil) throws -> [LeRobotMotorCalibration] {
        let names = Set(hardware.servos.map(\.joint))
        if let extra = motors.first(where: { !names.contains($0.motor) }) {
            throw ReflexError(.invalidCalibration, "motor '\(extra.motor)' is not on this arm (its motors: \(hardware.servos.map(\.joint).joined(separator: ", ")))",
                              at: .init(file: file, keyPath: extra.motor))
        }
        return try hardware.servos.map { s in
            guard let c = self[s.joint] else {
                throw ReflexError(.invalidCalibration, "no entry for motor '\(s.joint)' (servo \(s.id))", at: .init(file: file, keyPath: s.joint))
            }
            guard c.id == Int(s.id) else {
                throw ReflexError(.invalidCalibration, "motor '\(s.joint)' has id \(c.id) in the calibration but \(s.id) on the arm",
                                  at: .init(file: file, keyPath: s.joint + ".id"))
            }
            let res = s.controlTable.resolution
            // Dynamixel positions are 4-byte signed (extended position mode goes past one turn).
            guard s.controlTable.wireProtocol == .dynamixel || (c.rangeMin >= 0 && c.rangeMax <= res - 1) else {
                throw ReflexError(.invalidCalibration, "motor '\(s.joint)': range \(c.rangeMin)…\(c.rangeMax) is outside the encoder's 0…\(res - 1)",
                                  at: .init(file: file, keyPath: s.joint))
            }
            return c
        }
    }
}

extension ReflexError.Code {
    /// A LeRobot calibration file that is malformed or does not fit the arm.
    public static let invalidCalibration = Self("invalidCalibration")
}
