import Foundation
import ReflexCore
import Synchronization
import Testing

@testable import ReflexRobot

/// A time source tests move by hand.
final class TestTime: @unchecked Sendable {
    let ns = Atomic<UInt64>(1_000_000_000)
    func advance(seconds: Double) { ns.add(UInt64(seconds * 1e9), ordering: .relaxed) }
    var reading: @Sendable () -> UInt64 { { [self] in ns.load(ordering: .relaxed) } }
}

@Suite struct RobotLifecycleTests {
    @Test func transitionsFollowTheLifecycle() throws {
        let time = TestTime()
        let robot = FakeRobot.sixJoint(now: time.reading)
        let state = JointState(count: robot.jointCount)
        let command = JointCommand(count: robot.jointCount)
        #expect(robot.read(into: state).verdict == .stop) // unconfigured: nothing to read
        #expect(throws: ReflexError.self) { try robot.activate() }
        try robot.configure()
        #expect(robot.lifecycle == .inactive)
        #expect(robot.read(into: state) == .ok) // state readable without torque
        #expect(robot.write(command).faults.contains(.notActive)) // but no commands
        try robot.activate()
        #expect(robot.write(command) == .ok)
        #expect(throws: ReflexError.self) { try robot.configure() }
        try robot.withTorqueDisabled {
            #expect(robot.lifecycle == .inactive)
        }
        #expect(robot.lifecycle == .active)
        robot.finalize()
        #expect(robot.lifecycle == .finalized)
        #expect(robot.recorded.activations == 2)
    }

    @Test func errorNamesTheTransitionAndState() {
        do {
            try LifecycleState.unconfigured.check(.activate, robot: "arm")
            Issue.record("activate from unconfigured was allowed")
        } catch let e as ReflexError {
            #expect(e.code == .invalidTransition)
            #expect(e.description.contains("arm") && e.description.contains("activate") && e.description.contains("unconfigured"))
        } catch { Issue.record("unexpected \(error)") }
    }

    @Test func badLimitsAreRefused() {
        #expect(throws: ReflexError.self) {
            try FakeRobot(jointNames: ["a"], limits: [JointLimits(lower: 1, upper: -1, velocity: 1)])
        }
        #expect(throws: ReflexError.self) {
            try FakeRobot(jointNames: ["a", "b"], limits: [JointLimits(lower: -1, upper: 1, velocity: 1)])
        }
    }
}

@Suite struct FakeRobotTests {
    @Test func jointsFollowAFirstOrderLagCappedBySpeed() throws {
        let time = TestTime()
        let robot = try FakeRobot(jointNames: ["a"], limits: [JointLimits(lower: -3, upper: 3, velocity: 100)],
                                  initialPositions: [0], timeConstant: 0.1, now: time.reading)
        try robot.configure()
        try robot.activate()
        let state = JointState(count: 1), command = JointCommand(count: 1)
        command.position[0] = 1
        _ = robot.write(command)
        time.advance(seconds: 0.1) // one time constant: 1 − e^−1 of the way
        _ = robot.read(into: state)
        #expect(abs(state.position[0] - (1 - exp(-1.0))) < 1e-9)
        #expect(state.velocity[0] > 0)

        let slow = try FakeRobot(jointNames: ["a"], limits: [JointLimits(lower: -3, upper: 3, velocity: 0.5)],
                                 initialPositions: [0], timeConstant: 0.01, now: time.reading)
        try slow.configure()
        try slow.activate()
        _ = slow.write(command)
        time.advance(seconds: 0.2)
        _ = slow.read(into: state)
        #expect(abs(state.position[0] - 0.1) < 1e-9) // capped at 0.5 rad/s
    }

    @Test func injectedFaultsAreReportedAndCounted() throws {
        let time = TestTime()
        let robot = FakeRobot.sixJoint(now: time.reading)
        try robot.configure()
        try robot.activate()
        let state = JointState(count: 6), command = JointCommand(count: 6)
        _ = robot.read(into: state)
        let stamp = state.timestamp
        robot.inject(.dropReads(2))
        time.advance(seconds: 0.01)
        #expect(robot.read(into: state) == RobotStatus(.hold, faults: .noReply, joint: 0))
        #expect(state.timestamp == stamp) // a failed read leaves the state as it was
        #expect(robot.read(into: state).verdict == .hold)
        #expect(robot.read(into: state) == .ok)
        #expect(state.timestamp > stamp)

        robot.inject(.nonFiniteReads(1))
        let s = robot.read(into: state)
        #expect(s.faults.contains(.nonFiniteState) && state.position[0].isNaN)

        robot.inject(.servoError(joint: 3, .overload))
        let e = robot.read(into: state)
        #expect(e == RobotStatus(.stop, faults: .overload, joint: 3))
        #expect(state.faults[3] == .overload)

        robot.inject(.failWrites(1))
        #expect(robot.write(command).faults == .noReply)
        command.position[0] = 99 // outside the limits: recorded, not obeyed
        _ = robot.write(command)
        robot.clearFaults()
        #expect(robot.read(into: state) == .ok)
        let r = robot.recorded
        #expect(r.failedReads == 2 && r.failedWrites == 1 && r.writesOutsideLimits == 1)
        time.advance(seconds: 1)
        _ = robot.read(into: state)
        #expect(state.position[0] <= 1.9)
    }

    @Test func statusMergeKeepsTheWorst() {
        let a = RobotStatus(.hold, faults: .noReply, joint: 2)
        let b = RobotStatus(.stop, faults: .overheat, joint: 4)
        #expect(a.merged(b) == RobotStatus(.stop, faults: [.noReply, .overheat], joint: 2))
        #expect(RobotFaults([.overload, .noReply]).names == ["overload", "noReply"])
    }
}
