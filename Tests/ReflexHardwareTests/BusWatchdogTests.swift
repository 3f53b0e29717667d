import Foundation
import ReflexCore
import ReflexRobot
import Testing

@testable import ReflexHardware

/// What the servos do when their controller dies without a word (kill -9): Dynamixel X-series stop on their Bus
/// Watchdog, which `BusRobot` arms while active; Feetech STS3215s have none and go on to their last goal.
@Suite struct BusWatchdogTests {
    func rig(_ name: String) throws -> (BusRobot, ServoBusEmulator, RobotDescription) {
        let d = try RobotDescription.load(path: repoRobots + "/\(name).yaml")
        let hw = try ArmBusConfiguration(description: d)
        let emu = try ServoBusEmulator(servos: hw.servos.map { EmulatedServo(table: $0.controlTable, id: $0.id, position: 2048) })
        let robot = try BusRobot(description: d) {
            makeServoBus(hw.bus, transport: LoopbackTransport(emulator: emu), retries: 1, replyTimeoutNanoseconds: 5_000_000)
        }
        return (robot, emu, d)
    }

    @Test func dynamixelServosStopOnBusSilenceAndARestartClearsTheError() throws {
        let (robot, emu, d) = try rig("koch")
        robot.busWatchdogMilliseconds = 100
        try robot.configure()
        #expect(emu.servos.allSatisfy { $0.busWatchdog == 0 })
        try robot.activate()
        #expect(emu.servos.allSatisfy { $0.busWatchdog == 5 }) // 100 ms in 20 ms units
        // A command far from the present pose, then the controller dies mid-motion: no more packets.
        let cmd = JointCommand(count: robot.jointCount)
        let state = JointState(count: robot.jointCount)
        #expect(robot.read(into: state) == .ok)
        for k in 0 ..< robot.jointCount { cmd.position[k] = state.position[k] }
        cmd.position[1] = state.position[1] + 0.8
        #expect(robot.write(cmd) == .ok)
        let servo = try #require(emu.servo(id: 2))
        let goal = servo.motion.goal
        for _ in 0 ..< 4 { emu.advance(dt: 0.02) } // 80 ms: still within the watchdog, still moving
        #expect(!servo.busWatchdogTripped && servo.motion.goal == goal)
        for _ in 0 ..< 2 { emu.advance(dt: 0.02) } // 120 ms of silence
        #expect(servo.busWatchdogTripped && servo.busWatchdog == -1)
        #expect(servo.motion.torqueEnabled) // it stops and holds; torque stays on
        let stoppedAt = servo.motion.position
        #expect(servo.motion.goal == stoppedAt && abs(stoppedAt - goal) > 50)
        for _ in 0 ..< 50 { emu.advance(dt: 0.02) }
        #expect(abs(servo.motion.position - stoppedAt) < 2) // stays put
        #expect(emu.busWatchdogTrips == emu.servos.count)
        // Goal writes are refused until the error is cleared.
        let bus = makeServoBus(.dynamixel, transport: LoopbackTransport(emulator: emu), retries: 0, replyTimeoutNanoseconds: 5_000_000)
        #expect(throws: ReflexError.self) { try bus.write(DynamixelX.goalPosition, id: 2, value: 1000) }
        #expect(servo.motion.goal == stoppedAt)
        // A restarted controller: configure leaves torque off and the watchdog cleared (inactive, no motion).
        let again = try BusRobot(description: d) {
            makeServoBus(.dynamixel, transport: LoopbackTransport(emulator: emu), retries: 1, replyTimeoutNanoseconds: 5_000_000)
        }
        again.busWatchdogMilliseconds = 100
        try again.configure()
        #expect(again.lifecycle == .inactive)
        #expect(emu.servos.allSatisfy { $0.busWatchdog == 0 && !$0.motion.torqueEnabled })
        // Active again and idle (no loop): it trips, then rearming lets goals through.
        try again.activate()
        for _ in 0 ..< 6 { emu.advance(dt: 0.02) }
        #expect(servo.busWatchdogTripped)
        try again.rearmBusWatchdog()
        #expect(servo.busWatchdog == 5)
        #expect(again.read(into: state) == .ok)
        cmd.position[1] = state.position[1] + 0.3
        #expect(again.write(cmd) == .ok)
        #expect(abs(servo.motion.goal - servo.motion.position) > 50) // the new goal was taken
        again.finalize()
    }

    @Test func feetechServosHaveNoWatchdogAndKeepTheirLastGoal() throws {
        let (robot, emu, _) = try rig("so101")
        try robot.configure()
        try robot.activate()
        #expect(emu.servos.allSatisfy { $0.busWatchdog == nil })
        let cmd = JointCommand(count: robot.jointCount)
        let state = JointState(count: robot.jointCount)
        #expect(robot.read(into: state) == .ok)
        for k in 0 ..< robot.jointCount { cmd.position[k] = state.position[k] }
        cmd.position[1] = state.position[1] + 0.5
        #expect(robot.write(cmd) == .ok)
        let servo = try #require(emu.servo(id: 2))
        let goal = servo.motion.goal
        for _ in 0 ..< 100 { emu.advance(dt: 0.02) } // 2 s of silence
        #expect(servo.motion.torqueEnabled && servo.motion.goal == goal)
        #expect(abs(servo.motion.position - goal) < 5) // it went on to its last goal and holds there
    }
}
