import ReflexCore
import ReflexRobot
import Testing

@testable import ReflexRuntime

/// Task features that go missing (a camera estimate that is stale) make the loop hold, like stale joint state, and
/// it resumes the policy when they are back.
@Suite struct FeatureHoldTests {
    @Test func missingFeaturesHoldThenResume() throws {
        let clock = ManualClock()
        let robot = RecordingRobot(try activeFake(clock), clock: clock)
        let policy = try RampPolicy(joints: 6)
        // A quick approach (the fake starts away from the policy's rest pose), so the policy is followed well before.
        let safety = try SafetyLayer(limits: robot.limits, config: SafetyConfig(approachSpeed: 100), period: 0.01)
        var config = ControlLoopConfig(rate: 100, realTimePriority: nil, lockMemory: false)
        config.inlineInference = true
        let blind = 40 ..< 50
        let observation = try ObservationBuilder(jointCount: 6, featureCount: 1, stateFeatures: { state, out in
            out[0] = Float(slot(clock.now()))
            return !blind.contains(slot(clock.now())) && state.count == 6
        })
        let loop = try ControlLoop(robot: robot, safety: safety, policy: policy, observation: observation, config: config,
                                   clock: clock)
        try loop.run(ticks: 80)
        let s = loop.snapshot()
        let slots = Array(robot.slots[0 ..< robot.count]), values = Array(robot.values[0 ..< robot.count])
        #expect(s.counters.featureHolds == slots.filter { blind.contains($0) }.count)
        #expect(s.counters.featureHolds == 10)
        // While blind: the last command, unchanged.
        guard let first = slots.firstIndex(of: blind.lowerBound), first > 0 else {
            Issue.record("no write in slot \(blind.lowerBound)")
            return
        }
        for i in first ..< first + blind.count { #expect(values[i] == values[first - 1], "slot \(slots[i]) moved while blind") }
        #expect(abs(values[first - 1] - 0.001 * Double(blind.lowerBound - 1)) < 1e-6, "before: following the policy")
        // Back: the policy's actions again, on their slots (the ramp's 0.01 catch-up is well inside the rate limit).
        for i in slots.indices where slots[i] >= blind.upperBound + 4 {
            #expect(abs(values[i] - 0.001 * Double(slots[i])) < 1e-6, "slot \(slots[i]) after the features came back")
        }
        var kinds: [(LoopEvent.Kind, UInt64)] = []
        loop.events.drain { if $0.kind == .featuresLost || $0.kind == .featuresBack { kinds.append(($0.kind, $0.value)) } }
        #expect(kinds.map(\.0) == [.featuresLost, .featuresBack])
        #expect(kinds.last?.1 == 10)
        #expect(robot.inner.recorded.writesOutsideLimits == 0)
    }
}
