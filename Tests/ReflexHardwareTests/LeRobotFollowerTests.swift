import Foundation
import ReflexCore
import ReflexRobot
import TestSupport
import Testing

@testable import ReflexHardware

/// The peers venv's python with LeRobot and both SDKs (Tests/peers-requirements.txt and
/// Tests/peers-lerobot-requirements.txt).
private let lerobotPython = TestPeers.python(with: ["lerobot", "scservo_sdk", "dynamixel_sdk"])
private let followerScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Fixtures/lerobot_follower.py").path

/// Servos that stay where they are (a real arm at rest), so the words LeRobot reads around its observation agree.
private final class HeldStill: ServoModel {
    func advance(_ servos: inout [ServoMotionState], dt: Double) {
        for k in servos.indices { servos[k].velocity = 0 }
    }
}

/// LeRobot 0.4.4's own `SO101Follower` and `KochFollower`, unmodified, drive the emulated arm over a
/// pseudo-terminal (Fixtures/lerobot_follower.py): connect, write the calibration file to the servos as LeRobot
/// does, configure, observe, act. What they leave on the servos and what they read and write equal Reflex's own
/// reading of the same calibration: the offsets and limits in the servos' registers, the observation from the same
/// Present_Position words (bit for bit), the Goal_Position words for the same action.
/// Skipped where the venv lacks lerobot; with CI set, a failure.
@Suite(.enabled(if: TestPeers.runs(lerobotPython != nil), Comment(rawValue: TestPeers.skipReason("peers venv with lerobot"))))
struct LeRobotFollowerTests {
    struct Report: Decodable {
        struct Calibration: Decodable, Equatable {
            var id: Int, drive_mode: Int, homing_offset: Int, range_min: Int, range_max: Int
        }
        var norm_modes: [String: String]
        var present_before: [String: Int]
        var present_after: [String: Int]
        var observation: [String: Double]
        var sent: [String: Double]
        var goal: [String: Int]
        var calibration: [String: Calibration]
    }

    static let cases: [(LeRobotRobotType, Bool)] = [(.so101Follower, true), (.so101Follower, false),
                                                    (.kochFollower, false), (.kochFollower, true)]

    @Test(arguments: cases)
    func lerobotsFollowerDrivesTheEmulatorAsReflexReadsIt(_ type: LeRobotRobotType, useDegrees: Bool) throws {
        let python = try #require(lerobotPython, Comment(rawValue: TestPeers.missing("lerobot (Tests/peers-lerobot-requirements.txt)")))
        let robots = try #require(try lerobotUnitsFixture()["robots"]?.arrayValue)
        let calibrationText = try #require(robots.first { $0["robot_type"]?.stringValue == type.rawValue }?["calibration_text"]?.stringValue)
        let calibration = try LeRobotCalibration.parse(calibrationText)
        let d = try RobotDescription.load(path: repoRobots + (type == .kochFollower ? "/koch.yaml" : "/so101.yaml"))
        let hw = try ArmBusConfiguration(description: d)
        let emu = try ServoBusEmulator(servos: hw.servos.map { EmulatedServo(table: $0.controlTable, id: $0.id) },
                                       model: HeldStill())
        // Joints where a hand left them, the servos still at factory offsets: LeRobot writes the file's.
        for (k, s) in emu.servos.enumerated() { s.moveByHand(toActual: Double(1500 + 173 * k)) }
        let link = try EmulatorLink(emulator: emu)
        defer { link.stop() }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("lerobot-cal-\(UUID().uuidString).json").path
        try calibrationText.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let action = Dictionary(uniqueKeysWithValues: type.motors.enumerated().map { k, m in
            (m + ".pos", m == "gripper" ? 37.5 : (useDegrees ? [12.5, -20.25, 33.0, -7.75, 90.5][k] : [-60.5, 20.25, 3.0, 77.75, -99.5][k]))
        })
        let actionJSON = String(decoding: try JSONEncoder().encode(action), as: UTF8.self)

        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [followerScript, type == .kochFollower ? "koch" : "so101", link.path, file, useDegrees ? "1" : "0", actionJSON]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        try #require(p.terminationStatus == 0, "LeRobot's follower failed: \(errText.suffix(3000))")
        let r = try JSONDecoder().decode(Report.self, from: data)

        let modes = type.normModes(useDegrees: useDegrees)
        #expect(type.motors.map { r.norm_modes[$0] } == modes.map { $0.rawValue }, "\(r.norm_modes)")
        #expect(r.present_before == r.present_after, "the arm held still")
        for (k, motor) in type.motors.enumerated() {
            let c = try #require(calibration.motors.first { $0.motor == motor }?.calibration)
            // LeRobot's write_calibration left the file's values in the servos' registers, and reads them back —
            // all but the drive mode: it writes offsets and limits only, and read_calibration reads Drive_Mode from
            // the servo (Dynamixel; Feetech has none and reads 0), untouched here. Its units use the file's.
            #expect(r.calibration[motor] == .init(id: c.id, drive_mode: 0, homing_offset: c.homingOffset,
                                                  range_min: c.rangeMin, range_max: c.rangeMax), "\(motor)")
            let servo = try #require(emu.servos.first { Int($0.id) == c.id })
            link.withEmulator { _ in
                #expect(Int(servo.load(servo.homingOffsetRegister)) == c.homingOffset, "\(motor) Homing_Offset")
                #expect(Int(servo.load(servo.table.minPositionLimit)) == c.rangeMin, "\(motor) Min_Position_Limit")
                #expect(Int(servo.load(servo.table.maxPositionLimit)) == c.rangeMax, "\(motor) Max_Position_Limit")
            }
            // Reflex's units over the same calibration: the observation from the same words, the same goal words.
            let units = LeRobotMotorUnits(mode: modes[k], calibration: c, bus: type.bus, resolution: servo.table.resolution)
            let raw = try #require(r.present_before[motor])
            #expect(units.normalize(raw) == r.observation[motor + ".pos"], "\(motor): raw \(raw)")
            let sent = try #require(r.sent[motor + ".pos"])
            #expect(units.unnormalize(sent) == r.goal[motor], "\(motor): action \(sent)")
            let goalWord = link.withEmulator { _ in
                servo.memory.withUnsafeBytes { LittleEndian.load($0, Int(servo.table.goalPosition.address), width: servo.table.goalPosition.width) }
            }
            #expect(Int(goalWord) == r.goal[motor], "\(motor): the emulator holds the Goal_Position LeRobot wrote")
        }
    }
}
