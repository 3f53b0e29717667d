// LeRobot's motor units (`MotorNormMode`), the units of `observation.state` and `action` in a LeRobot-trained
// checkpoint: each joint's Present_Position ↔ a normalized value, computed exactly as
// `SerialMotorsBus._normalize` / `_unnormalize` do (same operation order in doubles, same clamping, Python's
// `int()` truncation toward zero on writes), so Reflex writes the very Goal_Position LeRobot would.
import ReflexCore

/// LeRobot's `MotorNormMode`.
public enum LeRobotNormMode: String, Sendable, Codable, CaseIterable {
    /// `(raw − (min+max)/2)·360/(resolution−1)`: no clamp, drive mode ignored.
    case degrees
    /// The calibrated range onto −100…100, clamped; drive mode 1 flips the sign.
    case rangeM100To100 = "range_m100_100"
    /// The calibrated range onto 0…100, clamped; drive mode 1 maps v to 100 − v.
    case range0To100 = "range_0_100"
}

/// One joint's conversion between raw ticks and LeRobot's units.
public struct LeRobotMotorUnits: Sendable, Equatable {
    public var mode: LeRobotNormMode
    public var rangeMin: Int
    public var rangeMax: Int
    /// The calibration's drive_mode as the bus applies it: Feetech buses do (`apply_drive_mode = True`), Dynamixel
    /// buses do not (the servo's own Drive_Mode register reverses it there).
    public var reversed: Bool
    /// `model_resolution_table[model] − 1` (4095 for the STS3215 and XL330/XL430).
    public var maxResolution: Int

    public init(mode: LeRobotNormMode, rangeMin: Int, rangeMax: Int, reversed: Bool, maxResolution: Int) {
        self.mode = mode
        self.rangeMin = rangeMin
        self.rangeMax = rangeMax
        self.reversed = reversed
        self.maxResolution = maxResolution
    }

    /// The units of a calibrated motor on a bus of `bus`.
    public init(mode: LeRobotNormMode, calibration c: LeRobotMotorCalibration, bus: ServoProtocol, resolution: Int) {
        self.init(mode: mode, rangeMin: c.rangeMin, rangeMax: c.rangeMax,
                  reversed: bus == .feetech && c.driveMode != 0, maxResolution: resolution - 1)
    }

    /// LeRobot's value for a Present_Position of `raw` ticks (`_normalize`).
    /// - Note: Real-time safe.
    @inline(__always) public func normalize(_ raw: Int) -> Double {
        let lo = rangeMin, hi = rangeMax
        switch mode {
        case .rangeM100To100:
            let bounded = min(hi, max(lo, raw))
            let norm = ((Double(bounded - lo) / Double(hi - lo)) * 200) - 100
            return reversed ? -norm : norm
        case .range0To100:
            let bounded = min(hi, max(lo, raw))
            let norm = (Double(bounded - lo) / Double(hi - lo)) * 100
            return reversed ? 100 - norm : norm
        case .degrees:
            let mid = Double(lo + hi) / 2
            return (Double(raw) - mid) * 360 / Double(maxResolution)
        }
    }

    /// The Goal_Position ticks LeRobot writes for `value` (`_unnormalize`), before the register's sign encoding.
    /// A non-finite value gives nil (LeRobot would raise; the caller holds).
    /// - Note: Real-time safe.
    @inline(__always) public func unnormalize(_ value: Double) -> Int? {
        guard value.isFinite else { return nil }
        let lo = Double(rangeMin), hi = Double(rangeMax)
        let t: Double
        switch mode {
        case .rangeM100To100:
            let v = reversed ? -value : value
            let bounded = min(100.0, max(-100.0, v))
            t = ((bounded + 100) / 200) * (hi - lo) + lo
        case .range0To100:
            let v = reversed ? 100 - value : value
            let bounded = min(100.0, max(0.0, v))
            t = (bounded / 100) * (hi - lo) + lo
        case .degrees:
            let mid = Double(rangeMin + rangeMax) / 2
            // Unclamped in LeRobot; kept inside Int32 here so the conversion cannot trap (the register clamps further).
            t = min(max((value * Double(maxResolution) / 360) + mid, -2_147_483_648), 2_147_483_647)
        }
        return Int(t) // truncation toward zero, as Python's int()
    }

    /// The joint's extent in these units: (value at range_min, value at range_max), for limits.
    public var extent: (lower: Double, upper: Double) {
        let a = normalize(rangeMin), b = normalize(rangeMax)
        return (min(a, b), max(a, b))
    }

    /// Units per encoder tick inside the range (signed: negative when reversed), for velocities and rate limits.
    public var perTick: Double {
        switch mode {
        case .degrees: return 360 / Double(maxResolution)
        case .rangeM100To100: return (reversed ? -200 : 200) / Double(rangeMax - rangeMin)
        case .range0To100: return (reversed ? -100 : 100) / Double(rangeMax - rangeMin)
        }
    }
}

extension LeRobotCalibration {
    /// Each servo's units on `hardware`, in the bus configuration's order: the gripper in RANGE_0_100, the other
    /// joints in DEGREES (`use_degrees`) or RANGE_M100_100, as LeRobot's SO and Koch followers build their motors.
    /// - Warning: Not real-time safe.
    public func motorUnits(for hardware: ArmBusConfiguration, useDegrees: Bool, file: String? = nil) throws -> [LeRobotMotorUnits] {
        let entries = try entries(for: hardware, file: file)
        return zip(hardware.servos, entries).map { s, c in
            LeRobotMotorUnits(mode: s.joint == "gripper" ? .range0To100 : (useDegrees ? .degrees : .rangeM100To100),
                              calibration: c, bus: hardware.bus, resolution: s.controlTable.resolution)
        }
    }
}

/// The LeRobot robots whose arms are on Reflex's buses: their motor names (= Reflex's joint names, in order) and
/// each motor's norm mode, as their `__init__` builds `Motor(id, model, norm_mode)`.
public enum LeRobotRobotType: String, Sendable, Codable, CaseIterable {
    case so100Follower = "so100_follower"
    case so101Follower = "so101_follower"
    case kochFollower = "koch_follower"

    /// Motor names in the robot's order (its `observation.state` / `action` order, `<name>.pos`).
    public var motors: [String] { ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"] }

    public var bus: ServoProtocol { self == .kochFollower ? .dynamixel : .feetech }

    /// `use_degrees` when the robot's config leaves it unset (LeRobot 0.4.4: SO followers true, Koch false).
    public var defaultUseDegrees: Bool { self != .kochFollower }

    /// Each motor's norm mode: the body in DEGREES when the robot config's `use_degrees` is set, else
    /// RANGE_M100_100; the gripper always RANGE_0_100.
    public func normModes(useDegrees: Bool) -> [LeRobotNormMode] {
        motors.map { $0 == "gripper" ? .range0To100 : (useDegrees ? .degrees : .rangeM100To100) }
    }

    /// The LeRobot robot for one of Reflex's bundled arms (robots/so101.yaml: SO-101, koch.yaml: Koch), by name.
    public static func forArm(named name: String) -> LeRobotRobotType? {
        switch name.lowercased() {
        case "so101": .so101Follower
        case "so100": .so100Follower
        case "koch": .kochFollower
        default: nil
        }
    }

    /// LeRobot's feature names: `shoulder_pan.pos`, … in order.
    public var positionFeatures: [String] { motors.map { $0 + ".pos" } }
}
