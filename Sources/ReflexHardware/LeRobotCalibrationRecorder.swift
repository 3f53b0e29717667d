// LeRobot's interactive calibration (SOFollower.calibrate / KochFollower.calibrate in lerobot 0.4.4), done by Reflex
// on an arm's bus, so `reflex calibrate --lerobot FILE --record` produces the file LeRobot would for the same hand
// movements (LeRobotFollowerTests compares the two byte for byte).

import ReflexCore

/// The three steps, each a call: `setHalfTurnHomings()` with the arm at the middle of its range, `sample()` again
/// and again while every joint but the full-turn ones is moved through its range by hand, then `finish()`.
/// Torque stays off throughout.
public final class LeRobotCalibrationRecorder {
    public let robotType: LeRobotRobotType
    private let bus: any ServoBusDriver
    private let hardware: ArmBusConfiguration
    private var homings: [Int] = []
    private var mins: [Int] = [], maxes: [Int] = []
    /// Sweeps sampled so far.
    public private(set) var samples = 0

    /// The motors LeRobot records no range for: their range is the whole turn (0…4095).
    public var fullTurnMotors: [String] { robotType == .kochFollower ? ["shoulder_pan", "wrist_roll"] : ["wrist_roll"] }

    /// `hardware`'s joints must be LeRobot's motors in its order (ArmBusConfiguration of robots/so101.yaml or koch.yaml).
    public init(bus: any ServoBusDriver, hardware: ArmBusConfiguration, robotType: LeRobotRobotType) throws {
        guard hardware.servos.map(\.joint) == robotType.motors else {
            throw ReflexError(.invalidArgument, "the arm's joints \(hardware.servos.map(\.joint)) are not \(robotType.rawValue)'s motors \(robotType.motors)")
        }
        guard hardware.bus == robotType.bus else {
            throw ReflexError(.invalidArgument, "\(robotType.rawValue) is on a \(robotType.bus) bus, the arm on \(hardware.bus)")
        }
        self.bus = bus
        self.hardware = hardware
        self.robotType = robotType
    }

    private func homingRegister(_ t: ServoControlTable) -> ServoRegister {
        t.wireProtocol == .feetech ? STS3215.Register.homingOffset : DynamixelX.homingOffset
    }

    private func present() throws -> [Int] {
        try hardware.servos.map { Int(try bus.read($0.controlTable.presentPosition, id: $0.id)) }
    }

    /// Step 1, the arm at the middle of its range: torque off, the operating mode LeRobot calibrates in (position;
    /// extended position on Koch's Dynamixels), the old calibration reset (offset 0, limits 0…4095), then each
    /// servo's offset so that it reads a half turn here — Feetech actual − 2047, Dynamixel 2047 − actual
    /// (`_get_half_turn_homings`). Returns the offsets, in LeRobot's motor order.
    @discardableResult
    public func setHalfTurnHomings() throws -> [Int] {
        for s in hardware.servos {
            let t = s.controlTable
            try bus.write(t.torqueEnable, id: s.id, value: 0)
            if t.wireProtocol == .feetech {
                try bus.write(STS3215.Register.lock, id: s.id, value: 0)
                try bus.write(STS3215.Register.operatingMode, id: s.id, value: 0)
            } else {
                try bus.write(DynamixelX.operatingMode, id: s.id, value: robotType == .kochFollower ? 4 : 3)
            }
        }
        for s in hardware.servos {
            let t = s.controlTable
            try bus.write(homingRegister(t), id: s.id, value: 0)
            try bus.write(t.minPositionLimit, id: s.id, value: 0)
            try bus.write(t.maxPositionLimit, id: s.id, value: Int32(t.resolution - 1))
        }
        let actual = try present()
        homings = zip(hardware.servos, actual).map { s, a in
            let half = (s.controlTable.resolution - 1) / 2
            return s.controlTable.wireProtocol == .feetech ? a - half : half - a
        }
        for (s, h) in zip(hardware.servos, homings) { try bus.write(homingRegister(s.controlTable), id: s.id, value: Int32(h)) }
        let start = try present()
        mins = start
        maxes = start
        samples = 0
        return homings
    }

    /// Step 2, once per reading while the joints are swept: widens each joint's recorded range.
    public func sample() throws {
        guard !homings.isEmpty else { throw ReflexError(.invalidArgument, "set the half-turn homings first (the arm at the middle of its range)") }
        let p = try present()
        for k in p.indices {
            mins[k] = min(mins[k], p[k])
            maxes[k] = max(maxes[k], p[k])
        }
        samples += 1
    }

    /// The recorded range of each motor so far (for a live table).
    public var ranges: [(min: Int, max: Int)] { Array(zip(mins, maxes)) }

    /// Step 3: the calibration (drive mode 0, as LeRobot records it), written to the servos as LeRobot's
    /// `write_calibration` does (offsets and limits); save it with `LeRobotCalibration.save(path:)`.
    public func finish() throws -> LeRobotCalibration {
        guard !homings.isEmpty else { throw ReflexError(.invalidArgument, "nothing recorded: set the half-turn homings first") }
        let full = Set(fullTurnMotors)
        let calibration = LeRobotCalibration(motors: hardware.servos.enumerated().map { k, s in
            let whole = full.contains(s.joint)
            return .init(motor: s.joint, calibration: LeRobotMotorCalibration(
                id: Int(s.id), driveMode: 0, homingOffset: homings[k],
                rangeMin: whole ? 0 : mins[k], rangeMax: whole ? s.controlTable.resolution - 1 : maxes[k]))
        })
        for (s, e) in zip(hardware.servos, calibration.motors) {
            let t = s.controlTable
            try bus.write(homingRegister(t), id: s.id, value: Int32(e.calibration.homingOffset))
            try bus.write(t.minPositionLimit, id: s.id, value: Int32(e.calibration.rangeMin))
            try bus.write(t.maxPositionLimit, id: s.id, value: Int32(e.calibration.rangeMax))
        }
        return calibration
    }
}
