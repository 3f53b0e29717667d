#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AllocationCounter
import ReflexCore
import ReflexPolicy
import ReflexRobot
import Testing

@testable import ReflexRuntime

private let noRT = ControlLoopConfig(rate: 100, realTimePriority: nil, lockMemory: false)

private func inline(_ steps: Int? = nil) -> ControlLoopConfig {
    var c = noRT
    c.inlineInference = true
    c.actionSteps = steps
    return c
}

@Suite struct ControlLoopTests {
    @Test func inlineInferenceRunsOneChunkPerActionSteps() throws {
        let clock = ManualClock()
        let robot = RecordingRobot(try activeFake(clock), clock: clock)
        let policy = try RampPolicy(joints: 6)
        let safety = try SafetyLayer(limits: robot.limits, config: SafetyConfig(), period: 0.01)
        let loop = try ControlLoop(robot: robot, safety: safety, policy: policy,
                                   observation: try slotObservation(joints: 6, clock: clock), config: inline(), clock: clock)
        try loop.run(ticks: 40)
        let s = loop.snapshot()
        #expect(s.counters.ticks == 40 && s.counters.deadlineMisses == 0)
        #expect(s.counters.chunksReceived == 10) // n_action_steps = 4
        #expect(policy.steps == [0] + Array(repeating: 4, count: 9)) // RTI shift: 4 ticks between conditioning
        #expect(policy.resets == 1)
        #expect(s.counters.noActionTicks == 0)
        #expect(s.timings["period_jitter"]?.max == 0) // a manual clock wakes exactly on time
    }

    @Test func actionsAreAlignedToTheirTicks() throws {
        // Once the approach is over, the command written in slot s must be the chunk's action for slot s, whatever
        // the handover latency (inline: none; worker thread: whatever the machine gives).
        for inlineMode in [true, false] {
            let clock = ManualClock()
            let fake = try activeFake(clock)
            fake.inject(.readLatency(nanoseconds: inlineMode ? 0 : 300_000)) // give the worker real time to answer
            let robot = RecordingRobot(fake, clock: clock)
            let policy = try RampPolicy(joints: 6)
            let safety = try SafetyLayer(limits: robot.limits, config: SafetyConfig(approachSpeed: 1.5), period: 0.01)
            var config = noRT
            config.inlineInference = inlineMode
            let loop = try ControlLoop(robot: robot, safety: safety, policy: policy,
                                       observation: try slotObservation(joints: 6, clock: clock), config: config, clock: clock)
            try loop.run(ticks: 300)
            var checked = 0
            for k in 60 ..< robot.count {
                let expected = 0.001 * Double(Float(robot.slots[k]))
                if abs(robot.values[k] - expected) < 1e-6 { checked += 1 }
            }
            let s = loop.snapshot()
            // Held ticks (no chunk in time on a busy machine) repeat a value; every other tick is exact.
            #expect(checked + s.counters.noActionTicks >= robot.count - 60 - 2, "inline \(inlineMode): \(checked) aligned of \(robot.count - 60)")
            #expect(checked > 100)
            #expect(fake.recorded.writesOutsideLimits == 0)
        }
    }

    @Test func overrunsAreCountedAndRePhased() throws {
        let clock = ManualClock()
        let robot = RecordingRobot(try activeFake(clock), clock: clock)
        robot.slowRead = (index: 6, by: 25_000_000) // the 5th tick's read takes 2.5 periods (read 1 is in begin)
        let safety = try SafetyLayer(limits: robot.limits, config: SafetyConfig(watchdogTimeout: 1), period: 0.01)
        let loop = try ControlLoop(robot: robot, safety: safety, policy: nil,
                                   observation: try ObservationBuilder(jointCount: 6), config: noRT, clock: clock)
        try loop.run(ticks: 10)
        let s = loop.snapshot()
        #expect(s.counters.deadlineMisses == 1)
        #expect(s.counters.skippedPeriods == 2)
        // Every tick woke on the original 10 ms grid: slots 1…5 (the slow one writes in slot 7), then 8…12.
        #expect(Array(robot.slots[0 ..< robot.count]) == [1, 2, 3, 4, 7, 8, 9, 10, 11, 12])
        #expect(s.timings["wake_latency"]?.max == 0)
        var misses: [LoopEvent] = []
        loop.events.drain { if $0.kind == .deadlineMiss { misses.append($0) } }
        #expect(misses.count == 1 && misses[0].value == 15_000_000)
    }

    @Test func aTickAllocatesNothing() throws {
        #expect(rx_allocation_counter_active() == 1)
        let clock = ManualClock()
        let fake = try activeFake(clock)
        let policy = try smallDiffusionPolicy(observation: 12, action: 6)
        let safety = try SafetyLayer(limits: fake.limits, config: SafetyConfig(), period: 0.01)
        let loop = try ControlLoop(robot: fake, safety: safety, policy: policy,
                                   observation: try ObservationBuilder(jointCount: 6, includeVelocities: true),
                                   config: inline(), clock: clock)
        try loop.begin()
        loop.runTicks(64) // warm-up: kernel packing buffers, first chunk
        fake.inject(.dropReads(3)) // fault paths too
        fake.inject(.failWrites(2))
        let before = rx_thread_allocation_count()
        loop.runTicks(400)
        let allocations = rx_thread_allocation_count() - before
        #expect(allocations == 0, "\(allocations) allocations in 400 ticks with inline diffusion inference")
        let s = loop.snapshot()
        #expect(s.counters.chunksReceived >= 50 && s.counters.readFailures == 3 && s.counters.writeFailures == 2)
    }

    @Test func shapesAreCheckedUpFront() throws {
        let clock = ManualClock()
        let fake = try activeFake(clock)
        let safety = try SafetyLayer(limits: fake.limits, config: SafetyConfig(), period: 0.01)
        let policy = try RampPolicy(joints: 6)
        // The policy wants 7 observation values; positions alone give 6.
        #expect(throws: ReflexError.self) {
            try ControlLoop(robot: fake, safety: safety, policy: policy, observation: try ObservationBuilder(jointCount: 6),
                            config: noRT, clock: clock)
        }
        #expect(throws: ReflexError.self) {
            try ControlLoop(robot: fake, safety: safety, policy: policy, observation: try slotObservation(joints: 6, clock: clock),
                            actionMap: ActionMap(source: [0, 1, 2, 3, 4, 9]), config: noRT, clock: clock)
        }
        var fast = noRT
        fast.rate = 0
        #expect(throws: ReflexError.self) {
            try ControlLoop(robot: fake, safety: safety, policy: nil, observation: try ObservationBuilder(jointCount: 6),
                            config: fast, clock: clock)
        }
        let idle = FakeRobot.sixJoint(now: clock.reading) // never activated
        let loop = try ControlLoop(robot: idle, safety: safety, policy: nil, observation: try ObservationBuilder(jointCount: 6),
                                   config: noRT, clock: clock)
        #expect(throws: ReflexError.self) { try loop.begin() }
    }

    @Test func realThreadRunsAndReportsWhatItWasGranted() throws {
        let robot = FakeRobot.sixJoint()
        try robot.configure()
        try robot.activate()
        let policy = try smallDiffusionPolicy(observation: 6, action: 6)
        let safety = try SafetyLayer(limits: robot.limits, config: SafetyConfig(), period: 0.005)
        var config = ControlLoopConfig(rate: 200, realTimePriority: 10, lockMemory: false)
        config.actionSteps = 4
        let loop = try ControlLoop(robot: robot, safety: safety, policy: policy,
                                   observation: try ObservationBuilder(jointCount: 6), config: config)
        let report = try loop.start()
        #expect(report.fifoPriority == 10)
        #expect(report.fifoGranted != (report.fifoError != nil))
        #expect(throws: ReflexError.self) { try loop.start() }
        while loop.snapshot().counters.chunksReceived < 3 { usleep(5000) }
        loop.stop()
        let s = loop.snapshot()
        #expect(s.counters.ticks > 0 && s.timings["inference_latency"]!.count >= 3)
        #expect(robot.recorded.writesOutsideLimits == 0)
        #expect(!loop.isRunning)
    }
}

@Suite struct LoopPartsTests {
    @Test func tripleBufferNeverTearsAndKeepsOrder() {
        final class Slot { var a = 0; var b = 0 }
        let buffer = TripleBuffer { Slot() }
        let producer = JoinableThread(name: "producer") {
            for i in 1 ... 200_000 {
                let s = buffer.writable
                s.a = i
                s.b = -i
                buffer.publish()
            }
        }
        var last = 0, torn = 0, seen = 0
        while last < 200_000 {
            if let s = buffer.consume() {
                if s.a != -s.b { torn += 1 }
                if s.a <= last { torn += 1 }
                last = s.a
                seen += 1
            }
        }
        producer.join()
        #expect(torn == 0)
        #expect(seen >= 1 && buffer.consume() == nil)
    }

    @Test func observationBuilderLayoutAndGuards() throws {
        let state = JointState(count: 2)
        state.position[0] = 0.5; state.position[1] = -0.5
        state.velocity[0] = 1; state.velocity[1] = 2
        var available = true
        let builder = try ObservationBuilder(jointCount: 2, includeVelocities: true, featureCount: 2) { out in
            out[0] = 7; out[1] = 8
            return available
        }
        #expect(builder.size == 6)
        var out = [Float](repeating: 0, count: 6)
        #expect(builder.build(from: state, into: &out))
        #expect(out == [0.5, -0.5, 1, 2, 7, 8])
        available = false
        #expect(!builder.build(from: state, into: &out))
        available = true
        state.velocity[1] = .nan
        #expect(!builder.build(from: state, into: &out))
        #expect(throws: ReflexError.self) { try ObservationBuilder(jointCount: 2, featureCount: 1) }
    }

    @Test func actionMapScalesAndPicks() throws {
        let map = ActionMap(source: [1, 0], scale: [2, 1], offset: [0.5, 0])
        try map.validate(joints: 2, actionSize: 2)
        let action: [Float] = [3, 4]
        var targets = [Double](repeating: 0, count: 2)
        map.apply(action, into: &targets)
        #expect(targets == [8.5, 3])
        #expect(throws: ReflexError.self) { try map.validate(joints: 3, actionSize: 2) }
    }

    @Test func wakeSpinOutsideThePeriodIsRefusedWithTheReason() throws {
        let clock = ManualClock()
        let fake = try activeFake(clock)
        let safety = try SafetyLayer(limits: fake.limits, config: SafetyConfig(), period: 0.01)
        for bad in [-1.0, 10_000, 20_000, .nan, .infinity] { // the period at 100 Hz is 10,000 µs
            var c = noRT
            c.wakeSpinMicroseconds = bad
            #expect {
                try ControlLoop(robot: fake, safety: safety, policy: nil, observation: try ObservationBuilder(jointCount: 6),
                                config: c, clock: clock)
            } throws: { ($0 as? ReflexError)?.message.contains("wake spin") == true }
        }
        var c = noRT
        c.wakeSpinMicroseconds = 0
        #expect(try ControlLoop(robot: fake, safety: safety, policy: nil, observation: try ObservationBuilder(jointCount: 6),
                                config: c, clock: clock).wakeSpin == 0)
        let byDefault = try ControlLoop(robot: fake, safety: safety, policy: nil,
                                        observation: try ObservationBuilder(jointCount: 6), config: noRT, clock: clock)
        #expect(byDefault.wakeSpin == 100_000)
        // A manual clock ignores the spin (it would otherwise wait forever for time that only tests move).
        try byDefault.run(ticks: 3)
        #expect(byDefault.snapshot().counters.ticks == 3)
    }

    @Test func monotonicClockSpinNeverReturnsBeforeTheDeadline() {
        let clock = MonotonicClock()
        for spin: UInt64 in [0, 50_000, 1_000_000, 5_000_000] {
            for _ in 0 ..< 20 {
                let deadline = clock.now() + 2_000_000
                clock.sleep(until: deadline, spin: spin)
                #expect(clock.now() >= deadline)
            }
        }
        let past = clock.now() - 1_000 // a deadline already gone returns at once, spin or not
        clock.sleep(until: past, spin: 100_000)
        #expect(clock.now() >= past)
    }

    @Test func manualClockSleepsToDeadlines() {
        let clock = ManualClock(start: 100)
        clock.sleep(until: 50)
        #expect(clock.now() == 100)
        clock.sleep(until: 250)
        #expect(clock.now() == 250)
        clock.advance(by: 5)
        #expect(clock.now() == 255)
    }
}
