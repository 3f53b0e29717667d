import AllocationCounter
import Foundation
import ReflexCore
import ReflexRobot
import Testing

@testable import ReflexHardware

@Suite struct BusRobotTests {
    func so101() throws -> RobotDescription { try RobotDescription.load(path: repoRobots + "/so101.yaml") }

    /// An SO-101 on an emulated bus (in-process) with the description's ids.
    func rig(calibration: BusCalibration? = nil) throws -> (BusRobot, ServoBusEmulator) {
        let d = try so101()
        let hw = try ArmBusConfiguration(description: d)
        let emu = try ServoBusEmulator(servos: hw.servos.map { EmulatedServo(table: $0.controlTable, id: $0.id, position: 2048) })
        let robot = try BusRobot(description: d, calibration: calibration) {
            makeServoBus(.feetech, transport: LoopbackTransport(emulator: emu), retries: 1, replyTimeoutNanoseconds: 5_000_000)
        }
        return (robot, emu)
    }

    @Test func ticksAndRadiansFollowOffsetAndDirection() throws {
        let d = try so101()
        var cal = BusCalibration.fromDescription("so101", try ArmBusConfiguration(description: d))
        cal.joints[1].offset = 1024
        cal.joints[1].direction = -1
        let (robot, emu) = try rig(calibration: cal)
        try robot.configure()
        let state = JointState(count: robot.jointCount)
        #expect(robot.read(into: state) == .ok)
        #expect(abs(state.position[0]) < 1e-12, "2048 ticks at offset 2048 is joint zero")
        #expect(abs(state.position[1] - (-Double.pi / 2)) < 1e-12, "1024 ticks past offset 1024, reversed: -π/2")
        try robot.activate()
        #expect(emu.servo(id: 1)!.motion.torqueEnabled)
        #expect(emu.servo(id: 2)!.motion.goal == 2048, "activation holds the present position")
        let cmd = JointCommand(count: robot.jointCount)
        cmd.position[0] = 0.5
        cmd.position[1] = -0.25
        #expect(robot.write(cmd) == .ok)
        #expect(emu.servo(id: 1)!.motion.goal == (2048 + 0.5 * 4096 / (2 * .pi)).rounded())
        #expect(emu.servo(id: 2)!.motion.goal == (1024 + 0.25 * 4096 / (2 * .pi)).rounded())
        for _ in 0 ..< 40 { emu.advance(dt: 0.05) }
        #expect(robot.read(into: state) == .ok)
        #expect(abs(state.position[0] - 0.5) < 2 * Double.pi / 4096)
        try robot.deactivate()
        #expect(!emu.servo(id: 1)!.motion.torqueEnabled)
        robot.finalize()
        #expect(robot.lifecycle == .finalized)
    }

    @Test func aMissingServoAtConfigureNamesTheJoint() throws {
        let (robot, emu) = try rig()
        emu.inject(ServoFault(.silent, id: 3, count: nil))
        #expect {
            try robot.configure()
        } throws: { e in
            let e = e as? ReflexError
            return e?.code == .servoNoReply && (e?.message.contains("joint elbow_flex") ?? false) && e?.location.element == "servo 3"
        }
        #expect(robot.lifecycle == .unconfigured)
    }

    @Test func silentServoGivesHoldWithTheJointAndKeepsTheLastState() throws {
        let (robot, emu) = try rig()
        try robot.configure()
        try robot.activate()
        let state = JointState(count: robot.jointCount)
        #expect(robot.read(into: state) == .ok)
        let stamp = state.timestamp
        emu.inject(ServoFault(.silent, id: 4, count: nil))
        let s = robot.read(into: state)
        #expect(s.verdict == .hold && s.faults == .noReply && s.joint == 3)
        #expect(state.timestamp == stamp, "a failed read leaves the state and its timestamp alone")
    }

    @Test func overloadBitsGiveAStop() throws {
        let (robot, emu) = try rig()
        try robot.configure()
        emu.inject(ServoFault(.overload, id: 6, count: nil))
        let state = JointState(count: robot.jointCount)
        let s = robot.read(into: state)
        #expect(s.verdict == .stop && s.faults == .overload && s.joint == 5)
        #expect(state.faults[5] == .overload)
    }

    @Test func nonFiniteCommandIsNotSent() throws {
        let (robot, emu) = try rig()
        try robot.configure()
        try robot.activate()
        let cmd = JointCommand(count: robot.jointCount)
        cmd.position[2] = .nan
        let before = emu.requestsHandled
        #expect(robot.write(cmd).verdict == .hold)
        #expect(emu.requestsHandled == before)
    }

    /// The same arm wired with Dynamixel XL330s (as a Koch-style bus): units, alert → Hardware Error Status → stop.
    @Test func dynamixelArmReadsWritesAndReportsHardwareErrors() throws {
        var d = try so101()
        d.hardware = try YAMLDecoder().decode(HardwareMapping.self, from: """
        bus: dynamixel
        baud_rate: 1000000
        servos:
        """ + d.joints.enumerated().map { k, j in
            "\n  - {joint: \(j.name), id: \(k + 1), model: xl330, offset: 2048, direction: \(k == 0 ? -1 : 1)}"
        }.joined())
        let hw = try ArmBusConfiguration(description: d)
        let emu = try ServoBusEmulator(servos: hw.servos.map { EmulatedServo(table: $0.controlTable, id: $0.id, position: 2048) })
        let robot = try BusRobot(description: d) {
            makeServoBus(.dynamixel, transport: LoopbackTransport(emulator: emu), retries: 1, replyTimeoutNanoseconds: 5_000_000)
        }
        try robot.configure()
        try robot.activate()
        let cmd = JointCommand(count: robot.jointCount)
        cmd.position[0] = 0.25
        #expect(robot.write(cmd) == .ok)
        #expect(emu.servo(id: 1)!.motion.goal == (2048 - 0.25 * 4096 / (2 * .pi)).rounded(), "direction -1")
        for _ in 0 ..< 40 { emu.advance(dt: 0.05) }
        let state = JointState(count: robot.jointCount)
        #expect(robot.read(into: state) == .ok)
        #expect(abs(state.position[0] - 0.25) < 2 * Double.pi / 4096)
        emu.inject(ServoFault(.overheat, id: 4, count: nil))
        let s = robot.read(into: state)
        #expect(s.verdict == .stop && s.faults == .overheat && s.joint == 3)
        robot.finalize()
    }

    /// The tick (read + write) allocates nothing, over a pty to the emulator on its own thread.
    @Test func readAndWriteAllocateNothing() throws {
        let d = try so101()
        let hw = try ArmBusConfiguration(description: d)
        let link = try EmulatorLink(emulator: try ServoBusEmulator(servos: hw.servos.map { EmulatedServo(table: $0.controlTable, id: $0.id) }))
        defer { link.stop() }
        let robot = try BusRobot(description: d) {
            makeServoBus(.feetech, transport: try SerialPort(path: link.path, baud: 1_000_000), replyTimeoutNanoseconds: 50_000_000)
        }
        try robot.configure()
        try robot.activate()
        let state = JointState(count: robot.jointCount)
        let cmd = JointCommand(count: robot.jointCount)
        func tick(_ i: Int) {
            _ = robot.read(into: state)
            for k in 0 ..< cmd.count { cmd.position[k] = state.position[k] + 0.001 * Double(i % 5) }
            _ = robot.write(cmd)
        }
        robot.healthInterval = 3 // a health read (one servo) every third tick: 33 in the measured 100
        for i in 0 ..< 5 { tick(i) }
        _ = robot.health.snapshot() // a reader on another thread must not make the loop's next store copy
        let before = rx_thread_allocation_count()
        for i in 0 ..< 100 { tick(i) }
        let allocations = rx_thread_allocation_count() - before
        #expect(allocations == 0, "\(allocations) allocations in 100 ticks with health reads")
        #expect(robot.busStatistics.failures == 0)
        #expect(robot.health.snapshot().allSatisfy { $0.readings >= 5 && $0.problems.isEmpty })
        robot.finalize()
    }
}
