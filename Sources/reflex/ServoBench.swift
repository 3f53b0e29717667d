import ArgumentParser
import Foundation
import ReflexCore
import ReflexHardware

/// `reflex servo bench`: one control tick's bus traffic (sync read of present positions + sync write of goals) by
/// Reflex and by the vendor's Python SDK, against the same emulated bus over a pseudo-terminal, alternating.
struct ServoBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time a tick's bus round trip (sync read + sync write of 6 servos) for Reflex and the vendor's Python SDK over a pty to the emulator."
    )

    @Option(help: "feetech, dynamixel, or both.") var bus: String = "both"
    @Option(help: "Servo ids on the emulated bus.") var ids: String = "1,2,3,4,5,6"
    @Option(help: "Alternating Reflex/peer repeats.") var repeats: Int = 3
    @Option(help: "Rounds per repeat.") var rounds: Int = 30
    @Option(help: "Ticks per round.") var calls: Int = 50
    @Option(help: "Python with the peers installed.") var python: String = NSHomeDirectory() + "/.cache/reflex/peers-venv/bin/python"
    @Flag(help: "Print markdown rows for BENCHMARKS.md.") var markdown = false

    func run() throws {
        let idList = ids.split(separator: ",").compactMap { UInt8($0) }
        let kinds: [ServoProtocol] = bus == "both" ? [.feetech, .dynamixel] : [try protocolNamed(bus)]
        let peerScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Benchmarks/peers/servo_roundtrip.py").path
        var rows: [[String]] = []
        for kind in kinds {
            let table = kind == .feetech ? STS3215.table : XL330.table
            let link = try EmulatorLink(emulator: try ServoBusEmulator(table: table, ids: idList))
            defer { link.stop() }
            var reflexRounds: [Double] = []
            var peerRounds: [Double] = []
            var sdkName = "?"
            for _ in 0 ..< repeats {
                reflexRounds += try timeReflex(kind, table, idList, link.path)
                let peer = try runPeer(python, peerScript, kind, link.path)
                peerRounds += peer.rounds
                sdkName = peer.sdk
            }
            let r = TimingSamples(roundMicros: reflexRounds), p = TimingSamples(roundMicros: peerRounds)
            rows.append(["\(kind) tick: sync read + sync write, \(idList.count) × \(table.modelName)",
                         "\(fmt(r.median, 1)) µs (\(fmt(r.p10, 1))–\(fmt(r.p90, 1)))", sdkName,
                         "\(fmt(p.median, 1)) µs (\(fmt(p.p10, 1))–\(fmt(p.p90, 1)))", "**\(fmt(p.median / r.median, 2))×**"])
        }
        let header = ["figure", "Reflex median (p10–p90)", "peer", "peer median (p10–p90)", "peer / Reflex"]
        if markdown {
            print("| " + header.joined(separator: " | ") + " |")
            print("|" + String(repeating: "---|", count: header.count))
            for r in rows { print("| " + r.joined(separator: " | ") + " |") }
        } else {
            print(table(header, rows))
        }
    }

    private func protocolNamed(_ s: String) throws -> ServoProtocol {
        guard let p = ServoProtocol(rawValue: s) else { throw ValidationError("--bus must be feetech, dynamixel or both") }
        return p
    }

    private func timeReflex(_ kind: ServoProtocol, _ table: ServoControlTable, _ ids: [UInt8], _ path: String) throws -> [Double] {
        let bus = makeServoBus(kind, transport: try SerialPort(path: path, baud: 1_000_000), replyTimeoutNanoseconds: 50_000_000)
        let state = try ServoSyncRead(from: table.presentPosition, through: table.presentPosition, ids: ids)
        let goals = try ServoSyncWrite(register: table.goalPosition, ids: ids)
        var failures = 0
        var n = 0
        let samples = measure(warmup: 50, rounds: rounds, calls: calls) {
            n += 1
            guard bus.trySyncRead(state) == .ok else { failures += 1; return }
            for k in ids.indices { goals.set(k, value: state.value(table.presentPosition, servo: k) + Int32(n % 3)) }
            _ = bus.trySyncWrite(goals)
        }
        if failures > 0 { print("note: Reflex saw \(failures) failed sync read(s) (each after its retries)") }
        return samples.roundMicros
    }

    private func runPeer(_ python: String, _ script: String, _ kind: ServoProtocol, _ path: String) throws -> (rounds: [Double], sdk: String) {
        struct Out: Decodable { var round_us: [Double]; var sdk: String; var failures: Int }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script, "--bus", kind.rawValue, "--port", path, "--ids", ids, "--rounds", String(rounds), "--calls", String(calls)]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let out = try? JSONDecoder().decode(Out.self, from: data) else {
            throw HardwareCommandError(description: "peer \(script) failed (exit \(p.terminationStatus))")
        }
        if out.failures > 0 { print("note: the peer saw \(out.failures) failed sync read(s) (timed, not retried)") }
        return (out.round_us, out.sdk)
    }
}
