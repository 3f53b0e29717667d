import Foundation
import ReflexCore
import Testing

@testable import ReflexServe

@Suite struct ServeConfigTests {
    func write(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "serve-config-\(UUID().uuidString).yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func exampleConfigDecodes() throws {
        // The committed example, as docs/daemon.md uses it.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let c = try ServeConfig.read(root.appendingPathComponent("examples/serve-sim.yaml").path)
        #expect(try c.arm.kind() == .sim(task: .lift))
        #expect(c.policies["lift"] == "policies/so101-lift")
        #expect(try ListenAddress(parsing: c.listen) == .unix(path: "/tmp/reflex.sock"))
        #expect(c.onExit.torqueOff)
    }

    @Test func badConfigsNameTheKey() throws {
        let twoArms = try write("arm:\n  robot: so101\n  sim: lift\n  fake: true\n")
        #expect { try ServeConfig.read(twoArms) } throws: { ($0 as? ReflexError)?.location.keyPath == "arm" }
        let badRate = try write("arm:\n  fake: true\n  robot: so101\nrate: 0\n")
        #expect { try ServeConfig.read(badRate) } throws: { ($0 as? ReflexError)?.location.keyPath == "rate" }
        let unknown = try write("arm:\n  fake: true\n  robot: so101\nlisten_on: 1\n")
        #expect(throws: ReflexError.self) { try ServeConfig.read(unknown) }
        let badListen = try write("arm:\n  fake: true\n  robot: so101\nlisten: nowhere\n")
        #expect { try ServeConfig.read(badListen) } throws: { ($0 as? ReflexError)?.location.keyPath == "listen" }
    }

    @Test func listenAddressesAndSecurity() throws {
        #expect(try ListenAddress(parsing: "127.0.0.1:8080") == .tcp(host: "127.0.0.1", port: 8080))
        #expect(try ListenAddress(parsing: "[::1]:80") == .tcp(host: "::1", port: 80))
        #expect(try ListenAddress(parsing: "[::1]:80").isLocal)
        #expect(try !ListenAddress(parsing: "0.0.0.0:80").isLocal)
        let token = "0123456789abcdef0123"
        // A Unix socket needs nothing more; loopback TCP needs a token; elsewhere needs the flag too.
        try ServeSecurity.check(.unix(path: "/tmp/x.sock"), token: nil, allowRemote: false)
        #expect(throws: ReflexError.self) { try ServeSecurity.check(.tcp(host: "127.0.0.1", port: 1), token: nil, allowRemote: false) }
        try ServeSecurity.check(.tcp(host: "127.0.0.1", port: 1), token: token, allowRemote: false)
        #expect(throws: ReflexError.self) { try ServeSecurity.check(.tcp(host: "0.0.0.0", port: 1), token: token, allowRemote: false) }
        #expect(throws: ReflexError.self) { try ServeSecurity.check(.tcp(host: "0.0.0.0", port: 1), token: nil, allowRemote: true) }
        try ServeSecurity.check(.tcp(host: "0.0.0.0", port: 1), token: token, allowRemote: true)
        #expect(throws: ReflexError.self) { try ServeSecurity.check(.unix(path: "/tmp/x.sock"), token: "short", allowRemote: false) }
    }

    @Test func tokenFilesReadableByOthersAreRefused() throws {
        let path = try write("0123456789abcdef0123\n")
        chmod(path, 0o644)
        #expect(throws: ReflexError.self) { try ServeSecurity.readToken(path) }
        chmod(path, 0o600)
        #expect(try ServeSecurity.readToken(path) == "0123456789abcdef0123")
    }
}
