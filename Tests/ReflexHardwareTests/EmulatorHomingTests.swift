import Foundation
import ReflexCore
import Testing

@testable import ReflexHardware

/// The emulator behaves as real servos do where LeRobot's calibration relies on it: Homing_Offset applied,
/// Feetech broadcast ping answered, Dynamixel EEPROM protected while torque is on, velocity in the servo's units.
@Suite struct EmulatorHomingTests {
    func rig(_ table: ServoControlTable, ids: [UInt8]) throws -> (any ServoBusDriver, ServoBusEmulator) {
        let emu = try ServoBusEmulator(table: table, ids: ids)
        let bus = makeServoBus(table.wireProtocol, transport: LoopbackTransport(emulator: emu), retries: 1,
                               replyTimeoutNanoseconds: 5_000_000)
        return (bus, emu)
    }

    @Test func feetechPresentIsActualMinusHomingOffsetOnOneTurn() throws {
        let (bus, emu) = try rig(STS3215.table, ids: [1, 2])
        emu.servo(id: 1)!.moveByHand(toActual: 3000)
        emu.servo(id: 2)!.moveByHand(toActual: 500)
        // LeRobot's _get_half_turn_homings on Feetech: offset = actual − 2047, so the reading becomes 2047.
        try bus.write(STS3215.Register.homingOffset, id: 1, value: 3000 - 2047)
        try bus.write(STS3215.Register.homingOffset, id: 2, value: 500 - 2047)
        #expect(try bus.read(STS3215.Register.presentPosition, id: 1) == 2047)
        #expect(try bus.read(STS3215.Register.presentPosition, id: 2) == 2047)
        #expect(emu.servo(id: 1)!.actualPosition == 3000, "the joint did not move; its reading did")
        // Past the encoder's turn the reading wraps (sign-magnitude bit 11 carried the offset's sign: −1547).
        emu.servo(id: 2)!.moveByHand(toActual: 4000)
        #expect(try bus.read(STS3215.Register.presentPosition, id: 2) == (4000 + 1547) % 4096)
        try bus.write(STS3215.Register.homingOffset, id: 2, value: 0)
        #expect(try bus.read(STS3215.Register.presentPosition, id: 2) == 4000)
    }

    @Test func dynamixelPresentIsActualPlusHomingOffset() throws {
        let (bus, emu) = try rig(XL330.table, ids: [1])
        emu.servo(id: 1)!.moveByHand(toActual: 3000)
        // LeRobot's _get_half_turn_homings on Dynamixel: offset = 2047 − actual.
        try bus.write(DynamixelX.homingOffset, id: 1, value: 2047 - 3000)
        #expect(try bus.read(DynamixelX.presentPosition, id: 1) == 2047)
        emu.servo(id: 1)!.moveByHand(toActual: 100)
        #expect(try bus.read(DynamixelX.presentPosition, id: 1) == 100 - 953, "4-byte signed: no wrap on Dynamixel")
    }

    @Test func feetechBroadcastPingIsAnsweredByEveryServoInTurn() throws {
        let ids: [UInt8] = [3, 1, 6]
        let emu = try ServoBusEmulator(table: STS3215.table, ids: ids)
        var out = PacketBuffer(capacity: 16)
        FeetechPacket.ping(&out, id: 0xFE)
        emu.receive(out.bytes, now: 0)
        let bytes = emu.takeOutput(dueBy: .max)
        // Three 6-byte status packets FF FF id 02 err sum, in the bus's order.
        #expect(bytes.count == 18)
        #expect(stride(from: 0, to: bytes.count, by: 6).map { bytes[$0 + 2] } == ids)
        #expect(stride(from: 0, to: bytes.count, by: 6).allSatisfy { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xFF && bytes[$0 + 3] == 2 })
    }

    @Test func dynamixelEEPROMRefusesWritesWhileTorqueIsOn() throws {
        let (bus, emu) = try rig(XL330.table, ids: [1, 2])
        try bus.write(DynamixelX.torqueEnable, id: 1, value: 1)
        do {
            try bus.write(DynamixelX.homingOffset, id: 1, value: 500)
            Issue.record("an EEPROM write with torque on must be refused")
        } catch let e as ReflexError {
            #expect(e.code == .servoStatusError && e.message.contains("access error"), "\(e)")
        }
        #expect(emu.servo(id: 1)!.load(DynamixelX.homingOffset) == 0, "nothing written")
        let group = try ServoSyncWrite(register: DynamixelX.operatingMode, ids: [1, 2])
        group.set(0, value: 4)
        group.set(1, value: 4)
        try bus.syncWrite(group)
        #expect(emu.servo(id: 1)!.load(DynamixelX.operatingMode) == 3, "sync write to EEPROM dropped with torque on")
        #expect(emu.servo(id: 2)!.load(DynamixelX.operatingMode) == 4, "and accepted with torque off")
        try bus.write(DynamixelX.torqueEnable, id: 1, value: 0)
        try bus.write(DynamixelX.homingOffset, id: 1, value: 500)
        #expect(try bus.read(DynamixelX.homingOffset, id: 1) == 500)
    }

    @Test(arguments: [ServoProtocol.feetech, .dynamixel])
    func presentVelocityIsInTheServosUnits(_ p: ServoProtocol) throws {
        let table = p == .feetech ? STS3215.table : XL330.table
        let emu = try ServoBusEmulator(table: table, ids: [1], model: SteadyVelocity())
        let bus = makeServoBus(p, transport: LoopbackTransport(emulator: emu), retries: 1, replyTimeoutNanoseconds: 5_000_000)
        let v = try bus.read(table.presentVelocity, id: 1)
        // Feetech: ticks/s. Dynamixel X: 0.229 rpm units, 1000 ticks/s = 14.65 rpm = 64 units.
        #expect(v == (p == .feetech ? 1000 : Int32((1000 * 60 / (4096 * 0.229)).rounded())))
        if p == .dynamixel { #expect(v == 64) }
    }
}

/// A motor turning at a steady 1000 ticks/s, whatever the bus says.
final class SteadyVelocity: ServoModel {
    func advance(_ servos: inout [ServoMotionState], dt: Double) {
        for k in servos.indices { servos[k].velocity = 1000 }
    }
}
