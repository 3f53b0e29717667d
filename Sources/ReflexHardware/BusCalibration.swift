// The per-joint calibration of an arm on a bus: which tick count is joint zero, which way is positive, and the
// range the joint really sweeps (LeRobot's `calibrate()` range sweep). `reflex calibrate` writes it.
import ReflexCore

/// One joint's calibration.
public struct JointCalibration: Codable, Sendable, Equatable {
    public var joint: String
    public var id: Int
    /// Ticks at joint zero.
    public var offset: Int
    /// +1 or -1.
    public var direction: Int
    /// Lowest and highest ticks seen while sweeping the joint by hand.
    public var rangeMin: Int
    public var rangeMax: Int

    public init(joint: String, id: Int, offset: Int, direction: Int, rangeMin: Int, rangeMax: Int) {
        self.joint = joint
        self.id = id
        self.offset = offset
        self.direction = direction
        self.rangeMin = rangeMin
        self.rangeMax = rangeMax
    }
}

/// A calibration file: one entry per servo, in the description's order.
public struct BusCalibration: Codable, Sendable, Equatable {
    public var robot: String
    public var joints: [JointCalibration]

    public init(robot: String, joints: [JointCalibration]) {
        self.robot = robot
        self.joints = joints
    }

    /// Reads a calibration YAML file and checks it against the bus configuration (same joints and ids).
    /// - Warning: Not real-time safe.
    public static func load(path: String, for hardware: ArmBusConfiguration) throws -> BusCalibration {
        let c = try YAMLDecoder().decode(BusCalibration.self, fromFile: path)
        guard c.joints.map(\.joint) == hardware.servos.map(\.joint), c.joints.map(\.id) == hardware.servos.map({ Int($0.id) }) else {
            throw ReflexError(.invalidArgument,
                              "calibration joints/ids \(c.joints.map { "\($0.joint):\($0.id)" }) do not match the robot's \(hardware.servos.map { "\($0.joint):\($0.id)" })",
                              at: .init(file: path, keyPath: "joints"))
        }
        for (k, j) in c.joints.enumerated() {
            guard j.direction == 1 || j.direction == -1, j.rangeMin <= j.rangeMax else {
                throw ReflexError(.invalidArgument, "direction must be ±1 and range_min <= range_max",
                                  at: .init(file: path, keyPath: "joints[\(k)]"))
            }
        }
        return c
    }

    /// Writes the file atomically.
    /// - Warning: Not real-time safe.
    public func save(path: String) throws {
        let text = "# Written by reflex calibrate: ticks at joint zero, direction, and the range swept by hand.\n"
            + (try YAMLEncoder().encode(self))
        try writeFileAtomically(Array(text.utf8), to: path)
    }

    /// The description's own offsets and directions, with each servo's full tick range (no sweep done).
    public static func fromDescription(_ name: String, _ hardware: ArmBusConfiguration) -> BusCalibration {
        BusCalibration(robot: name, joints: hardware.servos.map {
            JointCalibration(joint: $0.joint, id: Int($0.id), offset: $0.offset, direction: $0.direction,
                             rangeMin: 0, rangeMax: $0.controlTable.resolution - 1)
        })
    }
}
