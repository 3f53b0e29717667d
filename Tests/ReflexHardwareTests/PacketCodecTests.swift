import Foundation
import ReflexCore
import Testing

@testable import ReflexHardware

@Suite struct PacketCodecTests {
    @Test func feetechPingAndReadMatchTheManual() {
        var out = PacketBuffer(capacity: 64)
        FeetechPacket.ping(&out, id: 1)
        #expect(out.bytes == [0xFF, 0xFF, 0x01, 0x02, 0x01, 0xFB])
        // Feetech manual example: read 2 bytes at 0x38 from id 1.
        FeetechPacket.read(&out, id: 1, address: 0x38, length: 2)
        #expect(out.bytes == [0xFF, 0xFF, 0x01, 0x04, 0x02, 0x38, 0x02, 0xBE])
    }

    @Test func dynamixelPingMatchesTheEManual() {
        var out = PacketBuffer(capacity: 64)
        DynamixelPacket.ping(&out, id: 1)
        // ROBOTIS e-Manual, Protocol 2.0 ping example.
        #expect(out.bytes == [0xFF, 0xFF, 0xFD, 0x00, 0x01, 0x03, 0x00, 0x01, 0x19, 0x4E])
        // e-Manual read example: id 1, address 132, 4 bytes.
        DynamixelPacket.read(&out, id: 1, address: 132, length: 4)
        #expect(out.bytes == [0xFF, 0xFF, 0xFD, 0x00, 0x01, 0x07, 0x00, 0x02, 0x84, 0x00, 0x04, 0x00, 0x1D, 0x15])
    }

    @Test func dynamixelStuffsFDAfterFFFFAndTheParserRemovesIt() {
        var out = PacketBuffer(capacity: 64)
        let data: [UInt8] = [0xFF, 0xFF, 0xFD, 0x01]
        data.withUnsafeBytes { DynamixelPacket.write(&out, id: 2, address: 116, data: $0) }
        let bytes = out.bytes
        // Body: instr 03, addr 74 00, FF FF FD FD 01.
        #expect(Array(bytes[7 ..< 15]) == [0x03, 0x74, 0x00, 0xFF, 0xFF, 0xFD, 0xFD, 0x01])
        #expect(Int(bytes[5]) | Int(bytes[6]) << 8 == bytes.count - 7)
        var parser = ServoFrameParser(framing: .dynamixelInstruction)
        parser.append(bytes)
        guard case .frame(let f) = parser.next() else { Issue.record("no frame"); return }
        #expect(f.id == 2 && f.instruction == 0x03)
        let params = parser.withParameters(of: f) { Array($0) }
        #expect(params == [0x74, 0x00, 0xFF, 0xFF, 0xFD, 0x01])
    }

    @Test func signMagnitudeFieldsRoundTrip() {
        let pos = STS3215.Register.goalPosition
        #expect(pos.encode(-16) == 0x8010)
        #expect(pos.decode(raw: 0x8010) == -16)
        let offset = STS3215.Register.homingOffset
        #expect(offset.encode(-5) == 0x0805)
        #expect(offset.decode(raw: 0x0805) == -5)
        #expect(offset.encode(-5000) == 0x0FFF, "magnitudes past the sign bit clamp")
        let load = STS3215.Register.presentLoad
        #expect(load.decode(raw: 0x0400 | 100) == -100)
        #expect(DynamixelX.presentVelocity.decode(raw: 0xFFFF_FFFE) == -2)
        #expect(DynamixelX.goalPosition.encode(-1) == 0xFFFF_FFFF)
        #expect(XL330.Register.presentCurrent.decode(raw: 0xFFF0) == -16)
    }

    @Test func controlTablesAreConsistent() {
        for table in [STS3215.table, XL330.table, XL430.table] {
            let sorted = table.registers.sorted { $0.address < $1.address }
            for (a, b) in zip(sorted, sorted.dropFirst()) {
                #expect(Int(a.address) + a.width <= Int(b.address), "\(table.modelName): \(a) overlaps \(b)")
            }
            for r in table.registers { #expect(Int(r.address) + r.width <= table.memorySize) }
            #expect(table.register(named: "goal_position") == table.goalPosition)
        }
        #expect(STS3215.Register.goalPosition.address == 42 && STS3215.Register.presentPosition.address == 56)
        #expect(XL330.table.goalPosition.address == 116 && XL330.table.presentPosition.address == 132)
    }

    @Test func feetechParserResyncsOnGarbageAndCorruptPackets() {
        var parser = ServoFrameParser(framing: .feetechStatus)
        var out = PacketBuffer(capacity: 64)
        let pos: [UInt8] = [0x00, 0x08]
        pos.withUnsafeBytes { FeetechPacket.status(&out, id: 3, error: 0x20, parameters: $0) }
        var good = out.bytes
        var bad = good
        bad[5] ^= 0x40 // flipped bit: checksum no longer matches
        parser.append([0x00, 0xFF, 0x13, 0xFF] + bad + [0x42] + good.prefix(4))
        #expect(parser.next() == .corrupt(id: 3))
        #expect(parser.next() == .needMore)
        parser.append(Array(good.dropFirst(4)))
        guard case .frame(let f) = parser.next() else { Issue.record("no frame after resync"); return }
        #expect(f.id == 3 && f.instruction == 0x20 && f.parameterCount == 2)
        #expect(parser.withParameters(of: f) { Array($0) } == pos)
        #expect(parser.next() == .needMore)
        #expect(parser.corruptFrames == 1 && parser.discardedBytes > 0)
        good.removeAll()
    }

    @Test func dynamixelParserResyncsAndChecksCRC() {
        var parser = ServoFrameParser(framing: .dynamixelStatus)
        var out = PacketBuffer(capacity: 64)
        let data: [UInt8] = [0x10, 0x20, 0x30, 0x40]
        data.withUnsafeBytes { DynamixelPacket.status(&out, id: 7, error: 0x80, parameters: $0) }
        let good = out.bytes
        var bad = good
        bad[bad.count - 1] ^= 1
        parser.append([0xFF, 0xFD, 0xFF] + bad + [0xAA, 0xFF] + good)
        #expect(parser.next() == .corrupt(id: 7))
        guard case .frame(let f) = parser.next() else { Issue.record("no frame"); return }
        #expect(f.id == 7 && f.instruction == 0x55)
        #expect(parser.withParameters(of: f) { Array($0) } == [0x80] + data)
    }

    @Test func packetsThatDoNotFitAreRefused() {
        var small = PacketBuffer(capacity: 8)
        DynamixelPacket.begin(&small, id: 1, instruction: 3)
        small.append(1); small.append(2)
        #expect(!DynamixelPacket.finish(&small))
    }
}
