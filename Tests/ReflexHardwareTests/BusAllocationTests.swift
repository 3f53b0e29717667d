import AllocationCounter
import Foundation
import ReflexCore
import ReflexRobot
import Testing

@testable import ReflexHardware

/// A control tick's bus traffic (sync read of the arm's state, sync write of its goals) allocates nothing, over
/// a real serial port to the emulator on its own thread.
@Suite struct BusAllocationTests {
    @Test(arguments: [ServoProtocol.feetech, .dynamixel])
    func syncReadAndWriteAllocateNothing(_ proto: ServoProtocol) throws {
        #expect(rx_allocation_counter_active() == 1)
        let ids: [UInt8] = [1, 2, 3, 4, 5, 6]
        let table = proto == .feetech ? STS3215.table : XL330.table
        let link = try EmulatorLink(emulator: try ServoBusEmulator(table: table, ids: ids))
        defer { link.stop() }
        let port = try SerialPort(path: link.path, baud: 1_000_000)
        let state = try ServoSyncRead(from: table.presentPosition, through: table.presentPosition, ids: ids)
        let goals = try ServoSyncWrite(register: table.goalPosition, ids: ids)
        func tick<C>(_ bus: ServoBus<C>, _ i: Int) throws {
            try bus.syncRead(state)
            for k in ids.indices { goals.set(k, value: state.value(table.presentPosition, servo: k) + Int32(i % 3)) }
            try bus.syncWrite(goals)
        }
        func measure<C>(_ bus: ServoBus<C>) throws -> UInt64 {
            for i in 0 ..< 5 { try tick(bus, i) }
            let before = rx_thread_allocation_count()
            for i in 0 ..< 100 { try tick(bus, i) }
            return rx_thread_allocation_count() - before
        }
        let allocations = proto == .feetech
            ? try measure(FeetechBus(transport: port, replyTimeoutNanoseconds: 50_000_000))
            : try measure(DynamixelBus(transport: port, replyTimeoutNanoseconds: 50_000_000))
        #expect(allocations == 0, "\(allocations) allocations in 100 sync read + sync write ticks")
    }
}

/// The same tick through `BusRobot` in LeRobot's units (normalize on read, unnormalize on write) allocates nothing.
@Suite struct BusRobotLeRobotAllocationTests {
    @Test func lerobotUnitsTickAllocatesNothing() throws {
        #expect(rx_allocation_counter_active() == 1)
        let d = try RobotDescription.load(path: repoRobots + "/so101.yaml")
        let hw = try ArmBusConfiguration(description: d)
        let cal = try LeRobotCalibration.parse(so101LeRobotCalibrationText)
        let emu = try ServoBusEmulator(servos: hw.servos.map { EmulatedServo(table: $0.controlTable, id: $0.id) })
        for s in emu.servos {
            let c = try #require(cal.motors.first { $0.calibration.id == Int(s.id) }?.calibration)
            s.store(STS3215.Register.homingOffset, Int32(c.homingOffset))
            s.store(s.table.minPositionLimit, Int32(c.rangeMin))
            s.store(s.table.maxPositionLimit, Int32(c.rangeMax))
        }
        let link = try EmulatorLink(emulator: emu)
        defer { link.stop() }
        let robot = try BusRobot(description: d, port: link.path, lerobot: LeRobotArmUnits(calibration: cal, useDegrees: false))
        try robot.configure()
        defer { robot.finalize() }
        try robot.activate()
        let state = JointState(count: robot.jointCount)
        let command = JointCommand(count: robot.jointCount)
        func tick(_ i: Int) {
            _ = robot.read(into: state)
            for k in 0 ..< robot.jointCount { command.position[k] = state.position[k] + Double(i % 3) }
            _ = robot.write(command)
        }
        for i in 0 ..< 5 { tick(i) }
        let before = rx_thread_allocation_count()
        for i in 0 ..< 100 { tick(i) }
        let allocations = rx_thread_allocation_count() - before
        #expect(allocations == 0, "\(allocations) allocations in 100 read + write ticks in LeRobot's units")
    }
}
