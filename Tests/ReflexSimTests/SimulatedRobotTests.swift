import AllocationCounter
import ReflexCore
import ReflexRobot
import Testing

@testable import ReflexSim

@Suite struct SimulatedRobotTests {
    final class ManualClock: @unchecked Sendable {
        let t = PIMutex<UInt64>(1_000_000_000)
        func advance(seconds: Double) { t.withLock { $0 += UInt64(seconds * 1e9) } }
        var now: UInt64 { t.withLock { $0 } }
    }

    @Test func followsTheLifecycleAndTracksTargets() throws {
        let description = try RobotDescription.load(path: so101Path)
        let clock = ManualClock()
        let robot = SimulatedRobot(description: description, now: { clock.now })
        let state = JointState(count: robot.jointCount)
        let command = JointCommand(count: robot.jointCount)
        #expect(robot.read(into: state).verdict == .hold)
        #expect(throws: ReflexError.self) { try robot.activate() }
        try robot.configure()
        #expect(robot.read(into: state) == .ok)
        for i in 0 ..< robot.jointCount { #expect(abs(state.position[i] - description.home[i]) < 1e-12) }
        #expect(robot.write(command).faults.contains(.notActive))
        try robot.activate()
        for i in 0 ..< robot.jointCount { command.position[i] = description.home[i] }
        command.position[0] = 0.4
        for _ in 0 ..< 10 { // solver and contact arrays grow to their working size
            clock.advance(seconds: 0.05)
            _ = robot.write(command)
            _ = robot.read(into: state)
        }
        let before = rx_thread_allocation_count()
        for _ in 0 ..< 30 {
            clock.advance(seconds: 0.05)
            _ = robot.write(command)
            _ = robot.read(into: state)
        }
        #expect(rx_thread_allocation_count() - before == 0)
        #expect(abs(state.position[0] - 0.4) < 0.01)
        try robot.deactivate()
        robot.finalize()
        #expect(robot.lifecycle == .finalized)
    }
}
