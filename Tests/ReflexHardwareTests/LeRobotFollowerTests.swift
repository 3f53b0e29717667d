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
/// One client at a time: each imports lerobot (pandas, pyarrow) in a few seconds of CPU, and the waits for it are long
/// only to survive a loaded CI machine.
@Suite(.serialized, .enabled(if: TestPeers.runs(lerobotPython != nil), Comment(rawValue: TestPeers.skipReason("peers venv with lerobot"))))
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
        var calibration_file: String
    }

    /// Runs the client; `interact` gets its stdin while it runs (LeRobot's prompts are on its stderr, in a file).
    func runFollower(_ python: String, _ type: LeRobotRobotType, port: String, calibrationFile: String, useDegrees: Bool,
                     actionJSON: String, interact: (FileHandle) throws -> Void = { _ in }) throws -> Report {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [followerScript, type == .kochFollower ? "koch" : "so101", port, calibrationFile, useDegrees ? "1" : "0", actionJSON]
        let input = Pipe(), out = Pipe()
        let errPath = FileManager.default.temporaryDirectory.appendingPathComponent("lerobot-follower-\(UUID().uuidString).log").path
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        p.standardInput = input
        p.standardOutput = out
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        try p.run()
        try interact(input.fileHandleForWriting)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let errText = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        try #require(p.terminationStatus == 0, "LeRobot's follower failed: \(errText.suffix(3000))")
        return try JSONDecoder().decode(Report.self, from: data)
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
        let link = try EmulatorLink(emulator: emu, realTimePriority: 50) // answers as servos do, whatever the suite runs beside it
        defer { link.stop() }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("lerobot-cal-\(UUID().uuidString).json").path
        try calibrationText.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let action = Dictionary(uniqueKeysWithValues: type.motors.enumerated().map { k, m in
            (m + ".pos", m == "gripper" ? 37.5 : (useDegrees ? [12.5, -20.25, 33.0, -7.75, 90.5][k] : [-60.5, 20.25, 3.0, 77.75, -99.5][k]))
        })
        let actionJSON = String(decoding: try JSONEncoder().encode(action), as: UTF8.self)

        let r = try runFollower(python, type, port: link.path, calibrationFile: file, useDegrees: useDegrees, actionJSON: actionJSON)

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

    /// LeRobot's interactive calibration on the emulated arm, with the joints moved by hand through the emulator
    /// (the hand-move hook) between its prompts: ENTER at the middle pose writes half-turn homings; the joints then
    /// go to one end of their range and the other, and ENTER ends the recording. The file LeRobot saves holds the
    /// homing offsets of its own formula and the extremes the joints were moved to, which Reflex reads as written.
    @Test(arguments: [LeRobotRobotType.so101Follower, .kochFollower])
    func lerobotsInteractiveCalibrationRecordsJointsMovedByHand(_ type: LeRobotRobotType) throws {
        let python = try #require(lerobotPython, Comment(rawValue: TestPeers.missing("lerobot (Tests/peers-lerobot-requirements.txt)")))
        let d = try RobotDescription.load(path: repoRobots + (type == .kochFollower ? "/koch.yaml" : "/so101.yaml"))
        let hw = try ArmBusConfiguration(description: d)
        let emu = try ServoBusEmulator(servos: hw.servos.map { EmulatedServo(table: $0.controlTable, id: $0.id) },
                                       model: HeldStill())
        let middle: [Double] = [1900, 2300, 1700, 2500, 2100, 1800]
        let low: [Double] = [700, 900, 650, 1000, 0, 1200], high: [Double] = [3300, 3100, 3000, 3400, 0, 2900]
        for (k, s) in emu.servos.enumerated() { s.moveByHand(toActual: middle[k]) }
        let link = try EmulatorLink(emulator: emu, realTimePriority: 50) // answers as servos do, whatever the suite runs beside it
        defer { link.stop() }
        // LeRobot records no range for its full-turn joints (SO: wrist_roll; Koch: shoulder_pan too).
        let fullTurn = Set((type == .kochFollower ? ["shoulder_pan", "wrist_roll"] : ["wrist_roll"]).compactMap { type.motors.firstIndex(of: $0) })
        func moveAll(_ positions: (Int) -> Double) {
            link.withEmulator { e in
                for (k, s) in e.servos.enumerated() where !fullTurn.contains(k) { s.moveByHand(toActual: positions(k)) }
            }
        }
        let action = String(decoding: try JSONEncoder().encode(Dictionary(uniqueKeysWithValues: type.motors.map { ($0 + ".pos", 10.0) })), as: UTF8.self)
        let r = try runFollower(python, type, port: link.path, calibrationFile: "-", useDegrees: false,
                                actionJSON: action) { stdin in
            try stdin.write(contentsOf: Data("\n".utf8)) // "Move … to the middle of its range of motion and press ENTER"
            // LeRobot writes the half-turn homings, then records: wait for the offsets to land on the servos.
            let deadline = Date().addingTimeInterval(120)
            while link.withEmulator({ e in e.servos.contains { $0.load($0.homingOffsetRegister) == 0 } }) {
                guard Date() < deadline else { Issue.record("LeRobot never wrote the homing offsets"); break }
                Thread.sleep(forTimeInterval: 0.05)
            }
            Thread.sleep(forTimeInterval: 0.5)
            moveAll { low[$0] }
            Thread.sleep(forTimeInterval: 1.0)
            moveAll { high[$0] }
            Thread.sleep(forTimeInterval: 1.0)
            moveAll { middle[$0] }
            Thread.sleep(forTimeInterval: 0.5)
            try stdin.write(contentsOf: Data("\n".utf8)) // "Press ENTER to stop…"
        }
        let saved = try LeRobotCalibration.parse(r.calibration_file)
        #expect(saved.motors.map(\.motor) == type.motors)
        for (k, entry) in saved.motors.enumerated() {
            let c = entry.calibration
            // LeRobot's _get_half_turn_homings: Feetech actual − 2047, Dynamixel 2047 − actual (the reading becomes 2047).
            let homing = type.bus == .feetech ? Int(middle[k]) - 2047 : 2047 - Int(middle[k])
            #expect(c.homingOffset == homing, "\(entry.motor)")
            if fullTurn.contains(k) {
                #expect(c.rangeMin == 0 && c.rangeMax == 4095, "the full-turn joint is not recorded")
            } else {
                // Each extreme, read after the homing: a half turn plus how far the hand moved it from the middle.
                #expect(c.rangeMin == 2047 + Int(low[k] - middle[k]), "\(entry.motor) min")
                #expect(c.rangeMax == 2047 + Int(high[k] - middle[k]), "\(entry.motor) max")
            }
            #expect(r.calibration[entry.motor]?.homing_offset == c.homingOffset, "the servos hold what the file says")
        }

        // Reflex's own recorder (`reflex calibrate --lerobot FILE --record`), the same hand movements on a fresh
        // arm: the file it writes is LeRobot's, byte for byte, and the servos hold it.
        let fresh = try ServoBusEmulator(servos: hw.servos.map { EmulatedServo(table: $0.controlTable, id: $0.id) },
                                         model: HeldStill())
        for (k, s) in fresh.servos.enumerated() { s.moveByHand(toActual: middle[k]) }
        let bus = makeServoBus(hw.bus, transport: LoopbackTransport(emulator: fresh), retries: 1, replyTimeoutNanoseconds: 5_000_000)
        let recorder = try LeRobotCalibrationRecorder(bus: bus, hardware: hw, robotType: type)
        #expect(recorder.fullTurnMotors.compactMap { type.motors.firstIndex(of: $0) }.sorted() == fullTurn.sorted())
        try recorder.setHalfTurnHomings()
        for positions in [low, high, middle] {
            for (k, s) in fresh.servos.enumerated() where !fullTurn.contains(k) { s.moveByHand(toActual: positions[k]) }
            try recorder.sample()
        }
        let reflexFile = try recorder.finish()
        #expect(reflexFile.serialized == r.calibration_file)
        for (s, e) in zip(fresh.servos, reflexFile.motors) {
            #expect(Int(s.load(s.homingOffsetRegister)) == e.calibration.homingOffset)
            #expect(Int(s.load(s.table.minPositionLimit)) == e.calibration.rangeMin && Int(s.load(s.table.maxPositionLimit)) == e.calibration.rangeMax)
        }
    }

    /// LeRobot's motor setup (`lerobot-setup-motors` → `SO101Follower.setup_motors`) finds each emulated servo as it
    /// finds a real one: one factory-fresh STS3215 (id 1) on the bus at a time, as its prompts ask, which it scans
    /// for, checks the model of, and gives the motor's id and the bus's baud rate. The test plugs in the next fresh
    /// servo (id back to 1) once LeRobot has renumbered the previous one.
    @Test func lerobotsMotorSetupFindsAndNumbersEachEmulatedServo() throws {
        let python = try #require(lerobotPython, Comment(rawValue: TestPeers.missing("lerobot (Tests/peers-lerobot-requirements.txt)")))
        let emu = try ServoBusEmulator(table: STS3215.table, ids: [1], model: HeldStill())
        let link = try EmulatorLink(emulator: emu, realTimePriority: 50) // answers as servos do, whatever the suite runs beside it
        defer { link.stop() }
        let servo = emu.servos[0]
        var numbered: [Int] = []
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [followerScript, "so101", link.path, "setup", "1", "{}"]
        let input = Pipe(), out = Pipe()
        p.standardInput = input
        p.standardOutput = out
        let errPath = FileManager.default.temporaryDirectory.appendingPathComponent("lerobot-setup-\(UUID().uuidString).log").path
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        try p.run()
        func prompts() -> Int {
            ((try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "").components(separatedBy: "press enter").count - 1
        }
        // LeRobot goes from the gripper (6) down to shoulder_pan (1).
        for (n, target) in stride(from: 6, through: 1, by: -1).enumerated() {
            try input.fileHandleForWriting.write(contentsOf: Data("\n".utf8)) // "Connect the controller board to the '…' motor only"
            guard target > 1 else { break } // the last one keeps id 1: nothing to wait for
            // LeRobot writes the id, then the baud rate to the new id, then asks for the next motor: swap the servo
            // only at that prompt (swapped at the id write, the baud-rate write found no servo with the new id).
            let deadline = Date().addingTimeInterval(120)
            while prompts() < n + 2 && p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            let id = link.withEmulator { _ in Int(servo.id) }
            numbered.append(id)
            guard id == target else { break }
            #expect(link.withEmulator { _ in servo.load(STS3215.Register.baudRate) } == 0, "1 Mbps, the bus's rate")
            link.withEmulator { _ in servo.store(STS3215.Register.id, 1) } // the next motor, fresh from the box
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(((try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "").suffix(2000))")
        #expect(numbered == [6, 5, 4, 3, 2], "each servo renumbered as LeRobot's motor table says")
        let report = try JSONParser.parse(String(decoding: data, as: UTF8.self))
        #expect(report["motors"]?["gripper"]?.numberValue == 6)
    }
}
