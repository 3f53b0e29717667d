import Foundation
import Logging
import ReflexCore
import ReflexHardware
import ReflexRobot
import ReflexSteering
import Testing

@testable import ReflexServe

/// These tests read servo health, not bus timing: the bus waits up to 100 ms for a reply (not 10), so an emulator
/// thread starved on a loaded two-core machine is not taken for a missing servo.
private let patientReplyMs = 100.0

/// The daemon over an emulated SO-101 bus: `/v1/status` and `/metrics` carry each servo's health and the bus's
/// counters (labelled by joint and servo id, and by the bus's device).
@Suite struct ServoHealthStatusTests {
    @Test func statusAndMetricsCarryServoHealth() async throws {
        let d = try RobotDescription.named("so101")
        let hw = try ArmBusConfiguration(description: d)
        let emu = try ServoBusEmulator(servos: hw.servos.map { EmulatedServo(table: $0.controlTable, id: $0.id, position: Double($0.offset)) })
        let link = try EmulatorLink(emulator: emu)
        defer { link.stop() }
        let core = try DaemonCore(config: ServeConfig(arm: .init(robot: "so101", port: link.path, busReplyTimeoutMs: patientReplyMs)), logger: Logger(label: "test"))
        try core.bringUp()
        defer { core.controller.shutdown() }
        // Start-up read every servo once (the loop reads them while an episode runs).
        let bus = try #require(core.deployment?.servoHealth())
        #expect(bus.servos.count == 6 && bus.bus == link.path)
        core.invalidateStatus()
        let status = core.status()
        let servos = try #require(status.servos)
        #expect(servos.servos.map(\.joint) == d.jointNames)
        #expect(servos.servos.allSatisfy { $0.temperature == 30 && $0.voltage == 12 }, "read at start-up")
        let json = String(decoding: try core.statusJSON(), as: UTF8.self)
        #expect(json.contains("\"temperature_limit\":70") && json.contains("\"hardware_error_names\""), "snake_case keys")
        let metrics = core.metrics()
        #expect(metrics.contains("reflex_servo_temperature_celsius{joint=\"elbow_flex\",id=\"3\"} 30"))
        #expect(metrics.contains("reflex_servo_voltage_volts{joint=\"shoulder_pan\",id=\"1\"} 12"))
        #expect(metrics.contains("reflex_servo_problem{joint=\"elbow_flex\",id=\"3\",problem=\"over_temperature\"} 0"))
        #expect(metrics.contains("reflex_bus_retries_total{bus=\"\(link.path)\"} "))
        #expect(metrics.contains("reflex_bus_timeouts_total{bus="))
        // Idle (no episode), the daemon still reads its servos now and then: a servo that overheats shows.
        link.withEmulator { $0.inject(ServoFault(.overheat, id: 3, count: nil)) }
        var hot = false
        for _ in 0 ..< 60 where !hot {
            core.pumpEvents()
            try await Task.sleep(nanoseconds: 100_000_000)
            hot = core.deployment?.servoHealth()?.servos[2].problems.contains("over_temperature") == true
        }
        #expect(hot, "read within the idle period (2 s)")
        core.pumpEvents()
        #expect(core.events.entries(limit: 50).contains { $0.kind == "servo_health" && $0.text.contains("joint elbow_flex: servo 3 is at 80 °C") })
        await core.safeStop() // after any idle read queued on the control queue
    }

    /// While an episode runs the loop reads one servo every few ticks: a servo that overheats shows in the status,
    /// the metrics and, once, as a `servo_health` event naming the joint and servo.
    @Test func aServoOverheatingDuringAnEpisodeIsReported() async throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let d = try RobotDescription.named("so101")
        let hw = try ArmBusConfiguration(description: d)
        let emu = try ServoBusEmulator(servos: hw.servos.map { EmulatedServo(table: $0.controlTable, id: $0.id, position: Double($0.offset)) })
        let link = try EmulatorLink(emulator: emu)
        defer { link.stop() }
        var config = ServeConfig(arm: .init(robot: "so101", port: link.path, busReplyTimeoutMs: patientReplyMs), policies: ["a": try makePolicyDirectory(root, "a")])
        config.rate = 50
        config.priority = 0
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let core = try DaemonCore(config: config, logger: logger)
        try core.bringUp()
        defer { core.controller.shutdown() }
        _ = try await core.start(policy: "a")
        link.withEmulator { $0.inject(ServoFault(.overheat, id: 5, count: nil)) }
        // 50 Hz, a health read every 10 ticks, one servo each: servo 5 within 6 reads (1.2 s).
        var servo5: ServoHealth?
        for _ in 0 ..< 40 {
            try await Task.sleep(nanoseconds: 100_000_000)
            core.pumpEvents()
            servo5 = core.deployment?.servoHealth()?.servos.first { $0.id == 5 }
            if servo5?.problems.contains("over_temperature") == true { break }
        }
        #expect(servo5?.temperature == 80 && servo5?.problems == ["over_temperature", "hardware_error"], "\(String(describing: servo5))")
        core.pumpEvents()
        // (On a loaded machine a control read may miss every servo now and then; three in a row would be noted too.)
        let noted = core.events.entries(limit: 50).filter { $0.kind == "servo_health" && !$0.text.contains("did not answer") }.map(\.text)
        #expect(noted.count == 2, "each problem noted once: \(noted)")
        #expect(noted.contains { $0.contains("joint wrist_roll: servo 5 is at 80 °C") }, "\(noted)")
        #expect(core.metrics().contains("reflex_servo_problem{joint=\"wrist_roll\",id=\"5\",problem=\"over_temperature\"} 1"))
        core.invalidateStatus()
        #expect(core.status().servos?.servos[4].messages.count == 2)
        await core.safeStop()
    }
}

/// The retry budget in the daemon's config and metrics.
@Suite struct RetryBudgetConfigTests {
    func read(_ text: String) throws -> ServeConfig {
        let path = NSTemporaryDirectory() + "serve-budget-\(UUID().uuidString).yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try ServeConfig.read(path)
    }

    @Test func configDecodesAndValidatesTheReplyTimeout() throws {
        let c = try read("arm:\n  robot: so101\n  port: /dev/ttyACM0\n  bus_reply_timeout_ms: 34\n")
        #expect(c.arm.busReplyTimeoutMs == 34)
        for bad in ["  port: /dev/ttyACM0\n  bus_reply_timeout_ms: 0.5\n", "  port: /dev/ttyACM0\n  bus_reply_timeout_ms: 5000\n",
                    "  fake: true\n  bus_reply_timeout_ms: 34\n"] {
            #expect { try read("arm:\n  robot: so101\n" + bad) } throws: {
                ($0 as? ReflexError)?.location.keyPath == "arm.bus_reply_timeout_ms"
            }
        }
    }

    @Test func configDecodesAndValidatesTheBudget() throws {
        let c = try read("arm:\n  robot: so101\n  port: /dev/ttyACM0\n  bus_retry_budget: {retries: 20, window_seconds: 2}\n")
        #expect(c.arm.busRetryBudget == BusRetryBudget(retries: 20, windowSeconds: 2))
        #expect { try read("arm:\n  robot: so101\n  port: /dev/ttyACM0\n  bus_retry_budget: {retries: 20, window_seconds: 0}\n") } throws: {
            ($0 as? ReflexError)?.location.keyPath == "arm.bus_retry_budget"
        }
        #expect { try read("arm:\n  robot: so101\n  fake: true\n  bus_retry_budget: {retries: 20, window_seconds: 2}\n") } throws: {
            ($0 as? ReflexError)?.location.keyPath == "arm.bus_retry_budget"
        }
    }

    @Test func metricsCountTheSpentBudget() {
        var statistics = ServoBusStatistics()
        statistics.requests = 10
        statistics.retries = 7
        let report = BusHealthReport(bus: "/dev/ttyACM0", servos: [], statistics: statistics,
                                     retryBudget: BusRetryBudget(retries: 5, windowSeconds: 5), retryBudgetExhaustions: 1,
                                     retryBudgetMessage: "bus /dev/ttyACM0: …")
        let text = ServoHealthMetrics.text(report)
        #expect(text.contains("reflex_bus_retries_total{bus=\"/dev/ttyACM0\"} 7\n"))
        #expect(text.contains("reflex_bus_retry_budget_exhausted_total{bus=\"/dev/ttyACM0\"} 1\n"))
        #expect(text.contains("reflex_bus_retry_budget_exhausted{bus=\"/dev/ttyACM0\"} 1\n"))
    }
}
