import Foundation
import ReflexCore
import Testing

@testable import ReflexHardware

private func feetechRig(ids: [UInt8] = [1, 2, 3, 4, 5, 6], retries: Int = 2) throws -> (FeetechBus, ServoBusEmulator) {
    let emu = try ServoBusEmulator(table: STS3215.table, ids: ids)
    emu.lateReplyDelayNanoseconds = 40_000_000
    let bus = FeetechBus(transport: LoopbackTransport(emulator: emu), retries: retries, replyTimeoutNanoseconds: 5_000_000)
    return (bus, emu)
}

private func dynamixelRig(ids: [UInt8] = [1, 2, 3], retries: Int = 2) throws -> (DynamixelBus, ServoBusEmulator) {
    let emu = try ServoBusEmulator(table: XL330.table, ids: ids)
    emu.lateReplyDelayNanoseconds = 40_000_000
    let bus = DynamixelBus(transport: LoopbackTransport(emulator: emu), retries: retries, replyTimeoutNanoseconds: 5_000_000)
    return (bus, emu)
}

@Suite struct ServoBusTests {
    @Test func feetechPingReadWriteAgainstTheEmulator() throws {
        let (bus, emu) = try feetechRig()
        #expect(try bus.ping(id: 3) == STS3215.modelNumber)
        try bus.write(STS3215.Register.torqueEnable, id: 3, value: 1)
        try bus.write(STS3215.Register.goalPosition, id: 3, value: 3000)
        #expect(try bus.read(STS3215.Register.goalPosition, id: 3) == 3000)
        #expect(emu.servo(id: 3)?.motion.goal == 3000)
        try bus.write(STS3215.Register.homingOffset, id: 3, value: -100)
        #expect(try bus.read(STS3215.Register.homingOffset, id: 3) == -100)
        #expect(emu.servo(id: 3)?.memory[32] == 0x08, "bit 11 carries the sign on the wire")
        #expect(bus.scan(1 ... 8).map(\.id) == [1, 2, 3, 4, 5, 6])
    }

    @Test func syncWriteMovesServosAndSyncReadSeesThem() throws {
        let (bus, emu) = try feetechRig()
        let ids: [UInt8] = [1, 2, 3, 4, 5, 6]
        let torque = try ServoSyncWrite(register: STS3215.Register.torqueEnable, ids: ids)
        for k in ids.indices { torque.set(k, value: 1) }
        try bus.syncWrite(torque)
        let goals = try ServoSyncWrite(register: STS3215.Register.goalPosition, ids: ids)
        for k in ids.indices { goals.set(k, value: Int32(1000 + 400 * k)) }
        try bus.syncWrite(goals)
        for _ in 0 ..< 20 { emu.advance(dt: 0.05) }
        let state = try ServoSyncRead(from: STS3215.Register.presentPosition, through: STS3215.Register.presentLoad, ids: ids)
        try bus.syncRead(state)
        for k in ids.indices {
            #expect(state.received[k])
            let p = state.value(STS3215.Register.presentPosition, servo: k)
            #expect(abs(Int(p) - (1000 + 400 * k)) <= 2, "servo \(ids[k]) at \(p)")
        }
    }

    @Test func dynamixelPingSyncReadBulkReadAndSignedValues() throws {
        let (bus, emu) = try dynamixelRig()
        #expect(try bus.ping(id: 2) == XL330.modelNumber)
        try bus.write(DynamixelX.torqueEnable, id: 1, value: 1)
        try bus.write(DynamixelX.goalPosition, id: 1, value: -300) // below the limit: clamps at 0
        try bus.write(DynamixelX.homingOffset, id: 2, value: -1234)
        #expect(try bus.read(DynamixelX.homingOffset, id: 2) == -1234)
        let state = try ServoSyncRead(address: DynamixelX.presentPosition.address, length: 4, ids: [1, 2, 3])
        for _ in 0 ..< 20 { emu.advance(dt: 0.05) }
        try bus.syncRead(state)
        #expect(state.value(DynamixelX.presentPosition, servo: 0) <= 5)
        #expect(state.value(DynamixelX.presentPosition, servo: 1) == 2048 - 1234, "Present = Actual + Homing_Offset on Dynamixel X")
        let bulk = try ServoBulkRead([(1, DynamixelX.presentPosition.address, 4), (2, DynamixelX.homingOffset.address, 4),
                                      (3, DynamixelX.modelNumber.address, 2)])
        try bus.bulkRead(bulk)
        #expect(bulk.value(DynamixelX.homingOffset, servo: 1) == -1234)
        #expect(bulk.value(DynamixelX.modelNumber, servo: 2) == Int32(XL330.modelNumber))
    }

    @Test func dynamixelRefusalIsATypedErrorNamingTheServo() throws {
        let (bus, _) = try dynamixelRig()
        #expect {
            try bus.write(DynamixelX.presentPosition, id: 2, value: 5) // read-only: access error
        } throws: { e in
            guard let e = e as? ReflexError else { return false }
            return e.code == .servoStatusError && e.location.element == "servo 2" && e.message.contains("access error")
        }
    }

    /// A late reply to an earlier request (same servo) arriving while the next request waits must not be taken
    /// for its answer: it has the wrong size, so the bus keeps waiting for the real one.
    @Test func aStaleLateReplyIsNotTakenForTheNextAnswer() throws {
        let (bus, emu) = try feetechRig(ids: [2], retries: 0)
        emu.servo(id: 2)!.motion.position = 2053 // low byte 0x05
        emu.lateReplyDelayNanoseconds = 8_000_000
        emu.inject(ServoFault(.lateReply, id: 2, count: 2))
        #expect(throws: ReflexError.self) { _ = try bus.read(STS3215.Register.presentPosition, id: 2) } // 5 ms timeout
        bus.replyTimeoutNanoseconds = 30_000_000
        // The stale 2-byte position reply lands while this 1-byte read waits for its own (also late) reply.
        #expect(try bus.read(STS3215.Register.torqueEnable, id: 2) == 0)
        #expect(emu.injected[.lateReply] == 2)
    }

    @Test func missingServoErrorSaysWhichIdAndWhatCameBack() throws {
        let (bus, _) = try feetechRig(ids: [1, 2])
        #expect {
            _ = try bus.read(STS3215.Register.presentPosition, id: 9)
        } throws: { e in
            guard let e = e as? ReflexError else { return false }
            return e.code == .servoNoReply && e.location.element == "servo 9" && e.message.contains("3 attempt")
                && e.message.contains("got nothing")
        }
        #expect(bus.failuresByID[9] == 1 && bus.statistics.timeouts == 3)
    }
}

/// Each injected fault gives the documented behaviour: recoverable faults cost retries (counted), persistent ones
/// throw a typed error naming the servo, error bits reach the caller, and the emulator counts what it injected.
@Suite struct ServoFaultTests {
    @Test(arguments: [ServoProtocol.feetech, .dynamixel])
    func droppedReplyIsRetried(_ p: ServoProtocol) throws {
        try check(p) { bus, emu in
            emu.inject(ServoFault(.droppedReply, id: 2, count: 1))
            _ = try bus.readPosition(2)
            #expect(bus.retries == 1 && emu.injected[.droppedReply] == 1)
        }
    }

    @Test(arguments: [ServoProtocol.feetech, .dynamixel])
    func badChecksumIsCountedAndRetried(_ p: ServoProtocol) throws {
        try check(p) { bus, emu in
            emu.inject(ServoFault(.badChecksum, id: 1, count: 1))
            _ = try bus.readPosition(1)
            #expect(bus.corrupt == 1 && bus.retries == 1 && emu.injected[.badChecksum] == 1)
        }
    }

    @Test(arguments: [ServoProtocol.feetech, .dynamixel])
    func persistentBadChecksumThrowsCorruptReplyWithTheBytes(_ p: ServoProtocol) throws {
        try check(p) { bus, emu in
            emu.inject(ServoFault(.badChecksum, id: 1, count: 10))
            #expect {
                _ = try bus.readPosition(1)
            } throws: { e in
                let e = e as? ReflexError
                return e?.code == .servoCorruptReply && e?.location.element == "servo 1" && (e?.message.contains("FF FF") ?? false)
            }
            #expect(emu.injected[.badChecksum] == 3)
        }
    }

    @Test(arguments: [ServoProtocol.feetech, .dynamixel])
    func garbageBeforeAReplyIsSkippedWithoutARetry(_ p: ServoProtocol) throws {
        try check(p) { bus, emu in
            emu.inject(ServoFault(.garbage, id: 3, count: 1))
            _ = try bus.readPosition(3)
            #expect(bus.retries == 0 && emu.injected[.garbage] == 1 && bus.discarded > 0)
        }
    }

    @Test(arguments: [ServoProtocol.feetech, .dynamixel])
    func lateReplyTimesOutThenTheRetrySucceeds(_ p: ServoProtocol) throws {
        try check(p) { bus, emu in
            emu.inject(ServoFault(.lateReply, id: 2, count: 1))
            _ = try bus.readPosition(2)
            #expect(bus.retries == 1 && bus.timeouts == 1 && emu.injected[.lateReply] == 1)
        }
    }

    @Test(arguments: [ServoProtocol.feetech, .dynamixel])
    func silentServoFailsTheSyncReadNamingIt(_ p: ServoProtocol) throws {
        try check(p) { bus, emu in
            emu.inject(ServoFault(.silent, id: 2, count: nil))
            #expect {
                try bus.syncReadAll()
            } throws: { e in
                let e = e as? ReflexError
                return e?.code == .servoNoReply && e?.location.element == "servo 2"
                    && (e?.message.contains("servo(s) 2 after 3 attempt") ?? false)
            }
            #expect(bus.received == [true, false, true], "the other servos' data still arrives")
            #expect(emu.injected[.silent] == 3)
        }
    }

    @Test(arguments: [ServoProtocol.feetech, .dynamixel])
    func overloadAndOverheatBitsReachTheCaller(_ p: ServoProtocol) throws {
        try check(p) { bus, emu in
            emu.inject(ServoFault(.overload, id: 1, count: nil))
            emu.inject(ServoFault(.overheat, id: 3, count: nil))
            try bus.syncReadAll()
            let e = bus.statusErrors
            if p == .feetech {
                #expect(e == [0x20, 0, 0x04])
            } else {
                #expect(e == [0x80, 0, 0x80])
                #expect(try bus.hardwareError(1) == DynamixelHardwareError.overload.rawValue)
                #expect(try bus.hardwareError(3) == DynamixelHardwareError.overheating.rawValue)
            }
            #expect(bus.retries == 0)
        }
    }

    @Test func faultSpecsParse() {
        #expect(ServoFault(parsing: "drop@3x5") == ServoFault(.droppedReply, id: 3, count: 5))
        #expect(ServoFault(parsing: "silent@2") == ServoFault(.silent, id: 2, count: nil))
        #expect(ServoFault(parsing: "checksum") == ServoFault(.badChecksum, id: nil, count: 1))
        #expect(ServoFault(parsing: "melt@1") == nil)
    }

    /// Both buses behind one small interface so each fault test runs on both protocols.
    final class AnyBus {
        let readPosition: (UInt8) throws -> Int32
        let syncReadAll: () throws -> Void
        let stats: () -> ServoBusStatistics
        let discardedBytes: () -> Int
        let group: ServoSyncRead
        let hardwareError: (UInt8) throws -> UInt8
        init<C>(_ bus: ServoBus<C>, table: ServoControlTable, ids: [UInt8]) throws {
            let g = try ServoSyncRead(address: table.presentPosition.address, length: table.presentPosition.width, ids: ids)
            group = g
            readPosition = { try bus.read(table.presentPosition, id: $0) }
            syncReadAll = { try bus.syncRead(g) }
            stats = { bus.statistics }
            discardedBytes = { bus.parser.discardedBytes }
            hardwareError = { UInt8(try bus.read(DynamixelX.hardwareErrorStatus, id: $0)) }
        }
        var retries: Int { stats().retries }
        var timeouts: Int { stats().timeouts }
        var corrupt: Int { stats().corruptReplies }
        var discarded: Int { discardedBytes() }
        var received: [Bool] { group.received }
        var statusErrors: [UInt8] { group.statusErrors }
    }

    func check(_ p: ServoProtocol, _ body: (AnyBus, ServoBusEmulator) throws -> Void) throws {
        let ids: [UInt8] = [1, 2, 3]
        if p == .feetech {
            let (bus, emu) = try feetechRig(ids: ids)
            try body(AnyBus(bus, table: STS3215.table, ids: ids), emu)
        } else {
            let (bus, emu) = try dynamixelRig(ids: ids)
            try body(AnyBus(bus, table: XL330.table, ids: ids), emu)
        }
    }
}
