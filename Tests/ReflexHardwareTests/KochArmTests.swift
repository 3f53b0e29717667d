import Foundation
import ReflexCore
import ReflexRobot
import Testing

@testable import ReflexHardware

/// robots/koch.yaml (LeRobot's koch_follower: XL430-W250 and XL330-M288 on one Dynamixel 2.0 bus) loads through the
/// same description code as the SO-101 and drives `BusRobot` against the emulator: configure, read, write,
/// calibrate.
@Suite struct KochArmTests {
    func koch() throws -> RobotDescription { try RobotDescription.load(path: repoRobots + "/koch.yaml") }

    func rig(_ d: RobotDescription, calibration: BusCalibration? = nil, start: [UInt8: Double] = [:]) throws
        -> (BusRobot, ServoBusEmulator)
    {
        let hw = try ArmBusConfiguration(description: d)
        let emu = try ServoBusEmulator(servos: hw.servos.map {
            EmulatedServo(table: $0.controlTable, id: $0.id, position: start[$0.id] ?? 2048)
        })
        let robot = try BusRobot(description: d, calibration: calibration) {
            makeServoBus(hw.bus, transport: LoopbackTransport(emulator: emu), retries: 1, replyTimeoutNanoseconds: 5_000_000)
        }
        return (robot, emu)
    }

    @Test func descriptionMatchesLeRobotsKochFollower() throws {
        let d = try koch()
        #expect(d.jointNames == ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"])
        let hw = try ArmBusConfiguration(description: d)
        #expect(hw.bus == .dynamixel && hw.baudRate == 1_000_000)
        #expect(hw.servos.map(\.id) == [1, 2, 3, 4, 5, 6])
        #expect(hw.servos.map(\.controlTable.modelNumber) == [XL430.table.modelNumber, XL430.table.modelNumber]
            + Array(repeating: XL330.table.modelNumber, count: 4))
        // The kinematic chain reaches the grasp point: at zero the arm is folded within ~35 cm of the base.
        let chain = try KinematicChain(robot: d)
        let tip = chain.forward(d.home)
        #expect(tip.translation.norm > 0.05 && tip.translation.norm < 0.35)
    }

    @Test func busRobotReadsWritesOnMixedXL430AndXL330() throws {
        let d = try koch()
        let (robot, emu) = try rig(d)
        try robot.configure() // pings: each id answers with its own model number
        let state = JointState(count: robot.jointCount)
        #expect(robot.read(into: state) == .ok)
        #expect(state.position.allSatisfy { abs($0) < 1e-12 }, "2048 ticks at offset 2048 is joint zero")
        try robot.activate()
        #expect(emu.servos.allSatisfy { $0.motion.torqueEnabled })
        let cmd = JointCommand(count: robot.jointCount)
        let target = [0.3, 1.0, 1.2, -0.4, 0.7, 1.1]
        for k in target.indices { cmd.position[k] = target[k] }
        #expect(robot.write(cmd) == .ok)
        for (k, s) in emu.servos.enumerated() {
            #expect(s.motion.goal == (2048 + target[k] * 4096 / (2 * .pi)).rounded(), "servo \(s.id) goal")
        }
        for _ in 0 ..< 60 { emu.advance(dt: 0.05) }
        #expect(robot.read(into: state) == .ok)
        for k in target.indices { #expect(abs(state.position[k] - target[k]) < 2 * Double.pi / 4096, "joint \(k)") }
        // XL430 reports Present_Load, XL330 Present_Current: both come out as a fraction of stall.
        #expect(state.effort.allSatisfy { $0.isFinite && abs($0) <= 1 })
        robot.finalize()
        #expect(emu.servos.allSatisfy { !$0.motion.torqueEnabled })
    }

    @Test func wrongModelOnAnIdIsRefusedAtConfigure() throws {
        let d = try koch()
        let hw = try ArmBusConfiguration(description: d)
        // Servo 1 is an XL330 on the wire, the description says XL430.
        let emu = try ServoBusEmulator(servos: hw.servos.map {
            EmulatedServo(table: $0.id == 1 ? XL330.table : $0.controlTable, id: $0.id)
        })
        let robot = try BusRobot(description: d) {
            makeServoBus(.dynamixel, transport: LoopbackTransport(emulator: emu), retries: 0, replyTimeoutNanoseconds: 5_000_000)
        }
        #expect {
            try robot.configure()
        } throws: { ($0 as? ReflexError)?.message.contains("joint shoulder_pan") ?? false }
    }

    /// The calibration `reflex calibrate` performs: zero pose read with torque off, a range sweep, the file
    /// written and read back; the calibrated arm then reads zero at that pose and the sweep's ends as angles.
    @Test func calibrationSweepRoundTrips() throws {
        let d = try koch()
        let zero: [UInt8: Double] = [1: 2100, 2: 1000, 3: 3000, 4: 2048, 5: 1500, 6: 2600]
        let (arm, emu) = try rig(d, start: zero)
        try arm.configure()
        let zeroTicks = try arm.readTicks()
        #expect(zeroTicks == [2100, 1000, 3000, 2048, 1500, 2600])
        var lo = zeroTicks, hi = zeroTicks
        for step in [-300.0, 250.0, 0] { // a hand moving every joint (torque off: the emulator is moved directly)
            for s in emu.servos { s.place(at: (zero[s.id] ?? 2048) + step) }
            let t = try arm.readTicks()
            for k in t.indices { lo[k] = min(lo[k], t[k]); hi[k] = max(hi[k], t[k]) }
        }
        let hw = arm.hardware
        arm.finalize()
        let cal = BusCalibration(robot: d.name, joints: hw.servos.indices.map { k in
            JointCalibration(joint: hw.servos[k].joint, id: Int(hw.servos[k].id), offset: Int(zeroTicks[k]),
                             direction: hw.servos[k].direction, rangeMin: Int(lo[k]), rangeMax: Int(hi[k]))
        })
        let path = NSTemporaryDirectory() + "koch-cal-\(getpid()).yaml"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try cal.save(path: path)
        let loaded = try BusCalibration.load(path: path, for: hw)
        #expect(loaded.joints.map(\.offset) == [2100, 1000, 3000, 2048, 1500, 2600])
        #expect(loaded.joints.allSatisfy { $0.rangeMax - $0.rangeMin == 550 })

        let (robot, emu2) = try rig(d, calibration: loaded, start: zero)
        try robot.configure()
        let state = JointState(count: robot.jointCount)
        #expect(robot.read(into: state) == .ok)
        #expect(state.position.allSatisfy { abs($0) < 1e-12 })
        for s in emu2.servos { s.place(at: (zero[s.id] ?? 2048) + 250) }
        #expect(robot.read(into: state) == .ok)
        #expect(state.position.allSatisfy { abs($0 - 250 * 2 * .pi / 4096) < 1e-9 })
        robot.finalize()
    }
}
