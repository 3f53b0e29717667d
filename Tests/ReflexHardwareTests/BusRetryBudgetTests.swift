import Foundation
import ReflexCore
import ReflexRobot
import Testing

@testable import ReflexHardware

/// A bus with line noise spends its retry budget; the arm then stops reading and commanding (so the safety
/// layer's watchdog holds it or turns torque off) and says which bus, instead of retrying forever.
@Suite struct BusRetryBudgetTests {
    func rig() throws -> (BusRobot, ServoBusEmulator) {
        let d = try RobotDescription.load(path: repoRobots + "/so101.yaml")
        let hw = try ArmBusConfiguration(description: d)
        let emu = try ServoBusEmulator(servos: hw.servos.map { EmulatedServo(table: $0.controlTable, id: $0.id) })
        let robot = try BusRobot(description: d) {
            makeServoBus(.feetech, transport: LoopbackTransport(emulator: emu), retries: 1, replyTimeoutNanoseconds: 2_000_000,
                         name: "/dev/emulated-so101")
        }
        robot.healthInterval = 0 // only the control traffic here
        return (robot, emu)
    }

    @Test func lineNoiseSpendsTheBudgetAndMotionStops() throws {
        let (robot, emu) = try rig()
        robot.retryBudget = BusRetryBudget(retries: 5, windowSeconds: 60)
        try robot.configure()
        try robot.activate()
        let state = JointState(count: robot.jointCount)
        let command = JointCommand(count: robot.jointCount)
        #expect(robot.read(into: state) == .ok)
        // Every reply of servo 2 fails its checksum: each sync read is retried once (retries: 1) and fails.
        emu.inject(ServoFault(.badChecksum, id: 2, count: nil))
        var ticks = 0
        var status = RobotStatus.ok
        while !status.faults.contains(.retryBudget) && ticks < 20 {
            status = robot.read(into: state)
            ticks += 1
        }
        #expect(status.faults.contains(.retryBudget) && status.verdict == .hold, "\(status)")
        #expect(ticks == 6, "one retry per read: the 6th retry exceeds a budget of 5 (took \(ticks) reads)")
        #expect(robot.retryBudgetExhausted)
        // Spent: nothing more goes on the bus, neither reads nor goals, even once the line is clean again.
        emu.clearFaults()
        let requests = emu.requestsHandled
        let stamp = state.timestamp
        #expect(robot.read(into: state).faults == .retryBudget)
        #expect(robot.write(command).faults == .retryBudget)
        #expect(emu.requestsHandled == requests && state.timestamp == stamp, "the state ages: the watchdog takes over")
        let report = robot.healthReport()
        let message = try #require(report.retryBudgetMessage)
        #expect(message.contains("bus /dev/emulated-so101") && message.contains("budget of 5") && message.contains("stopped commanding motion"), "\(message)")
        #expect(report.retryBudgetExhaustions == 1 && report.statistics.retries >= 6)
        // A person decides to go on: a fresh budget, and the arm reads again.
        robot.resetRetryBudget()
        #expect(robot.read(into: state) == .ok)
        #expect(robot.healthReport().retryBudgetMessage == nil && robot.healthReport().retryBudgetExhaustions == 1)
        robot.finalize()
    }

    /// Occasional retries within the budget change nothing; a window that ends starts the count afresh.
    @Test func retriesWithinTheBudgetAreCountedOnly() throws {
        let (robot, emu) = try rig()
        robot.retryBudget = BusRetryBudget(retries: 3, windowSeconds: 0.001)
        try robot.configure()
        try robot.activate()
        let state = JointState(count: robot.jointCount)
        for _ in 0 ..< 8 {
            emu.inject(ServoFault(.badChecksum, id: 4, count: 1)) // one corrupt reply, retried and answered
            #expect(robot.read(into: state) == .ok)
            usleep(2000) // past the window
        }
        #expect(!robot.retryBudgetExhausted && robot.busStatistics.retries == 8)
        robot.finalize()
    }

    @Test func budgetsAreValidated() {
        #expect(BusRetryBudget.standard.problem == nil)
        #expect(BusRetryBudget(retries: -1, windowSeconds: 5).problem != nil)
        #expect(BusRetryBudget(retries: 5, windowSeconds: 0).problem != nil)
    }
}
