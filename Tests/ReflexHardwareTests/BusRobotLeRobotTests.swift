import Foundation
import ReflexCore
import ReflexRobot
import Testing

@testable import ReflexHardware

/// A bus arm in LeRobot's units writes the Goal_Position registers LeRobot's own `send_action` writes and reads
/// the observations its `get_observation` returns, on the same calibration (Fixtures/make_lerobot_units_fixture.py
/// ran LeRobot 0.4.4's SOFollower and KochFollower with their wire calls recorded).
@Suite struct BusRobotLeRobotTests {
    func robotFixture(_ type: LeRobotRobotType) throws -> JSONValue {
        let robots = try #require(try lerobotUnitsFixture()["robots"]?.arrayValue)
        return try #require(robots.first { $0["robot_type"]?.stringValue == type.rawValue })
    }

    /// The arm on an emulated bus whose servos hold the calibration, as an arm LeRobot calibrated does.
    func rig(_ type: LeRobotRobotType, useDegrees: Bool, writeCalibration: Bool = false)
        throws -> (BusRobot, ServoBusEmulator, LeRobotCalibration) {
        let d = try RobotDescription.load(path: repoRobots + (type == .kochFollower ? "/koch.yaml" : "/so101.yaml"))
        let hw = try ArmBusConfiguration(description: d)
        let cal = try LeRobotCalibration.parse(try #require(try robotFixture(type)["calibration_text"]?.stringValue))
        let emu = try ServoBusEmulator(servos: hw.servos.map { EmulatedServo(table: $0.controlTable, id: $0.id) })
        if !writeCalibration {
            for s in emu.servos {
                let c = try #require(cal.motors.first { $0.calibration.id == Int(s.id) }?.calibration)
                s.store(s.homingOffsetRegister, Int32(c.homingOffset))
                s.store(s.table.minPositionLimit, Int32(c.rangeMin))
                s.store(s.table.maxPositionLimit, Int32(c.rangeMax))
            }
        }
        let robot = try BusRobot(description: d, lerobot: LeRobotArmUnits(calibration: cal, useDegrees: useDegrees)) {
            makeServoBus(hw.bus, transport: LoopbackTransport(emulator: emu), retries: 1, replyTimeoutNanoseconds: 5_000_000)
        }
        robot.writesLeRobotCalibration = writeCalibration
        return (robot, emu, cal)
    }

    func numbers(_ v: JSONValue?) -> [[Double]] {
        (v?.arrayValue ?? []).map { ($0.arrayValue ?? []).map { $0.numberValue ?? .nan } }
    }

    @Test(arguments: [LeRobotRobotType.so101Follower, .kochFollower])
    func goalRegistersAndObservationsEqualLeRobots(_ type: LeRobotRobotType) throws {
        let fixture = try robotFixture(type)
        let cases = try #require(fixture["cases"]?.arrayValue)
        #expect(cases.count == 2)
        for c in cases {
            let useDegrees = c["use_degrees"] == .bool(true)
            let (robot, emu, _) = try rig(type, useDegrees: useDegrees)
            let modes = (c["norm_modes"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(LeRobotNormMode.init) }
            #expect(robot.motorUnits?.map(\.mode) == modes, "LeRobot's norm modes for use_degrees=\(useDegrees)")
            try robot.configure()
            // get_observation: the same Present_Position words give the same values, bit for bit.
            let state = JointState(count: robot.jointCount)
            for (raw, expected) in zip(numbers(c["present_registers"]), numbers(c["observations"])) {
                for (k, s) in emu.servos.enumerated() { s.place(at: raw[k]) }
                #expect(robot.read(into: state) == .ok)
                #expect(Array(state.position) == expected, "\(type) use_degrees=\(useDegrees) raw \(raw)")
            }
            // send_action: the same action gives the same Goal_Position register words.
            try robot.activate()
            let command = JointCommand(count: robot.jointCount)
            for (action, goals) in zip(numbers(c["actions"]), numbers(c["goal_registers"])) {
                for k in action.indices { command.position[k] = action[k] }
                #expect(robot.write(command) == .ok)
                let written = emu.servos.map { s in
                    let r = s.table.goalPosition
                    return Double(s.memory.withUnsafeBytes { LittleEndian.load($0, Int(r.address), width: r.width) })
                }
                #expect(written == goals, "\(type) use_degrees=\(useDegrees) action \(action)")
            }
            robot.finalize()
        }
    }

    @Test func configureRefusesServosThatDoNotHoldTheCalibration() throws {
        let (robot, emu, _) = try rig(.so101Follower, useDegrees: true)
        emu.servo(id: 4)!.store(STS3215.Register.homingOffset, 12)
        do {
            try robot.configure()
            Issue.record("a servo with another homing offset must be refused")
        } catch let e as ReflexError {
            #expect(e.code == .invalidCalibration)
            #expect(e.message.contains("wrist_flex") && e.message.contains("servo 4") && e.message.contains("-1957") && e.message.contains("12"), "\(e)")
        }
        #expect(emu.servos.allSatisfy { !$0.motion.torqueEnabled }, "torque never enabled on a failed check")
    }

    @Test(arguments: [LeRobotRobotType.so101Follower, .kochFollower])
    func configureCanWriteTheCalibrationAsLeRobotDoes(_ type: LeRobotRobotType) throws {
        let (robot, emu, cal) = try rig(type, useDegrees: false, writeCalibration: true)
        for s in emu.servos { s.moveByHand(toActual: 2000) }
        try robot.configure()
        for s in emu.servos {
            let c = try #require(cal.motors.first { $0.calibration.id == Int(s.id) }?.calibration)
            #expect(Int(s.load(s.homingOffsetRegister)) == c.homingOffset)
            #expect(Int(s.load(s.table.minPositionLimit)) == c.rangeMin && Int(s.load(s.table.maxPositionLimit)) == c.rangeMax)
            #expect(s.actualPosition == 2000, "the joint did not move, its reading did")
        }
        // Limits follow the calibrated range in LeRobot's units.
        #expect(robot.limits[0].lower == -100 && robot.limits[0].upper == 100)
        #expect(robot.limits[5].lower == 0 && robot.limits[5].upper == 100)
    }
}

/// An SO-101 (Feetech STS3215) or Koch (Dynamixel XL430 + XL330) on an in-process emulated bus.
func emulatedArm(koch: Bool = false) throws -> (BusRobot, ServoBusEmulator) {
    let d = try RobotDescription.load(path: repoRobots + (koch ? "/koch.yaml" : "/so101.yaml"))
    let hw = try ArmBusConfiguration(description: d)
    let emu = try ServoBusEmulator(servos: hw.servos.map { EmulatedServo(table: $0.controlTable, id: $0.id) })
    let robot = try BusRobot(description: d) {
        makeServoBus(hw.bus, transport: LoopbackTransport(emulator: emu), retries: 1, replyTimeoutNanoseconds: 5_000_000)
    }
    return (robot, emu)
}

/// Start-up checks that name the servo and leave torque off: mixed firmware, supply voltage, a missing servo.
@Suite struct BusRobotStartupCheckTests {
    func rig(koch: Bool = false) throws -> (BusRobot, ServoBusEmulator) { try emulatedArm(koch: koch) }

    func configureError(_ robot: BusRobot) -> ReflexError? {
        do { try robot.configure(); return nil } catch { return error as? ReflexError }
    }

    @Test func healthyArmsPass() throws {
        for koch in [false, true] {
            let (robot, _) = try rig(koch: koch)
            try robot.configure() // Koch mixes XL430 and XL330: different models may differ in firmware
            robot.finalize()
        }
    }

    @Test func mixedFirmwareIsRefusedNamingBothServos() throws {
        let (robot, emu) = try rig()
        emu.servo(id: 4)!.store(STS3215.Register.firmwareMinorVersion, 10)
        let e = try #require(configureError(robot))
        #expect(e.message.contains("servo 4") && e.message.contains("3.10") && e.message.contains("3.9") && e.message.contains("servo 1"), "\(e)")
        #expect(emu.servos.allSatisfy { !$0.motion.torqueEnabled })
    }

    @Test func supplyVoltageOutOfRangeIsRefused() throws {
        let (robot, emu) = try rig(koch: true)
        emu.servo(id: 5)!.store(DynamixelX.presentInputVoltage, 30) // 3.0 V on an XL330 (3.5–7.0 V)
        let e = try #require(configureError(robot))
        #expect(e.message.contains("wrist_roll") && e.message.contains("servo 5") && e.message.contains("3.0 V"), "\(e)")
        #expect(emu.servos.allSatisfy { !$0.motion.torqueEnabled })
    }

    @Test func aMissingServoIsNamed() throws {
        let (robot, emu) = try rig()
        emu.inject(ServoFault(.silent, id: 3, count: nil))
        let e = try #require(configureError(robot))
        #expect(e.message.contains("elbow_flex"), "\(e)")
        #expect(emu.servos.allSatisfy { !$0.motion.torqueEnabled })
    }
}
