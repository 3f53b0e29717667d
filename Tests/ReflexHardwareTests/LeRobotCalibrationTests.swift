import Foundation
import ReflexCore
import ReflexRobot
import Testing

@testable import ReflexHardware

/// A calibration as LeRobot 0.4.4's SO101Follower writes it (draccus JSON, indent 4, no final newline).
let so101LeRobotCalibrationText = """
    {
        "shoulder_pan": {
            "id": 1,
            "drive_mode": 0,
            "homing_offset": -1470,
            "range_min": 758,
            "range_max": 3292
        },
        "shoulder_lift": {
            "id": 2,
            "drive_mode": 0,
            "homing_offset": 153,
            "range_min": 817,
            "range_max": 3224
        },
        "elbow_flex": {
            "id": 3,
            "drive_mode": 0,
            "homing_offset": 1392,
            "range_min": 874,
            "range_max": 3087
        },
        "wrist_flex": {
            "id": 4,
            "drive_mode": 0,
            "homing_offset": -1957,
            "range_min": 862,
            "range_max": 3178
        },
        "wrist_roll": {
            "id": 5,
            "drive_mode": 0,
            "homing_offset": -1225,
            "range_min": 0,
            "range_max": 4095
        },
        "gripper": {
            "id": 6,
            "drive_mode": 0,
            "homing_offset": 1410,
            "range_min": 2031,
            "range_max": 3509
        }
    }
    """

@Suite struct LeRobotCalibrationTests {
    func so101Hardware() throws -> ArmBusConfiguration {
        try ArmBusConfiguration(description: try RobotDescription.load(path: repoRobots + "/so101.yaml"))
    }

    @Test func readsAndWritesLeRobotsFileByteForByte() throws {
        let c = try LeRobotCalibration.parse(so101LeRobotCalibrationText)
        #expect(c.motors.map(\.motor) == ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"])
        #expect(c["shoulder_pan"] == LeRobotMotorCalibration(id: 1, driveMode: 0, homingOffset: -1470, rangeMin: 758, rangeMax: 3292))
        #expect(c.serialized == so101LeRobotCalibrationText, "same keys, order, indent and no final newline as draccus writes")
        let path = NSTemporaryDirectory() + "lerobot-cal-\(getpid()).json"
        defer { unlink(path) }
        try c.save(path: path)
        #expect(try LeRobotCalibration.load(path: path) == c)
    }

    @Test func mapsMotorsToTheArmsServosByName() throws {
        let hw = try so101Hardware()
        // File order need not be the arm's: entries come back in the bus configuration's order.
        var c = try LeRobotCalibration.parse(so101LeRobotCalibrationText)
        c.motors.reverse()
        let e = try c.entries(for: hw)
        #expect(e.map(\.id) == [1, 2, 3, 4, 5, 6])
        #expect(e[3].homingOffset == -1957)
    }

    func error(_ text: String, hardware: ArmBusConfiguration? = nil) -> ReflexError? {
        do {
            let c = try LeRobotCalibration.parse(text, file: "cal.json")
            if let hardware { _ = try c.entries(for: hardware, file: "cal.json") }
            return nil
        } catch let e as ReflexError {
            return e
        } catch {
            return nil
        }
    }

    @Test func malformedFilesNameTheMotorAndKey() throws {
        func replacing(_ a: String, _ b: String) -> String {
            so101LeRobotCalibrationText.replacingOccurrences(of: a, with: b)
        }
        let cases: [(String, String, String)] = [
            (replacing("\"range_min\": 874", "\"range_min\": 874.5"), "elbow_flex.range_min", "integer"),
            (replacing("\"drive_mode\": 0,\n        \"homing_offset\": -1470", "\"drive_mode\": 2,\n        \"homing_offset\": -1470"), "shoulder_pan.drive_mode", "0 or 1"),
            (replacing("\"homing_offset\": 153,\n", ""), "shoulder_lift.homing_offset", "missing"),
            (replacing("\"range_max\": 3509", "\"range_max\": 3509, \"offset\": 1"), "gripper.offset", "unknown key"),
            (replacing("\"range_max\": 3178", "\"range_max\": 862"), "wrist_flex.range_max", "below"),
            (replacing("\"id\": 6", "\"id\": 5"), "gripper.id", "wrist_roll"),
            (replacing("\"id\": 2", "\"id\": \"2\""), "shoulder_lift.id", "integer"),
        ]
        for (text, key, words) in cases {
            let e = try #require(error(text), "\(key) should be refused")
            #expect(e.code == .invalidCalibration)
            #expect(e.location.file == "cal.json")
            #expect(e.location.keyPath == key, "\(e)")
            #expect(e.message.contains(words), "\(e)")
        }
        let syntax = try #require(error("{\"shoulder_pan\": {"))
        #expect(syntax.code == .invalidCalibration && syntax.location.byteOffset != nil, "a syntax error names its byte offset")
    }

    @Test func aCalibrationForAnotherArmIsRefused() throws {
        let hw = try so101Hardware()
        let wrongID = so101LeRobotCalibrationText.replacingOccurrences(of: "\"id\": 3", with: "\"id\": 9")
        let e1 = try #require(error(wrongID, hardware: hw))
        #expect(e1.location.keyPath == "elbow_flex.id" && e1.message.contains("9") && e1.message.contains("3"), "\(e1)")
        let renamed = so101LeRobotCalibrationText.replacingOccurrences(of: "\"gripper\"", with: "\"jaw\"")
        let e2 = try #require(error(renamed, hardware: hw))
        #expect(e2.location.keyPath == "jaw", "\(e2)")
    }
}
