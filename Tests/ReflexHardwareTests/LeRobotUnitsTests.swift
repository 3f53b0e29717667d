import Foundation
import ReflexCore
import Testing

@testable import ReflexHardware

/// LeRobot's own `_normalize` / `_unnormalize` outputs, recorded by Fixtures/make_lerobot_units_fixture.py.
func lerobotUnitsFixture() throws -> JSONValue {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/lerobot_units.json").path
    return try JSONParser.parse(try readTextFile(path))
}

@Suite struct LeRobotUnitsTests {
    @Test func normalizeAndUnnormalizeMatchLeRobotExactly() throws {
        let fixture = try lerobotUnitsFixture()
        let cases = try #require(fixture["units"]?.arrayValue)
        #expect(cases.count == 36, "2 buses × 3 modes × 6 calibrations")
        var compared = 0
        for c in cases {
            let bus = try #require(ServoProtocol(rawValue: c["bus"]?.stringValue ?? ""))
            let mode = try #require(LeRobotNormMode(rawValue: c["mode"]?.stringValue ?? ""))
            let cal = try #require(c["calibration"])
            let calibration = LeRobotMotorCalibration(
                id: Int(cal["id"]!.numberValue!), driveMode: Int(cal["drive_mode"]!.numberValue!),
                homingOffset: Int(cal["homing_offset"]!.numberValue!), rangeMin: Int(cal["range_min"]!.numberValue!),
                rangeMax: Int(cal["range_max"]!.numberValue!))
            let units = LeRobotMotorUnits(mode: mode, calibration: calibration, bus: bus,
                                          resolution: Int(c["max_res"]!.numberValue!) + 1)
            #expect(units.reversed == (c["apply_drive_mode"] == .bool(true) && calibration.driveMode == 1))
            let raw = c["raw"]!.arrayValue!.map { Int($0.numberValue!) }
            let normalized = c["normalized"]!.arrayValue!.map { $0.numberValue! }
            for (r, expected) in zip(raw, normalized) {
                // Same operations in the same order on IEEE doubles: bit-for-bit equal.
                #expect(units.normalize(r) == expected, "\(bus) \(mode) id \(calibration.id) raw \(r)")
                compared += 1
            }
            let values = c["values"]!.arrayValue!.map { $0.numberValue! }
            let ticks = c["ticks"]!.arrayValue!.map { Int($0.numberValue!) }
            for (v, expected) in zip(values, ticks) {
                #expect(units.unnormalize(v) == expected, "\(bus) \(mode) id \(calibration.id) value \(v)")
                compared += 1
            }
        }
        #expect(compared > 1000)
    }

    @Test func calibrationFilesLeRobotWroteRoundTripByteForByte() throws {
        let robots = try #require(try lerobotUnitsFixture()["robots"]?.arrayValue)
        #expect(robots.count == 2)
        for r in robots {
            let text = try #require(r["calibration_text"]?.stringValue)
            let c = try LeRobotCalibration.parse(text)
            #expect(c.motors.count == 6 && c.motors.contains { $0.calibration.driveMode == 1 })
            #expect(c.serialized == text, "draccus.dump's text, as \(r["robot_type"]?.stringValue ?? "?") wrote it")
        }
    }

    @Test func nonFiniteValuesAreRefusedNotTrapped() {
        let u = LeRobotMotorUnits(mode: .degrees, rangeMin: 0, rangeMax: 4095, reversed: false, maxResolution: 4095)
        #expect(u.unnormalize(.nan) == nil)
        #expect(u.unnormalize(.infinity) == nil)
        #expect(u.unnormalize(1e300) == 2_147_483_647, "clamped to what a register conversion can hold")
    }

    @Test func robotTypesListLeRobotsMotorsAndModes() {
        #expect(LeRobotRobotType.so101Follower.positionFeatures.first == "shoulder_pan.pos")
        #expect(LeRobotRobotType.kochFollower.bus == .dynamixel)
        #expect(LeRobotRobotType.so100Follower.normModes(useDegrees: false) == [.rangeM100To100, .rangeM100To100, .rangeM100To100, .rangeM100To100, .rangeM100To100, .range0To100])
        #expect(LeRobotRobotType.so101Follower.normModes(useDegrees: true).last == .range0To100)
    }
}
