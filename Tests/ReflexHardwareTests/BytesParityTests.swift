import Foundation
import ReflexCore
import Testing

@testable import ReflexHardware

/// Records what a bus writes; never answers.
final class RecordingTransport: ServoTransport {
    var written: [[UInt8]] = []
    func write(_ bytes: UnsafeRawBufferPointer) throws { written.append(Array(bytes)) }
    func read(into buffer: UnsafeMutableRawBufferPointer, deadline: UInt64) throws -> Int { 0 }
    func discardInput() {}
}

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

/// The packets Reflex's buses write equal those of the vendors' Python SDKs for the same calls
/// (fixture from Tests/Fixtures/make_servo_fixture.py).
@Suite struct BytesParityTests {
    struct Case: Decodable {
        struct Args: Decodable {
            var id: Int?
            var address: Int?
            var length: Int?
            var width: Int?
            var value: Int?
            var ids: [Int]?
            var values: [Int]?
            var addresses: [Int]?
            var lengths: [Int]?
        }
        var `protocol`: String
        var call: String
        var args: Args
        var python: String
        var stuffed: String?
    }
    struct Fixture: Decodable { var cases: [Case] }

    static func load() throws -> [Case] {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: fixtures + "/servo_packets.json"))).cases
    }

    static func hex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            out.append(UInt8(s[i ..< j], radix: 16)!)
            i = j
        }
        return out
    }

    /// Runs one call on a bus over a recording transport and returns the first packet written.
    static func firstPacket<C: ServoWireCodec>(_ c: Case, _ bus: ServoBus<C>, _ rec: RecordingTransport) throws -> [UInt8] {
        let a = c.args
        switch c.call {
        case "ping": _ = try? bus.ping(id: UInt8(a.id!))
        case "read": _ = try? bus.read(id: UInt8(a.id!), address: a.address!, length: a.length!)
        case "write":
            let bytes = (0 ..< a.width!).map { UInt8(truncatingIfNeeded: a.value! >> (8 * $0)) }
            _ = try? bus.write(id: UInt8(a.id!), address: a.address!, data: bytes)
        case "syncWrite":
            let g = try ServoSyncWrite(address: UInt16(a.address!), width: a.width!, ids: a.ids!.map { UInt8($0) })
            for (k, v) in a.values!.enumerated() { g.setRaw(k, UInt32(truncatingIfNeeded: v)) }
            try bus.syncWrite(g)
        case "syncRead":
            let g = try ServoSyncRead(address: UInt16(a.address!), length: a.length!, ids: a.ids!.map { UInt8($0) })
            _ = try? bus.syncRead(g)
        case "bulkRead":
            let entries = (0 ..< a.ids!.count).map { (id: UInt8(a.ids![$0]), address: UInt16(a.addresses![$0]), length: a.lengths![$0]) }
            _ = try? (bus as! DynamixelBus).bulkRead(ServoBulkRead(entries))
        default: Issue.record("unknown call \(c.call)")
        }
        return rec.written.first ?? []
    }

    @Test func everyFixturePacketMatches() throws {
        let cases = try Self.load()
        #expect(cases.count >= 30)
        var compared = 0
        for c in cases {
            let rec = RecordingTransport()
            let got: [UInt8]
            if c.protocol == "feetech" {
                got = try Self.firstPacket(c, FeetechBus(transport: rec, retries: 0, replyTimeoutNanoseconds: 0), rec)
            } else {
                got = try Self.firstPacket(c, DynamixelBus(transport: rec, retries: 0, replyTimeoutNanoseconds: 0), rec)
            }
            let expected = Self.hex(c.stuffed ?? c.python)
            #expect(got == expected, "\(c.protocol) \(c.call) \(c.args): Reflex \(hexString(got)) vs SDK \(hexString(expected))")
            compared += 1
        }
        #expect(compared == cases.count)
    }

    /// dynamixel-sdk 4.1.0 drops addStuffing's result, so its wire bytes are unstuffed where the e-Manual says
    /// stuff; those are exactly the cases the fixture marks, and un-stuffing Reflex's packet gives the SDK's body.
    @Test func theStuffedCasesDifferFromPythonOnlyByStuffing() throws {
        let stuffedCases = try Self.load().filter { $0.stuffed != nil }
        #expect(stuffedCases.count >= 2)
        for c in stuffedCases {
            let py = Self.hex(c.python)
            var parser = ServoFrameParser(framing: .dynamixelInstruction)
            parser.append(Self.hex(c.stuffed!))
            guard case .frame(let f) = parser.next() else { Issue.record("stuffed packet does not parse"); continue }
            let body = parser.withParameters(of: f) { Array($0) }
            #expect(Array(py[8 ..< (py.count - 2)]) == body, "\(c.call) \(c.args)")
        }
    }
}
