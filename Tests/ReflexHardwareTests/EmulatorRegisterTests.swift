import Foundation
import ReflexCore
import Testing

@testable import ReflexHardware

/// Registers the emulator now keeps as the servos do, against the vendors' documented values: Dynamixel extended
/// position (Operating_Mode 4), XL330 Present_Current in mA, Moving and Feetech Present_Current while moving, and
/// the Fast Sync Read packet's layout (the SDK's own check is in SDKClientTests).
@Suite struct EmulatorRegisterTests {
    func bus(_ emu: ServoBusEmulator) -> any ServoBusDriver {
        makeServoBus(emu.wireProtocol, transport: LoopbackTransport(emulator: emu), retries: 1, replyTimeoutNanoseconds: 5_000_000)
    }

    /// Operating_Mode 4 follows a goal past Max_Position_Limit and below 0 (multi-turn, e-Manual: ±1,048,575);
    /// mode 3 stops at the limit.
    @Test func extendedPositionIsMultiTurnAndIgnoresTheLimits() throws {
        for mode: Int32 in [3, 4] {
            let emu = try ServoBusEmulator(table: XL330.table, ids: [1])
            let b = bus(emu)
            try b.write(DynamixelX.operatingMode, id: 1, value: mode)
            try b.write(DynamixelX.torqueEnable, id: 1, value: 1)
            for goal: Int32 in [10_000, -5_000] {
                try b.write(DynamixelX.goalPosition, id: 1, value: goal)
                for _ in 0 ..< 200 { emu.advance(dt: 0.05) }
                let present = try b.read(DynamixelX.presentPosition, id: 1)
                if mode == 4 {
                    #expect(abs(present - goal) <= 1, "mode 4 reaches \(goal), got \(present)")
                } else {
                    #expect(present == (goal > 0 ? 4095 : 0), "mode 3 stops at its limit, got \(present)")
                }
            }
        }
    }

    /// XL330 Present_Current (126) is in mA (e-Manual unit 1 mA): a load of 50 % of stall reads half the
    /// 1750 mA Current_Limit; the XL430's Present_Load (126) stays in 0.1 %. BusRobot reads 0.5 of stall from both.
    @Test func xl330CurrentIsInMilliamps() throws {
        for (table, expected): (ServoControlTable, Int32) in [(XL330.table, 875), (XL430.table, 500)] {
            let emu = try ServoBusEmulator(table: table, ids: [1], model: ConstantLoad(500))
            let b = bus(emu)
            try b.write(DynamixelX.torqueEnable, id: 1, value: 1)
            emu.advance(dt: 0.01)
            #expect(try b.read(table.presentLoad, id: 1) == expected, "\(table.modelName) \(table.presentLoad.name)")
        }
    }

    /// Feetech Moving (66) is 1 while the servo travels to its goal and 0 once there; Present_Current (69, 6.5 mA
    /// units) follows the load while moving and is 0 at rest. Dynamixel Moving (122) follows Moving_Threshold.
    @Test(arguments: [ServoProtocol.feetech, .dynamixel])
    func movingAndCurrentFollowTheMotion(_ proto: ServoProtocol) throws {
        let table = proto == .feetech ? STS3215.table : XL330.table
        let emu = try ServoBusEmulator(table: table, ids: [1])
        let b = bus(emu)
        let moving = proto == .feetech ? STS3215.Register.moving : DynamixelX.moving
        #expect(try b.read(moving, id: 1) == 0, "at rest")
        try b.write(table.torqueEnable, id: 1, value: 1)
        try b.write(table.goalPosition, id: 1, value: 3000)
        emu.advance(dt: 0.02)
        #expect(try b.read(moving, id: 1) == 1, "on its way")
        if proto == .feetech { #expect(try b.read(STS3215.Register.presentCurrent, id: 1) > 0, "drawing current while moving") }
        for _ in 0 ..< 100 { emu.advance(dt: 0.05) }
        #expect(try b.read(table.presentPosition, id: 1) == 3000)
        #expect(try b.read(moving, id: 1) == 0, "arrived")
        if proto == .feetech { #expect(try b.read(STS3215.Register.presentCurrent, id: 1) == 0, "at rest") }
    }

    /// The Fast Sync Read reply as the e-Manual lays it out: one packet from 0xFE, length 1 + N × (L + 4), each
    /// servo's error, id and data, a running CRC after each, the last one the packet's CRC.
    @Test func fastSyncReadReplyLayout() throws {
        let emu = try ServoBusEmulator(table: XL330.table, ids: [3, 7])
        emu.servo(id: 3)!.motion.position = 166
        emu.servo(id: 7)!.motion.position = 2079
        var request = PacketBuffer(capacity: 64)
        DynamixelPacket.begin(&request, id: 0xFE, instruction: DynamixelPacket.Instruction.fastSyncRead.rawValue)
        for b: UInt8 in [132, 0, 4, 0, 3, 7] { request.append(b) }
        #expect(DynamixelPacket.finish(&request))
        emu.receive(request.bytes, now: 0)
        let reply = emu.takeOutput(dueBy: .max)
        #expect(reply.count == 7 + 1 + 2 * 8)
        #expect(Array(reply[0 ..< 8]) == [0xFF, 0xFF, 0xFD, 0x00, 0xFE, 17, 0, 0x55])
        #expect(Array(reply[8 ..< 14]) == [0, 3, 166, 0, 0, 0])
        #expect(Array(reply[16 ..< 22]) == [0, 7, 0x1F, 0x08, 0, 0])
        for end in [14, 22] {
            let crc = reply.withUnsafeBytes { DynamixelPacket.crc16(UnsafeRawBufferPointer(rebasing: $0[0 ..< end])) }
            #expect(UInt16(reply[end]) | UInt16(reply[end + 1]) << 8 == crc, "CRC of the packet up to byte \(end)")
        }
    }
}

/// A motor holding a steady load (0.1 % of stall), wherever it is.
final class ConstantLoad: ServoModel {
    let load: Double
    init(_ load: Double) { self.load = load }
    func advance(_ servos: inout [ServoMotionState], dt: Double) {
        for k in servos.indices { servos[k].load = load }
    }
}

/// Dynamixel Drive_Mode bit 0 (reverse) as the e-Manual states it: Present Position's direction inverted, the
/// Homing Offset's sign not: Present = −Actual + Homing_Offset; a goal then moves the joint the other way.
@Suite struct EmulatorDriveModeTests {
    @Test func reverseModeInvertsPresentAndGoalButNotTheOffset() throws {
        let emu = try ServoBusEmulator(table: XL330.table, ids: [1])
        let s = emu.servo(id: 1)!
        let b = makeServoBus(.dynamixel, transport: LoopbackTransport(emulator: emu), retries: 1, replyTimeoutNanoseconds: 5_000_000)
        s.moveByHand(toActual: 1000)
        #expect(try b.read(DynamixelX.presentPosition, id: 1) == 1000)
        try b.write(DynamixelX.driveMode, id: 1, value: 1)
        #expect(try b.read(DynamixelX.presentPosition, id: 1) == -1000, "reverse: the same place reads −1000")
        try b.write(DynamixelX.homingOffset, id: 1, value: 3000)
        #expect(try b.read(DynamixelX.presentPosition, id: 1) == 2000, "−1000 + 3000: the offset keeps its sign")
        s.moveByHand(toActual: 1100) // 100 ticks the normal way by hand
        #expect(try b.read(DynamixelX.presentPosition, id: 1) == 1900, "reads 100 ticks the other way")
        try b.write(DynamixelX.torqueEnable, id: 1, value: 1)
        try b.write(DynamixelX.goalPosition, id: 1, value: 2500)
        for _ in 0 ..< 100 { emu.advance(dt: 0.05) }
        #expect(try b.read(DynamixelX.presentPosition, id: 1) == 2500)
        #expect(abs(s.actualPosition - 500) < 0.5, "goal up, joint down: actual 3000 − 2500")
        try b.write(DynamixelX.torqueEnable, id: 1, value: 0)
        try b.write(DynamixelX.driveMode, id: 1, value: 0)
        #expect(abs(s.actualPosition - 500) < 0.5, "changing the mode does not move the joint")
        #expect(try b.read(DynamixelX.presentPosition, id: 1) == 3500, "normal again: 500 + 3000")
    }
}
