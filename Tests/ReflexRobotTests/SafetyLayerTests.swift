#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore
import Testing

@testable import ReflexRobot

/// Two joints, ±1 rad, 2 rad/s; 100 Hz, so the velocity limit allows 0.02 rad per tick.
private let twoJoints = [JointLimits(lower: -1, upper: 1, velocity: 2), JointLimits(lower: -1, upper: 1, velocity: 2)]
private let period = 0.01
private let tickNs: UInt64 = 10_000_000

/// A layer that has already approached `pose` and is tracking, with fresh state at `now`.
private struct Rig {
    let layer: SafetyLayer
    let state = JointState(count: 2)
    let command = JointCommand(count: 2)
    var now: UInt64 = 1_000_000_000

    init(config: SafetyConfig = SafetyConfig(approachSpeed: 100), signal: Int32? = nil, start: [Double] = [0, 0]) throws {
        layer = try SafetyLayer(limits: twoJoints, config: config, period: period, stopSignal: signal)
        state.position[0] = start[0]
        state.position[1] = start[1]
        state.timestamp = now
        layer.begin(at: state)
    }

    /// One tick at fresh state with `action` (nil: none).
    mutating func tick(_ action: [Double]?, status: RobotStatus = .ok, fresh: Bool = true) -> SafetyReport {
        now += tickNs
        if fresh { state.timestamp = now }
        if let action {
            return action.withUnsafeBufferPointer { layer.filter(action: $0.baseAddress, state: state, status: status, now: now, into: command) }
        }
        return layer.filter(action: nil, state: state, status: status, now: now, into: command)
    }

    var commanded: [Double] { Array(command.position) }
}

@Suite struct SafetyLayerTests {
    @Test func positionsAreClampedInsideTheMargin() throws {
        var rig = try Rig(config: SafetyConfig(positionMargin: 0.1, maxStepPerTick: 10, approachSpeed: 1000))
        var report = rig.tick([0, 0]) // approach done at once
        #expect(report.mode == .tracking)
        for _ in 0 ..< 200 { report = rig.tick([5, -5]) }
        #expect(report.events.contains(.positionClamped))
        #expect(abs(rig.commanded[0] - 0.9) < 1e-12 && abs(rig.commanded[1] + 0.9) < 1e-12)
        #expect(rig.layer.counters.positionClamped == 200)
        #expect(rig.layer.counters.commandsOutsideLimits == 0)
    }

    /// The output check the fault campaign reports: wild actions, NaN, missing actions, a stale state and an arm
    /// that starts outside its limits never produce a command outside them, and the counter stays 0.
    @Test func noCommandLeavesTheLimits() throws {
        var rig = try Rig(config: SafetyConfig(positionMargin: 0.05, approachSpeed: 10), start: [3, -3])
        var x: UInt64 = 99
        for k in 0 ..< 2000 {
            x = x &* 6364136223846793005 &+ 1442695040888963407
            let a = Double(Int64(bitPattern: x >> 1) % 1000) / 100 // ±10 rad
            let action: [Double]? = k % 97 == 0 ? nil : (k % 89 == 0 ? [.nan, a] : [a, -a])
            _ = rig.tick(action, fresh: k % 50 != 0)
            #expect(rig.commanded.allSatisfy { $0 >= -1 && $0 <= 1 }, "tick \(k): \(rig.commanded)")
        }
        #expect(rig.layer.counters.commandsOutsideLimits == 0)
    }

    @Test func changePerTickIsCappedByVelocityAndMaximum() throws {
        var rig = try Rig()
        _ = rig.tick([0, 0])
        var previous = rig.commanded
        for _ in 0 ..< 10 {
            let r = rig.tick([0.5, -0.5])
            #expect(r.events.contains(.stepLimited))
            #expect(abs(rig.commanded[0] - previous[0] - 0.02) < 1e-12) // 2 rad/s × 10 ms
            #expect(abs(rig.commanded[1] - previous[1] + 0.02) < 1e-12)
            previous = rig.commanded
        }
        var tight = try Rig(config: SafetyConfig(maxStepPerTick: 0.005, approachSpeed: 100))
        _ = tight.tick([0, 0])
        _ = tight.tick([0.5, 0])
        #expect(abs(tight.commanded[0] - 0.005) < 1e-12) // the per-tick maximum is tighter than the velocity limit
    }

    @Test func nonFiniteActionsAndMissingActionsHold() throws {
        var rig = try Rig()
        _ = rig.tick([0, 0])
        _ = rig.tick([0.01, 0.01])
        let held = rig.commanded
        for bad in [Double.nan, .infinity, -.infinity] {
            let r = rig.tick([0.5, bad])
            #expect(r.events.contains(.nonFiniteAction) && r.output == .command)
            #expect(rig.commanded == held)
        }
        let r = rig.tick(nil)
        #expect(r.events.contains(.noAction) && rig.commanded == held)
        #expect(rig.layer.counters.nonFiniteActions == 3 && rig.layer.counters.noAction == 1)
    }

    @Test func firstPoseIsApproachedSlowly() throws {
        var rig = try Rig(config: SafetyConfig(approachSpeed: 0.5)) // 5 mrad per tick
        var ticks = 0
        var report = rig.tick(nil)
        #expect(report.mode == .waiting && rig.commanded == [0, 0]) // holds where it was until an action comes
        repeat {
            let before = rig.commanded[0]
            report = rig.tick([0.3, 0])
            #expect(rig.commanded[0] - before <= 0.005 + 1e-12)
            ticks += 1
        } while report.mode == .approaching && ticks < 1000
        #expect(report.mode == .tracking)
        #expect(ticks >= 56 && ticks <= 62) // (0.3 − 0.02 tolerance) / 0.005 ≈ 56, not one jump
    }

    @Test func watchdogHoldsAndResumes() throws {
        var rig = try Rig()
        _ = rig.tick([0, 0])
        _ = rig.tick([0.1, 0])
        let held = rig.commanded
        var report = rig.tick([0.2, 0], status: RobotStatus(.hold, faults: .noReply), fresh: false)
        #expect(report.events.contains(.staleState) && !report.events.contains(.watchdog)) // one missed read is fine
        for _ in 0 ..< 10 { report = rig.tick([0.2, 0], status: RobotStatus(.hold, faults: .noReply), fresh: false) }
        #expect(report.events.contains(.watchdog)) // 110 ms > 100 ms
        let atTrip = rig.commanded
        report = rig.tick([0.9, 0], fresh: false)
        #expect(rig.commanded == atTrip)
        report = rig.tick([0.2, 0]) // fresh again
        #expect(!report.events.contains(.watchdog) && report.output == .command)
        #expect(rig.commanded[0] - atTrip[0] <= 0.02 + 1e-12)
        #expect(rig.layer.counters.watchdogTrips == 1 && held[0] <= atTrip[0])
    }

    @Test func watchdogCanSwitchTorqueOff() throws {
        var rig = try Rig(config: SafetyConfig(watchdogTimeout: 0.035, watchdogAction: .torqueOff, approachSpeed: 100))
        _ = rig.tick([0, 0])
        var outputs: [SafetyReport.Output] = []
        for _ in 0 ..< 6 { outputs.append(rig.tick([0, 0], fresh: false).output) }
        #expect(outputs == [.command, .command, .command, .torqueOff, .nothing, .nothing])
        #expect(rig.tick([0, 0]).mode == .stopped) // latched even when the state comes back
    }

    @Test func emergencyStopLatchesUntilCleared() throws {
        var rig = try Rig()
        _ = rig.tick([0, 0])
        _ = rig.tick([0.1, 0])
        let held = rig.commanded
        rig.layer.emergencyStop()
        var r = rig.tick([0.5, 0])
        #expect(r.events.contains(.emergencyStop) && r.mode == .stopped && r.output == .command && rig.commanded == held)
        r = rig.tick([0.5, 0])
        #expect(r.mode == .stopped && rig.commanded == held)
        rig.layer.clearStop()
        rig.layer.begin(at: rig.state)
        r = rig.tick([0.5, 0])
        #expect(r.mode == .approaching) // back through the slow approach

        var off = try Rig(config: SafetyConfig(stopAction: .torqueOff, approachSpeed: 100))
        _ = off.tick([0, 0])
        off.layer.emergencyStop()
        #expect(off.tick([0, 0]).output == .torqueOff)
        #expect(off.tick([0, 0]).output == .nothing)
    }

    @Test func emergencyStopBySignal() throws {
        EmergencyStopSignal.install(signal: SIGUSR2)
        var rig = try Rig(signal: SIGUSR2)
        var other = try Rig(signal: nil)
        _ = rig.tick([0, 0])
        _ = other.tick([0, 0])
        #expect(rig.tick([0.1, 0]).mode == .tracking)
        // Test threads may block signals, so send it to the process and wait for whichever thread takes it.
        #expect(kill(getpid(), SIGUSR2) == 0)
        for _ in 0 ..< 2000 where !EmergencyStopSignal.raised(signal: SIGUSR2) { usleep(1000) }
        #expect(rig.tick([0.1, 0]).events.contains(.emergencyStop))
        #expect(other.tick([0.1, 0]).mode == .tracking) // a layer not watching the signal goes on
        rig.layer.clearStop()
        #expect(!EmergencyStopSignal.raised(signal: SIGUSR2))
    }

    @Test func servoErrorBitsStopSafely() throws {
        var rig = try Rig(config: SafetyConfig(stopAction: .torqueOff, approachSpeed: 100))
        _ = rig.tick([0, 0])
        // A missed reply is not a servo fault.
        #expect(rig.tick([0, 0], status: RobotStatus(.hold, faults: .noReply, joint: 1)).mode == .tracking)
        let r = rig.tick([0, 0], status: RobotStatus(.stop, faults: .overload, joint: 1))
        #expect(r.events.contains(.servoFault) && r.output == .torqueOff)
        #expect(rig.layer.counters.servoFaultStops == 1)
    }

    @Test func badConfigsAreRefused() {
        #expect(throws: ReflexError.self) { try SafetyLayer(limits: twoJoints, config: SafetyConfig(velocityScale: 2), period: period) }
        #expect(throws: ReflexError.self) { try SafetyLayer(limits: twoJoints, config: SafetyConfig(positionMargin: 1.5), period: period) }
        #expect(throws: ReflexError.self) { try SafetyLayer(limits: twoJoints, config: SafetyConfig(), period: 0) }
        #expect(throws: ReflexError.self) {
            try YAMLDecoder().decode(SafetyConfig.self, from: "watchdog_action: explode\n")
        }
        #expect((try? YAMLDecoder().decode(SafetyConfig.self, from: "watchdog_action: torque_off\nmax_step_per_tick: 0.01\n"))
            == SafetyConfig(maxStepPerTick: 0.01, watchdogAction: .torqueOff))
    }
}
