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

@Suite struct PolicySwitchTests {
    @Test func switchingHoldsThenApproachesTheNewPolicy() throws {
        let clock = ManualClock()
        let fake = try activeFake(clock)
        let first = try RampPolicy(joints: 6, rest: 0)
        let second = try RampPolicy(joints: 6, rest: 0.5)
        let safety = try SafetyLayer(limits: fake.limits, config: SafetyConfig(approachSpeed: 0.5), period: 0.01)
        var config = ControlLoopConfig(rate: 100, realTimePriority: nil, lockMemory: false)
        config.inlineInference = true
        let loop = try ControlLoop(robot: fake, safety: safety, policy: first,
                                   observation: try slotObservation(joints: 6, clock: clock), config: config, clock: clock)
        try loop.begin()
        loop.runTicks(100)
        #expect(abs(fake.lastCommand[1]) < 1e-9 && safety.mode == .tracking)
        try loop.switchPolicy(to: second)
        #expect(loop.policyGeneration == 1)
        loop.runTicks(1)
        #expect(safety.mode == .approaching) // the new policy's first pose is approached slowly, not jumped to
        #expect(fake.lastCommand[1] <= 0.005 + 1e-9)
        loop.runTicks(150)
        #expect(abs(fake.lastCommand[1] - 0.5) < 1e-6)
        #expect(second.resets == 1 && second.steps.first == 0) // fresh start: no RTI shift from the old policy
        var switched = 0
        loop.events.drain { if $0.kind == .policySwitch { switched += 1 } }
        #expect(switched == 1)
        #expect(fake.recorded.writesOutsideLimits == 0 && fake.recorded.largestStep <= 0.03 + 1e-9)
    }

    @Test func aPolicyOfAnotherShapeIsRefused() throws {
        let clock = ManualClock()
        let fake = try activeFake(clock)
        let safety = try SafetyLayer(limits: fake.limits, config: SafetyConfig(), period: 0.01)
        let loop = try ControlLoop(robot: fake, safety: safety, policy: try RampPolicy(joints: 6),
                                   observation: try slotObservation(joints: 6, clock: clock),
                                   config: ControlLoopConfig(realTimePriority: nil, lockMemory: false), clock: clock)
        #expect(throws: ReflexError.self) { try loop.switchPolicy(to: try RampPolicy(joints: 6, horizon: 12)) }
        #expect(loop.policyGeneration == 0)
    }

    @Test func switchingWhileTheThreadRuns() throws {
        let fake = FakeRobot.sixJoint()
        try fake.configure()
        try fake.activate()
        let first = try smallDiffusionPolicy(observation: 6, action: 6)
        let second = try smallDiffusionPolicy(observation: 6, action: 6, sampler: .ddim(steps: 2, eta: 0))
        let safety = try SafetyLayer(limits: fake.limits, config: SafetyConfig(), period: 0.005)
        let loop = try ControlLoop(robot: fake, safety: safety, policy: first, observation: try ObservationBuilder(jointCount: 6),
                                   config: ControlLoopConfig(rate: 200, realTimePriority: nil, lockMemory: false))
        try loop.start()
        while loop.snapshot().counters.chunksReceived < 3 { usleep(2000) }
        let before = loop.snapshot().counters.chunksReceived
        try loop.switchPolicy(to: second)
        while loop.snapshot().counters.chunksReceived < before + 3 { usleep(2000) }
        loop.stop()
        #expect(loop.worker?.policy === second)
        #expect(fake.recorded.writesOutsideLimits == 0)
    }
}
