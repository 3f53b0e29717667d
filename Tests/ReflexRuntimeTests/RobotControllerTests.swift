#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore
import ReflexPolicy
import ReflexRobot
import Testing

@testable import ReflexRuntime

private func controller(stopAction: SafetyConfig.StopAction = .hold) throws -> (RobotController, FakeRobot) {
    let fake = FakeRobot.sixJoint()
    let c = try RobotController(robot: fake, safety: SafetyConfig(stopAction: stopAction),
                                loop: ControlLoopConfig(rate: 200, realTimePriority: nil, lockMemory: false)) { _ in
        try ObservationBuilder(jointCount: 6, includeVelocities: true)
    }
    return (c, fake)
}

@Suite struct RobotControllerTests {
    @Test func lifecycleEpisodesSwitchAndEmergencyStop() throws {
        let (c, fake) = try controller()
        try c.bringUp()
        #expect(c.status().lifecycle == .inactive && !c.status().running) // up, but no torque until told
        try c.addPolicy(name: "a", try smallDiffusionPolicy(observation: 12, action: 6))
        try c.addPolicy(name: "b", try smallDiffusionPolicy(observation: 12, action: 6, sampler: .ddim(steps: 2, eta: 0)))
        #expect(throws: ReflexError.self) { try c.switchPolicy(to: "b") } // nothing running
        try c.start(policy: "a")
        var s = c.status()
        #expect(s.lifecycle == .active && s.running && s.activePolicy == "a" && s.policies == ["a", "b"])
        #expect(throws: ReflexError.self) { try c.start(policy: "b") }
        while (c.status().loop?.counters.chunksReceived ?? 0) < 2 { usleep(2000) }
        try c.switchPolicy(to: "b")
        #expect(c.status().policyGeneration == 1 && c.status().activePolicy == "b")
        let metrics = c.metrics()
        #expect(metrics.contains("# TYPE reflex_loop_period_jitter_seconds histogram"))
        #expect(metrics.contains("reflex_robot_lifecycle{state=\"active\"} 1"))
        #expect(metrics.contains("reflex_policy_generation 1"))
        c.emergencyStop()
        while c.status().loop?.mode != .stopped { usleep(2000) }
        s = c.status()
        #expect(s.emergencyStop && s.loop?.safety.emergencyStops == 1 && fake.lifecycle == .active) // hold
        try c.stop()
        #expect(!c.status().running)
        #expect(throws: ReflexError.self) { try c.start(policy: "a") } // e-stop still engaged
        try c.clearEmergencyStop()
        try c.start(policy: "a")
        try c.stop()
        c.shutdown()
        #expect(fake.lifecycle == .finalized && fake.recorded.writesOutsideLimits == 0)
        #expect(c.metrics().contains("reflex_robot_lifecycle{state=\"finalized\"} 1"))
    }

    @Test func badRequestsAreRefusedWithoutMovingAnything() throws {
        let (c, fake) = try controller()
        try c.bringUp()
        #expect(throws: ReflexError.self) { try c.start(policy: "missing") }
        #expect(throws: ReflexError.self) { try c.addPolicy(name: "../etc", try smallDiffusionPolicy(observation: 12, action: 6)) }
        #expect(throws: ReflexError.self) { try c.addPolicy(name: "wide", try smallDiffusionPolicy(observation: 12, action: 5)) }
        #expect(throws: ReflexError.self) { try c.addPolicy(name: "blind", try smallDiffusionPolicy(observation: 7, action: 6)) }
        #expect(throws: ReflexError.self) { try c.stop() }
        #expect(fake.lifecycle == .inactive && fake.recorded.writes == 0)
        #expect(c.status().policies.isEmpty)
    }

    @Test func emergencyStopWithoutALoopSwitchesTorqueOffWhenConfigured() throws {
        let (c, fake) = try controller(stopAction: .torqueOff)
        try c.bringUp()
        try c.addPolicy(name: "a", try smallDiffusionPolicy(observation: 12, action: 6))
        try c.start(policy: "a")
        try c.stop()
        #expect(fake.lifecycle == .active)
        c.emergencyStop()
        #expect(fake.lifecycle == .inactive)
        c.shutdown()
    }
}
