import AllocationCounter
import Foundation
import ReflexCore
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
