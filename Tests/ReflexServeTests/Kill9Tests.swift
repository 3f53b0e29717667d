#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TestSupport
import Testing

/// The `reflex` executable built beside this test binary, if there is one.
let reflexExecutable: String? = {
    guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
    var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
    // The test binary may sit inside a .xctest bundle directory.
    for _ in 0 ..< 3 {
        let candidate = dir.appendingPathComponent("reflex").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}()

/// kill -9 of a real daemon process driving an emulated Dynamixel arm (`reflex emulate --robot koch`): the servos'
/// Bus Watchdog trips, and a restarted daemon comes up inactive and clears it.
@Suite struct Kill9Tests {
    func spawn(_ args: [String], log: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: reflexExecutable ?? "")
        p.arguments = args
        guard FileManager.default.createFile(atPath: log, contents: nil) else { throw RawHTTPClient.ClientError("cannot create \(log)") }
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = h
        p.standardError = h
        try p.run()
        return p
    }

    /// `reflex servo read` of one register of servo 2; the decoded number it prints.
    func readRegister(_ link: String, _ register: String) throws -> Int? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: reflexExecutable ?? "")
        p.arguments = ["servo", "read", "--bus", "dynamixel", "--port", link, "--id", "2", "--register", register, "--retries", "3", "--timeout-ms", "200"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return text.firstMatch(of: /=\s*(-?\d+)/).flatMap { Int($0.1) }
    }

    func waitForSocket(_ client: RawHTTPClient, seconds: Double = 15) throws -> RawHTTPClient.Response {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let r = try? client.request("GET", "/v1/status"), r.status == 200 { return r }
            usleep(100_000)
        }
        throw RawHTTPClient.ClientError("the daemon did not come up")
    }

    @Test(.enabled(if: TestPeers.runs(reflexExecutable != nil), "skipped: the reflex executable is not built beside the tests"))
    func servosStopOnTheirWatchdogAndARestartedDaemonIsInactive() async throws {
        _ = try #require(reflexExecutable, "the reflex executable is not built beside the tests (swift build --build-tests builds it)")
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let link = dir + "/koch.link", socket = dir + "/reflex.sock"
        let emulator = try spawn(["emulate", "--robot", root + "/robots/koch.yaml", "--link", link], log: dir + "/emulate.log")
        defer { emulator.terminate(); emulator.waitUntilExit() }
        let config = dir + "/serve.yaml"
        try """
        arm:
          robot: \(root)/robots/koch.yaml
          port: \(link)
          zero_features: true
          bus_watchdog_ms: 100
        policies:
          lift: \(root)/policies/so101-lift
        listen: unix:\(socket)
        rate: 50
        priority: 0
        """.write(toFile: config, atomically: true, encoding: .utf8)
        for _ in 0 ..< 50 where !FileManager.default.fileExists(atPath: link) { usleep(100_000) }
        let client = RawHTTPClient(endpoint: .unix(path: socket), token: nil)

        let first = try spawn(["serve", "--config", config, "--log-level", "warning"], log: dir + "/serve1.log")
        let status = try await blocking { try waitForSocket(client) }.json()
        #expect((status["controller"] as? [String: Any])?["lifecycle"] as? String == "inactive")
        let started = try await blocking { try client.json("POST", "/v1/episode/start", ["policy": "lift"]) }
        #expect(started.status == 200, "\(started.text)")
        try await Task.sleep(nanoseconds: 1_000_000_000)
        #expect(try await blocking { try ticks(client) } > 20)

        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        try await Task.sleep(nanoseconds: 400_000_000)
        // The servos noticed the silence: Bus Watchdog Error (−1, read as the unsigned byte 255), torque still on.
        let watchdog = try await blocking { try readRegister(link, "Bus_Watchdog") }
        #expect(watchdog == 255 || watchdog == -1, "Bus_Watchdog = \(String(describing: watchdog))")
        #expect(try await blocking { try readRegister(link, "Torque_Enable") } == 1)

        // Restart: inactive, no episode, and the watchdog cleared with torque off.
        let second = try spawn(["serve", "--config", config, "--log-level", "warning"], log: dir + "/serve2.log")
        let again = try await blocking { try waitForSocket(client) }.json()
        let controller = again["controller"] as? [String: Any]
        #expect(controller?["lifecycle"] as? String == "inactive" && controller?["running"] as? Bool == false)
        second.terminate() // SIGTERM: safe stop, exit 0
        second.waitUntilExit()
        #expect(second.terminationStatus == 0)
        #expect(try await blocking { try readRegister(link, "Torque_Enable") } == 0)
        #expect(try await blocking { try readRegister(link, "Bus_Watchdog") } == 0)
    }

    /// The loop's tick count through the daemon's status.
    func ticks(_ client: RawHTTPClient) throws -> Int {
        let s = try client.request("GET", "/v1/status").json()
        let loop = (s["controller"] as? [String: Any])?["loop"] as? [String: Any]
        return (loop?["counters"] as? [String: Any])?["ticks"] as? Int ?? 0
    }
}
