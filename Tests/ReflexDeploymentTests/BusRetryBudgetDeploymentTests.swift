import Foundation
import ReflexCore
import ReflexDeployment
import ReflexHardware
import ReflexRobot
import ReflexRuntime
import Testing

/// A bus arm whose line turns noisy mid-episode spends its retry budget; the loop's watchdog then turns torque off
/// (as configured), and the deployment says which bus and why, instead of the loop retrying forever.
@Suite struct BusRetryBudgetDeploymentTests {
    @Test func aSpentRetryBudgetStopsTheArmThroughTheWatchdog() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let d = try RobotDescription.named("so101")
        let hw = try ArmBusConfiguration(description: d)
        let emu = try ServoBusEmulator(servos: hw.servos.map { EmulatedServo(table: $0.controlTable, id: $0.id, position: Double($0.offset)) })
        let link = try EmulatorLink(emulator: emu)
        defer { link.stop() }
        var config = ArmConfig(robot: "so101", port: link.path, zeroFeatures: true)
        config.busRetryBudget = BusRetryBudget(retries: 3, windowSeconds: 60)
        let deployment = try Deployment(config: config)
        // A watchdog slower than the budget: two noisy ticks (2 retries each) spend it well before 1 s of stale state.
        let controller = try deployment.makeController(rate: 50, safety: SafetyConfig(watchdogTimeout: 1, watchdogAction: .torqueOff),
                                                       priority: nil, lockMemory: false, inlineInference: true)
        try controller.addPolicy(name: "lift", PolicyLoader.load(directory: root + "/policies/so101-lift"))
        try controller.bringUp()
        defer { controller.shutdown() }
        _ = try controller.start(policy: "lift")
        usleep(300_000)
        #expect(link.withEmulator { $0.servos.allSatisfy(\.motion.torqueEnabled) }, "running")
        // Every reply of servo 2 fails its CRC: each tick's sync read is retried twice and fails.
        link.withEmulator { $0.inject(ServoFault(.badChecksum, id: 2, count: nil)) }
        var torqueOff = false
        for _ in 0 ..< 100 where !torqueOff {
            usleep(50_000)
            torqueOff = link.withEmulator { $0.servos.allSatisfy { !$0.motion.torqueEnabled } }
        }
        #expect(torqueOff, "the watchdog turned torque off once the arm stopped reading")
        let report = try #require(deployment.servoHealth())
        let message = try #require(report.retryBudgetMessage)
        #expect(message.contains("bus \(link.path)") && message.contains("budget of 3"), "\(message)")
        #expect(report.retryBudgetExhaustions == 1)
        var events: [String] = []
        controller.currentLoop?.events.drain { events.append("\($0)") }
        #expect(events.contains { $0.contains("retryBudget") }, "\(events)")
    }
}
