import AllocationCounter
import Foundation
import ReflexCore
import ReflexRobot
import Testing

@testable import ReflexHardware

/// Servo health while running and at start-up, with the emulator's injected faults: each gives a message naming
/// the joint, the servo and the problem, and a failed start-up check never turns torque on.
@Suite struct ServoHealthTests {
    func rig(koch: Bool = false) throws -> (BusRobot, ServoBusEmulator) { try emulatedArm(koch: koch) }

    /// Runs `n` control reads (a health read after each, `healthInterval` 1).
    func tick(_ robot: BusRobot, _ n: Int) {
        let state = JointState(count: robot.jointCount)
        for _ in 0 ..< n { _ = robot.read(into: state) }
    }

    /// Every servo read within 12 ticks (6 on Feetech; Dynamixel's Hardware_Error_Status is a second request).
    @Test(arguments: [false, true])
    func healthyArmReadsItsServosUnits(_ koch: Bool) throws {
        let (robot, _) = try rig(koch: koch)
        robot.healthInterval = 1
        try robot.configure()
        defer { robot.finalize() }
        try robot.activate()
        tick(robot, 12)
        let h = robot.health.snapshot()
        #expect(h.count == 6)
        for s in h {
            #expect(s.problems.isEmpty && s.messages.isEmpty, "\(s)")
            #expect(s.temperature == 30 && s.readings >= 2 && s.missedReadings == 0, "\(s)")
            #expect(s.age != nil)
        }
        if koch {
            // XL430 (12 V, Present_Load in 0.1 %), XL330 (5 V, Present_Current in mA): e-Manual defaults.
            #expect(h[0].model == "XL430-W250" && h[0].voltage == 12 && h[0].load != nil && h[0].current == nil)
            #expect(h[0].minVoltage == 6 && h[0].maxVoltage == 14 && h[0].temperatureLimit == 72)
            #expect(h[2].model == "XL330-M288" && h[2].voltage == 5 && h[2].current != nil && h[2].load == nil)
            #expect(h[2].minVoltage == 3.5 && h[2].maxVoltage == 7 && h[2].temperatureLimit == 70)
        } else {
            #expect(h[0].voltage == 12 && h[0].load != nil && h[0].current != nil)
            #expect(h[0].minVoltage == 4 && h[0].maxVoltage == 14 && h[0].temperatureLimit == 70)
        }
    }

    /// A fault injected while the arm runs shows in the next health readings of that servo, in words.
    @Test(arguments: [false, true])
    func faultsWhileRunningAreNamed(_ koch: Bool) throws {
        let cases: [(ServoFaultKind, UInt8, String, [String], String)] = [
            (.overheat, 4, "wrist_flex", ["over_temperature", "hardware_error"], "80 °C"),
            (.underVoltage, 2, "shoulder_lift", ["under_voltage", "hardware_error"], "input voltage"),
            (.encoder, 5, "wrist_roll", ["hardware_error"], koch ? "motor encoder" : "angle sensor"),
            (.silent, 3, "elbow_flex", ["no_reply"], "did not answer"),
        ]
        for (kind, id, joint, problems, words) in cases {
            let (robot, emu) = try rig(koch: koch)
            robot.healthInterval = 1
            try robot.configure()
            try robot.activate()
            tick(robot, 2)
            emu.inject(ServoFault(kind, id: id, count: nil))
            tick(robot, 12)
            let h = robot.health.snapshot()
            let s = try #require(h.first { $0.id == Int(id) })
            #expect(s.joint == joint && s.problems == problems, "\(kind): \(s)")
            let m = s.messages.joined(separator: "; ")
            #expect(m.contains("joint \(joint)") && m.contains("servo \(id)") && m.contains(words), "\(kind): \(m)")
            #expect(h.filter { $0.id != Int(id) }.allSatisfy { $0.problems.isEmpty }, "\(kind): only servo \(id) is sick")
            robot.finalize()
        }
    }

    /// A start-up check that fails leaves every servo's Torque_Enable at 0 and the arm unable to activate.
    @Test(arguments: [false, true])
    func failedStartupChecksNeverEnableTorque(_ koch: Bool) throws {
        let cases: [(ServoFaultKind, UInt8, String, String)] = [
            (.overheat, 4, "wrist_flex", "°C, its limit is"),
            (.underVoltage, 6, "gripper", "sees a supply of"),
            (.encoder, 1, "shoulder_pan", "hardware error"),
            (.silent, 3, "elbow_flex", "no status packet"),
        ]
        for (kind, id, joint, words) in cases {
            let (robot, emu) = try rig(koch: koch)
            emu.inject(ServoFault(kind, id: id, count: nil))
            var message = ""
            do { try robot.configure() } catch let e as ReflexError { message = e.description }
            #expect(message.contains(joint) && message.contains("servo \(id)") && message.contains(words), "\(kind): \(message)")
            #expect(throws: ReflexError.self) { try robot.activate() }
            for s in emu.servos {
                #expect(s.load(s.table.torqueEnable) == 0, "\(kind): servo \(s.id) has torque on")
            }
        }
    }

    /// `inspectHealth` before configure reads every servo once and changes nothing (what `reflex servo health` calls).
    @Test func inspectingHealthLeavesTheArmUnconfigured() throws {
        let (robot, emu) = try rig()
        emu.inject(ServoFault(.overheat, id: 2, count: nil))
        let h = try robot.inspectHealth()
        #expect(h.map(\.id) == [1, 2, 3, 4, 5, 6])
        #expect(h[1].problems.contains("over_temperature") && h[0].problems.isEmpty)
        #expect(robot.lifecycle == .unconfigured)
        #expect(emu.servos.allSatisfy { $0.load($0.table.torqueEnable) == 0 })
    }
}

/// Ticks with a health read in every one allocate nothing on either bus, over a pty to the emulator's thread
/// (Dynamixel alternates a servo's block and its Hardware_Error_Status).
@Suite struct ServoHealthAllocationTests {
    @Test(arguments: [false, true])
    func ticksWithHealthReadsAllocateNothing(_ koch: Bool) throws {
        #expect(rx_allocation_counter_active() == 1)
        let d = try RobotDescription.load(path: repoRobots + (koch ? "/koch.yaml" : "/so101.yaml"))
        let hw = try ArmBusConfiguration(description: d)
        let link = try EmulatorLink(emulator: try ServoBusEmulator(servos: hw.servos.map { EmulatedServo(table: $0.controlTable, id: $0.id) }))
        defer { link.stop() }
        let robot = try BusRobot(description: d) {
            makeServoBus(hw.bus, transport: try SerialPort(path: link.path, baud: 1_000_000), replyTimeoutNanoseconds: 50_000_000)
        }
        robot.healthInterval = 1
        try robot.configure()
        try robot.activate()
        defer { robot.finalize() }
        let state = JointState(count: robot.jointCount)
        let command = JointCommand(count: robot.jointCount)
        func tick() {
            _ = robot.read(into: state)
            for k in 0 ..< command.count { command.position[k] = state.position[k] }
            _ = robot.write(command)
        }
        for _ in 0 ..< 13 { tick() }
        _ = robot.healthReport() // another thread's reader: no buffer left shared with the loop
        let before = rx_thread_allocation_count()
        for _ in 0 ..< 60 { tick() }
        let allocations = rx_thread_allocation_count() - before
        #expect(allocations == 0, "\(allocations) allocations in 60 ticks, each with a health read")
        #expect(robot.health.snapshot().allSatisfy { $0.readings >= 5 && $0.problems.isEmpty })
    }
}
