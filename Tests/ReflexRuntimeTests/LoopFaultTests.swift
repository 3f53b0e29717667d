import ReflexCore
import ReflexPolicy
import ReflexRobot
import Testing

@testable import ReflexRuntime

/// One injected fault and what the loop must do about it.
struct FaultCase: Sendable, CustomTestStringConvertible {
    var name: String
    var fault: FakeRobot.Fault
    var safety: SafetyConfig
    /// The robot is still active at the end (the loop held through it) rather than stopped with torque off.
    var staysActive: Bool
    /// The safety event that must have been logged (if any).
    var event: SafetyEvents
    /// The robot fault that must have been logged.
    var robotFault: RobotFaults
    var testDescription: String { name }
}

private let faultCases: [FaultCase] = [
    FaultCase(name: "dropped replies", fault: .dropReads(5), safety: SafetyConfig(), staysActive: true, event: .staleState, robotFault: .noReply),
    FaultCase(name: "silent servo, hold", fault: .silent, safety: SafetyConfig(watchdogTimeout: 0.05), staysActive: true,
              event: .watchdog, robotFault: .noReply),
    FaultCase(name: "silent servo, torque off", fault: .silent,
              safety: SafetyConfig(watchdogTimeout: 0.05, watchdogAction: .torqueOff), staysActive: false, event: .watchdog, robotFault: .noReply),
    FaultCase(name: "NaN state", fault: .nonFiniteReads(3), safety: SafetyConfig(), staysActive: true, event: .staleState, robotFault: .nonFiniteState),
    FaultCase(name: "overload bit", fault: .servoError(joint: 2, .overload), safety: SafetyConfig(stopAction: .torqueOff),
              staysActive: false, event: .servoFault, robotFault: .overload),
    FaultCase(name: "overheat bit, hold", fault: .servoError(joint: 4, .overheat), safety: SafetyConfig(stopAction: .hold),
              staysActive: true, event: .servoFault, robotFault: .overheat),
    FaultCase(name: "failed writes", fault: .failWrites(4), safety: SafetyConfig(), staysActive: true, event: [], robotFault: .noReply),
]

@Suite struct LoopFaultTests {
    /// A policy that asks for poses outside every joint's limits (5 rad), fast, so the limits are exercised the
    /// whole time; the fault is injected after 50 ticks and the loop runs 150 more.
    @Test(arguments: faultCases)
    func faultNeverLetsACommandOutsideTheLimits(_ c: FaultCase) throws {
        let clock = ManualClock()
        let fake = try activeFake(clock)
        let robot = RecordingRobot(fake, clock: clock)
        let policy = try RampPolicy(joints: 6, ramp: 0.05, rest: 5)
        let safety = try SafetyLayer(limits: fake.limits, config: c.safety, period: 0.01)
        var config = ControlLoopConfig(rate: 100, realTimePriority: nil, lockMemory: false)
        config.inlineInference = true
        let loop = try ControlLoop(robot: robot, safety: safety, policy: policy,
                                   observation: try slotObservation(joints: 6, clock: clock), config: config, clock: clock)
        try loop.begin()
        loop.runTicks(50)
        fake.inject(c.fault)
        loop.runTicks(150)
        let s = loop.snapshot()
        let r = fake.recorded

        #expect(r.writesOutsideLimits == 0, "\(r.writesOutsideLimits) commands outside the limits reached the servos")
        let maxStep = 3.0 * 0.01 // velocity limit × period
        #expect(r.largestStep <= maxStep + 1e-9, "largest step \(r.largestStep) rad > \(maxStep)")
        #expect(s.counters.ticks == 200) // the loop itself never stops
        #expect(fake.lifecycle == (c.staysActive ? .active : .inactive))
        #expect(s.counters.deadlineMisses == 0)

        var logged: SafetyEvents = []
        var faults: RobotFaults = []
        var torqueOff = false
        loop.events.drain { e in
            if e.kind == .safetyBegan { logged.formUnion(e.events) }
            if e.kind == .robotFault { faults.formUnion(e.status.faults) }
            if e.kind == .torqueOff { torqueOff = true }
        }
        #expect(logged.contains(c.event), "logged \(logged), expected \(c.event)")
        #expect(faults.contains(c.robotFault), "logged robot faults \(faults), expected \(c.robotFault)")
        #expect(torqueOff == !c.staysActive)
        switch c.fault {
        case let .dropReads(n): #expect(s.counters.readFailures == n && s.safety.staleReads == n)
        case .silent: #expect(s.safety.watchdogTrips == 1 && s.counters.readFailures == 150)
        case let .nonFiniteReads(n): #expect(s.counters.readFailures == n)
        case .servoError: #expect(s.safety.servoFaultStops == 1 && s.mode == .stopped)
        case let .failWrites(n): #expect(s.counters.writeFailures == n && r.failedWrites == n)
        case .readLatency: break
        }
    }

    @Test func nonFiniteActionsAreHeldAndCounted() throws {
        let clock = ManualClock()
        let fake = try activeFake(clock)
        let policy = try RampPolicy(joints: 6)
        let safety = try SafetyLayer(limits: fake.limits, config: SafetyConfig(), period: 0.01)
        var config = ControlLoopConfig(rate: 100, realTimePriority: nil, lockMemory: false)
        config.inlineInference = true
        let loop = try ControlLoop(robot: fake, safety: safety, policy: policy,
                                   observation: try slotObservation(joints: 6, clock: clock), config: config, clock: clock)
        try loop.begin()
        loop.runTicks(40)
        let before = fake.lastCommand
        policy.emitNaN = true
        loop.runTicks(40)
        #expect(fake.lastCommand == before)
        #expect(loop.snapshot().safety.nonFiniteActions >= 36) // every tick once the NaN chunks arrive
        policy.emitNaN = false
        loop.runTicks(40)
        #expect(fake.recorded.writesOutsideLimits == 0)
        #expect(loop.snapshot().safety.nonFiniteActions < 80)
    }

    @Test func emergencyStopFromAnotherThreadHoldsThenTorqueOff() throws {
        for action in [SafetyConfig.StopAction.hold, .torqueOff] {
            let clock = ManualClock()
            let fake = try activeFake(clock)
            let policy = try RampPolicy(joints: 6)
            let safety = try SafetyLayer(limits: fake.limits, config: SafetyConfig(stopAction: action), period: 0.01)
            var config = ControlLoopConfig(rate: 100, realTimePriority: nil, lockMemory: false)
            config.inlineInference = true
            let loop = try ControlLoop(robot: fake, safety: safety, policy: policy,
                                       observation: try slotObservation(joints: 6, clock: clock), config: config, clock: clock)
            try loop.begin()
            loop.runTicks(30)
            let stopper = JoinableThread(name: "api") { loop.emergencyStop() }
            stopper.join()
            let before = fake.lastCommand
            loop.runTicks(30)
            let s = loop.snapshot()
            #expect(s.mode == .stopped && s.safety.emergencyStops == 1)
            #expect(fake.lifecycle == (action == .hold ? .active : .inactive))
            if action == .hold { #expect(fake.lastCommand == before) }
            #expect(fake.recorded.writes == 30 + (action == .hold ? 30 : 0))
        }
    }
}
