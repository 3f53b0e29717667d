import Foundation
import ReflexCore
import ReflexRL
import ReflexRobot
import ReflexSteering
import Testing

@testable import ReflexServe

/// Steering and the torque-off emergency stop over HTTP.
@Suite struct SteeringHTTPTests {
    /// A V-GPS value function (random twin critics) for the test policy: state = its condition (2 × 12), action = the
    /// executed part of a chunk (8 × 6), or a wrong action size.
    func valueDirectory(_ root: String, name: String, actionSize: Int = 48) throws -> String {
        var gen = RandomGenerator(seed: 5)
        let iql = IQL(stateSize: 24, actionSize: actionSize, config: IQL.Config(hiddenSizes: [16, 16]), generator: &gen)
        let dir = root + "/" + name
        try ValueFunctionDirectory.save(iql, algorithm: .iql, gamma: 0.99, to: dir)
        return dir
    }

    @Test func vgpsSteeringSwitchesTheRunningLoopAndReachesRemoteInference() async throws {
        let d = try await LiveDaemon(preload: ["a"])
        let value = try valueDirectory(d.root, name: "value")
        let wrong = try valueDirectory(d.root, name: "wrong", actionSize: 30)
        #expect(try await d.post("/v1/episode/start", ["policy": "a"]).status == 200)
        var r = try await d.post("/v1/steering", ["policy": "a", "value": value, "k": 4, "beta": 0.5])
        #expect(r.status == 200, "\(r.text)")
        let j = try r.json()
        #expect(j["switched_running_loop"] as? Bool == true)
        let steering = j["steering"] as? [String: Any]
        #expect(steering?["k"] as? Int == 4 && (steering?["value"] as? String)?.hasSuffix("/value") == true)
        let s = try await d.get("/v1/status").json()
        #expect((s["controller"] as? [String: Any])?["policy_generation"] as? Int == 1)
        // The predictor was rebuilt with the same steering: K candidates scored, one chunk back.
        r = try await d.post("/v1/predict", ["policy": "a", "observation": Array(repeating: 0.1, count: 24), "seed": 3])
        #expect(r.status == 200, "\(r.text)")
        #expect((try r.json()["actions"] as? [[Double]])?.count == 16)
        // A value function of the wrong shape is refused, and nothing changes.
        r = try await d.post("/v1/steering", ["policy": "a", "value": wrong])
        #expect(r.status == 422, "\(r.text)")
        let after = try await d.get("/v1/status").json()
        #expect((after["controller"] as? [String: Any])?["policy_generation"] as? Int == 1)
        // β with the argmax, or a β ≤ 0 (once "argmax"), means nothing: refused with the reason (422: well-formed, not
        // a steering this policy can take), nothing changes.
        r = try await d.post("/v1/steering", ["policy": "a", "selection": "argmax", "beta": 2.0])
        #expect(r.status == 422 && r.text.contains("argmax has none"), "\(r.text)")
        r = try await d.post("/v1/steering", ["policy": "a", "beta": 0.0])
        #expect(r.status == 422 && r.text.contains("> 0"), "\(r.text)")
        // A β beyond single precision is refused by name (Foundation's decoder alone says "not valid JSON").
        r = try await d.post("/v1/steering", ["policy": "a", "beta": 1.37e307])
        #expect(r.status == 400 && r.text.contains("beta") && r.text.contains("single precision"), "\(r.text)")
        r = try await d.post("/v1/steering", ["policy": "a", "k": 1.8e25])
        #expect(r.status == 400 && r.text.contains("k: ") && r.text.contains("not an integer"), "\(r.text)")
        // A directory with a NUL byte cannot be a path: refused as the document says (Schemathesis found the message wrong).
        r = try await d.post("/v1/policies", ["name": "n", "directory": "\u{0}x"])
        #expect(r.status == 400 && r.text.contains("without NUL"), "\(r.text)")
        r = try await d.post("/v1/policies", ["name": ".", "directory": value])
        #expect(r.status == 400 && r.text.contains("not '.' or '..'"), "\(r.text)")
        // K above max_candidates is refused with the reason, and nothing changes.
        r = try await d.post("/v1/steering", ["policy": "a", "k": 100_000])
        #expect(r.status == 422 && r.text.contains("max_candidates"), "\(r.text)")
        // Back to the plain policy.
        r = try await d.post("/v1/steering", ["policy": "a", "value": "", "sampler": "default"])
        #expect(r.status == 200)
        #expect((try r.json()["steering"] as? [String: Any])?.isEmpty == true)
        // K or β without a value function mean nothing: refused with the reason, never dropped.
        for body: [String: Any] in [["policy": "a", "k": 100_000], ["policy": "a", "k": 4], ["policy": "a", "beta": 1.0]] {
            r = try await d.post("/v1/steering", body)
            #expect(r.status == 422 && r.text.contains("value function"), "\(r.text)")
        }
        let final = try await d.get("/v1/status").json()
        #expect((final["steering"] as? [String: Any])?["a"] as? [String: Any] != nil)
        #expect(((final["steering"] as? [String: Any])?["a"] as? [String: Any])?["k"] == nil)
        try await d.shutdown()
    }

    @Test func emergencyStopWithTorqueOffLetsGo() async throws {
        let d = try await LiveDaemon(stopAction: .torqueOff, preload: ["a"])
        #expect(try await d.post("/v1/episode/start", ["policy": "a"]).status == 200)
        #expect(d.fake.lifecycle == .active)
        #expect(try await d.post("/v1/estop").status == 200)
        let deadline = Date().addingTimeInterval(5)
        while d.fake.lifecycle != .inactive && Date() < deadline { try await Task.sleep(nanoseconds: 10_000_000) }
        #expect(d.fake.lifecycle == .inactive) // the loop switched torque off at its next tick
        #expect(d.fake.recorded.writesOutsideLimits == 0)
        try await d.shutdown()
    }
}
