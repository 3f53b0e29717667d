import Foundation
import ReflexCore
import TestSupport
import Testing

@testable import ReflexHardware

/// The peers venv's python with both SDKs (Tests/peers-requirements.txt).
private let sdkPython = TestPeers.python(with: ["scservo_sdk", "dynamixel_sdk"])
private let clientScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Fixtures/sdk_client.py").path

/// The vendors' official Python SDKs (scservo_sdk, dynamixel_sdk) as clients of the emulator over a
/// pseudo-terminal: what they read is what the emulated servos hold, what they write lands in the control tables.
/// Skipped where the venv is missing; with CI set, a failure.
@Suite(.enabled(if: TestPeers.runs(sdkPython != nil), Comment(rawValue: TestPeers.skipReason("peers venv with scservo_sdk and dynamixel_sdk"))))
struct SDKClientTests {
    struct Report: Decodable {
        var models: [String: Int]
        var present: [String: Int]
        var goal_readback: [String: Int]
        var errors: [String]
        var bulk_models: [String: Int]?
    }

    struct HomingReport: Decodable {
        struct Refusal: Decodable { var comm: String; var error: Int; var text: String }
        var present: [String: Int]
        var velocity: [String: Int]
        var broadcast_ids: [Int]
        var errors: [String]
        var eeprom_torque_on: Refusal?
        var offset_after_refusal: Int?
    }

    func runClient<R: Decodable>(_ kind: String, path: String, ids: [UInt8], extra: [String] = [], as: R.Type) throws -> R {
        let python = try #require(sdkPython, Comment(rawValue: TestPeers.missing("scservo_sdk and dynamixel_sdk")))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [clientScript, kind, path, ids.map(String.init).joined(separator: ",")] + extra
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw ReflexError(.io, "sdk client failed (\(p.terminationStatus)): \(errText)")
        }
        return try JSONDecoder().decode(R.self, from: data)
    }

    /// Homing as LeRobot's calibration does it, through the vendors' SDKs: each servo's offset written with torque
    /// off makes its reading one half turn (2047), Feetech's broadcast ping is answered by every servo, the velocity
    /// register is in the servo's units, and a Dynamixel refuses an EEPROM write with torque on (access error, 7).
    @Test(arguments: [ServoProtocol.feetech, .dynamixel])
    func officialSDKSeesHomingBroadcastPingAndEEPROMRules(_ proto: ServoProtocol) throws {
        let ids: [UInt8] = [1, 2, 3]
        let actual: [Double] = [3000, 500, 1000]
        let table = proto == .feetech ? STS3215.table : XL330.table
        let emu = try ServoBusEmulator(table: table, ids: ids, model: SteadyVelocity())
        for (k, id) in ids.enumerated() { emu.servo(id: id)!.moveByHand(toActual: actual[k]) }
        // LeRobot's _get_half_turn_homings: Feetech actual − 2047, Dynamixel 2047 − actual.
        let offsets = actual.map { proto == .feetech ? Int($0) - 2047 : 2047 - Int($0) }
        let link = try EmulatorLink(emulator: emu)
        defer { link.stop() }
        let r = try runClient(proto.rawValue + "-homing", path: link.path, ids: ids,
                              extra: [offsets.map(String.init).joined(separator: ",")], as: HomingReport.self)
        #expect(r.errors.isEmpty, "\(r.errors)")
        for id in ids {
            #expect(r.present[String(id)] == 2047, "servo \(id) reads a half turn after homing")
            #expect(r.velocity[String(id)] == (proto == .feetech ? 1000 : 64), "1000 ticks/s in the servo's units")
        }
        #expect(r.broadcast_ids == ids.map(Int.init))
        if proto == .dynamixel {
            #expect(r.eeprom_torque_on?.error == Int(DynamixelPacket.accessError), "\(String(describing: r.eeprom_torque_on))")
            #expect(r.offset_after_refusal == 0)
        }
        link.withEmulator { e in
            for (k, id) in ids.enumerated() { #expect(e.servo(id: id)!.actualPosition == actual[k], "the joints did not move") }
        }
    }

    struct FastReport: Decodable {
        var present: [String: Int?]
        var errors: [String]
    }

    /// dynamixel_sdk's own Fast Sync Read (0x8A, `GroupSyncRead.fastSyncRead`) gets every servo's Present_Position
    /// from the emulator's single status packet (its length, per-servo sections and closing CRC as the SDK checks
    /// them), negative multi-turn positions included.
    @Test func officialSDKFastSyncReadsTheEmulator() throws {
        let ids: [UInt8] = [1, 2, 3, 4]
        let emu = try ServoBusEmulator(table: XL330.table, ids: ids)
        let positions: [Double] = [100, 2048, 4095, -300]
        for (k, id) in ids.enumerated() { emu.servo(id: id)!.motion.position = positions[k] }
        let link = try EmulatorLink(emulator: emu)
        defer { link.stop() }
        let r = try runClient("dynamixel-fast", path: link.path, ids: ids, as: FastReport.self)
        #expect(r.errors.isEmpty, "\(r.errors)")
        for (k, id) in ids.enumerated() { #expect(r.present[String(id)] == Int(positions[k]), "servo \(id)") }
    }

    func runClient(_ kind: String, path: String, ids: [UInt8]) throws -> Report {
        let python = try #require(sdkPython, Comment(rawValue: TestPeers.missing("scservo_sdk and dynamixel_sdk")))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [clientScript, kind, path, ids.map(String.init).joined(separator: ",")]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw ReflexError(.io, "sdk client failed (\(p.terminationStatus)): \(errText)")
        }
        return try JSONDecoder().decode(Report.self, from: data)
    }

    @Test(arguments: [ServoProtocol.feetech, .dynamixel])
    func officialSDKReadsAndWritesTheEmulator(_ proto: ServoProtocol) throws {
        let ids: [UInt8] = [1, 2, 3, 4]
        let table = proto == .feetech ? STS3215.table : XL330.table
        let emu = try ServoBusEmulator(table: table, ids: ids)
        for (k, id) in ids.enumerated() { emu.servo(id: id)!.motion.position = Double(700 + 333 * k) }
        let link = try EmulatorLink(emulator: emu)
        defer { link.stop() }
        let r = try runClient(proto.rawValue, path: link.path, ids: ids)
        #expect(r.errors.isEmpty, "\(r.errors)")
        for (k, id) in ids.enumerated() {
            let key = String(id)
            #expect(r.models[key] == Int(table.modelNumber))
            #expect(r.present[key] == 700 + 333 * k, "servo \(id) present position seen by the SDK")
            let goal = k == 0 ? 1111 : 1500 + 100 * (k - 1)
            #expect(r.goal_readback[key] == goal)
            if proto == .dynamixel { #expect(r.bulk_models?[key] == Int(table.modelNumber)) }
        }
        link.withEmulator { e in
            #expect(e.servo(id: 1)!.motion.torqueEnabled)
            for (k, id) in ids.enumerated() {
                #expect(e.servo(id: id)!.motion.goal == Double(k == 0 ? 1111 : 1500 + 100 * (k - 1)))
            }
        }
    }
}
