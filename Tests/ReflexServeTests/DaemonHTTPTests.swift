import Foundation
import ReflexCore
import ReflexRobot
import Testing

@testable import ReflexServe

/// The daemon driven over real HTTP on loopback and a Unix socket, against a fake arm.
@Suite(.serialized) struct DaemonHTTPTests {
    /// Waits (polling status over HTTP) until `condition` holds on the status JSON; fails after `seconds`.
    func waitFor(_ d: LiveDaemon, seconds: Double = 10, _ condition: ([String: Any]) -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let s = try await d.get("/v1/status").json()
            if condition(s) { return }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        Issue.record("condition not reached within \(seconds) s")
    }

    static func controller(_ s: [String: Any]) -> [String: Any] { s["controller"] as? [String: Any] ?? [:] }
    static func counters(_ s: [String: Any]) -> [String: Any] {
        ((controller(s)["loop"] as? [String: Any])?["counters"] as? [String: Any]) ?? [:]
    }

    @Test func loadStartSwitchSteerPredictEstopStopAndSafeShutdown() async throws {
        let d = try await LiveDaemon()
        let dirA = try makePolicyDirectory(d.root, "a", seed: 1)
        let dirB = try makePolicyDirectory(d.root, "b", seed: 2)

        // Up, inactive: nothing written to the arm.
        var s = try await d.get("/v1/status").json()
        #expect(Self.controller(s)["lifecycle"] as? String == "inactive")
        #expect(Self.controller(s)["running"] as? Bool == false)
        #expect(d.fake.recorded.writes == 0)

        var r = try await d.post("/v1/policies", ["name": "a", "directory": dirA])
        #expect(r.status == 201)
        #expect(try r.json()["horizon"] as? Int == 16)
        r = try await d.post("/v1/policies", ["name": "b", "directory": dirB])
        #expect(r.status == 201)

        r = try await d.post("/v1/episode/start", ["policy": "a"])
        #expect(r.status == 200, "\(r.text)")
        try await waitFor(d) { ((Self.counters($0)["chunks_received"] as? Int) ?? 0) >= 2 }
        #expect(d.fake.lifecycle == .active && d.fake.recorded.writes > 0)

        // Switch while running: the loop follows generation 1.
        r = try await d.post("/v1/policy/switch", ["policy": "b"])
        #expect(r.status == 200)
        s = try await d.get("/v1/status").json()
        #expect(Self.controller(s)["active_policy"] as? String == "b")
        #expect(Self.controller(s)["policy_generation"] as? Int == 1)

        // Steering the running policy: a new instance, switched to without stopping.
        r = try await d.post("/v1/steering", ["policy": "b", "sampler": "ddim:2"])
        #expect(r.status == 200, "\(r.text)")
        let steer = try r.json()
        #expect(steer["switched_running_loop"] as? Bool == true)
        #expect((steer["steering"] as? [String: Any])?["sampler"] as? String == "ddim:2")
        s = try await d.get("/v1/status").json()
        #expect(Self.controller(s)["policy_generation"] as? Int == 2)
        #expect(Self.controller(s)["running"] as? Bool == true)

        // Remote inference, JSON: a horizon × action chunk of finite numbers.
        let obs = (0 ..< 24).map { Double($0) * 0.01 }
        r = try await d.post("/v1/predict", ["policy": "a", "observation": obs, "seed": 7])
        #expect(r.status == 200, "\(r.text)")
        let p = try r.json()
        let actions = p["actions"] as? [[Double]] ?? []
        #expect(actions.count == 16 && actions.allSatisfy { $0.count == 6 && $0.allSatisfy(\.isFinite) })
        // Same request and seed → same chunk (its own predictor instance, not the loop's).
        let again = try await d.post("/v1/predict", ["policy": "a", "observation": obs, "seed": 7]).json()
        #expect(again["actions"] as? [[Double]] == actions)

        // Remote inference, safetensors bytes in and out.
        let body = try safetensorsBytes([("observation", Tensor(shape: [2, 12], values: obs.map(Float.init)))])
        r = try await d.postRaw("/v1/predict?policy=a&seed=7", body, contentType: "application/octet-stream")
        #expect(r.status == 200, "\(r.text)")
        #expect(r.headers["content-type"] == "application/octet-stream")
        let file = try SafetensorsFile(bytes: r.body)
        let t = try file.tensor("action")
        #expect(t.shape == [16, 6])
        #expect(abs(Double(t.data[0]) - actions[0][0]) < 1e-5)

        // Metrics: the loop's families and the daemon's.
        let m = try await d.get("/metrics")
        #expect(m.status == 200 && m.headers["content-type"]?.hasPrefix("text/plain") == true)
        #expect(m.text.contains("# TYPE reflex_loop_period_jitter_seconds histogram"))
        #expect(m.text.contains("reflex_loop_running 1"))
        #expect(m.text.contains("reflex_predict_requests_total 3"))

        // Remote RTC (replacement): the client says which actions of the new chunk it executes from the previous one
        // (committed) and how far the new observation is from the previous one; those come back exactly.
        let first = try await d.post("/v1/predict", ["policy": "a", "observation": obs, "seed": 3, "episode_start": true])
            .json()["actions"] as? [[Double]] ?? []
        r = try await d.post("/v1/predict", ["policy": "a", "observation": obs, "seed": 4, "steps_executed": 2,
                                             "steps_since_observation": 4, "committed": 2, "execution": "rtc-replace"])
        #expect(r.status == 200, "\(r.text)")
        let second = try r.json()["actions"] as? [[Double]] ?? []
        #expect(first.count == 16 && second.count == 16)
        if first.count == 16, second.count == 16 { // n_obs_steps 2: rows 0...2 frozen, the previous chunk's rows 4...6
            #expect(Array(second[0 ..< 3]) == Array(first[4 ..< 7]))
            #expect(second[3] != first[7])
        }
        #expect(try await d.post("/v1/predict", ["policy": "a", "observation": obs, "committed": -1]).status == 400)
        #expect(try await d.post("/v1/predict", ["policy": "a", "observation": obs, "execution": "fast"]).status == 400)

        // Emergency stop: answered at once; the loop holds (stop_action: hold).
        r = try await d.post("/v1/estop")
        #expect(r.status == 200)
        // Engaged on the event loop's fast path, before the router answered.
        #expect(d.core.emergencyStopEngagedAt > 0)
        #expect(try r.json()["engaged_at_ns"] as? UInt64 == d.core.emergencyStopEngagedAt)
        try await waitFor(d) { ((Self.controller($0)["loop"] as? [String: Any])?["mode"] as? String) == "stopped" }
        s = try await d.get("/v1/status").json()
        #expect(Self.controller(s)["emergency_stop"] as? Bool == true)
        #expect(d.fake.lifecycle == .active)
        r = try await d.post("/v1/episode/start", ["policy": "a"])
        #expect(r.status == 409) // still running
        r = try await d.post("/v1/episode/stop")
        #expect(r.status == 200)
        r = try await d.post("/v1/episode/start", ["policy": "a"])
        let reason = try r.json()["reason"] as? String
        #expect(r.status == 409 && reason?.contains("emergency stop") == true)
        r = try await d.post("/v1/estop/clear")
        #expect(r.status == 200)
        r = try await d.post("/v1/episode/start", ["policy": "a"])
        #expect(r.status == 200)

        // SIGTERM's path: graceful shutdown stops the loop and switches torque off.
        try await d.shutdown()
        #expect(d.fake.lifecycle == .finalized)
        #expect(d.fake.recorded.writesOutsideLimits == 0)
    }

    @Test func badRequestsAreRefusedWithAReasonAndNothingMoves() async throws {
        let d = try await LiveDaemon(preload: ["a"])
        func expectRefused(_ r: RawHTTPClient.Response, _ status: Int, _ error: String? = nil, _ why: Comment? = nil) throws {
            #expect(r.status == status, why ?? "\(r.text)")
            let j = try r.json()
            #expect(j["reason"] is String, "\(r.text)")
            if let error { #expect(j["error"] as? String == error, "\(r.text)") }
        }
        let good = try await d.get("/v1/status")
        #expect(good.status == 200)

        // Tokens.
        try expectRefused(try await d.get("/v1/status", token: .some(nil)), 401, "unauthorized")
        try expectRefused(try await d.get("/v1/status", token: "wrong-token-0123456789abcdef"), 401, "unauthorized")
        try expectRefused(try await d.post("/v1/episode/start", ["policy": "a"], token: .some(nil)), 401)
        try expectRefused(try await d.post("/v1/estop", token: "nope"), 401)
        #expect(!d.core.controller.safety.emergencyStopEngaged && d.core.emergencyStopEngagedAt == 0) // not by a stranger
        try expectRefused(try await d.get("/metrics", token: .some(nil)), 401)

        // Malformed and invalid bodies.
        try expectRefused(try await d.postRaw("/v1/episode/start", Array("{\"policy\": ".utf8), contentType: "application/json"), 400, "bad_request")
        try expectRefused(try await d.postRaw("/v1/episode/start", Array("[1,2]".utf8), contentType: "application/json"), 400, "bad_request")
        try expectRefused(try await d.post("/v1/episode/start", ["polcy": "a"]), 400, "bad_request")
        try expectRefused(try await d.post("/v1/episode/start", ["policy": 3]), 400, "bad_request")
        try expectRefused(try await d.postRaw("/v1/episode/start", Array("policy=a".utf8), contentType: "text/plain"), 415)
        try expectRefused(try await d.postRaw("/v1/episode/start", [], contentType: "application/json"), 400)
        // Oversize body (limit 64 KiB).
        let big = Array(("{\"policy\": \"" + String(repeating: "x", count: 100_000) + "\"}").utf8)
        try expectRefused(try await d.postRaw("/v1/episode/start", big, contentType: "application/json"), 413, "too_large")
        try expectRefused(try await d.postRaw("/v1/predict", [UInt8](repeating: 0, count: 70_000), contentType: "application/octet-stream"), 413)

        // Unknown policies and paths.
        try expectRefused(try await d.post("/v1/episode/start", ["policy": "missing"]), 404, "unknown_policy")
        try expectRefused(try await d.post("/v1/policies", ["name": "x", "directory": d.root + "/does-not-exist"]), 404, "not_found")
        try expectRefused(try await d.post("/v1/policies", ["name": "x", "directory": "/etc"]), 403, "forbidden")
        try expectRefused(try await d.post("/v1/policies", ["name": "x", "directory": d.root + "/../../etc"]), 403)
        try FileManager.default.createDirectory(atPath: d.root + "/empty", withIntermediateDirectories: true)
        try expectRefused(try await d.post("/v1/policies", ["name": "x", "directory": d.root + "/empty"]), 404)
        try expectRefused(try await d.post("/v1/policies", ["name": "../a", "directory": d.root + "/a"]), 400)
        try expectRefused(try await d.post("/v1/policy/switch", ["policy": "a"]), 409, "conflict")
        try expectRefused(try await d.post("/v1/episode/stop"), 409)
        try expectRefused(try await d.post("/v1/estop/clear", token: .some(nil)), 401)

        // Steering that cannot be applied.
        try expectRefused(try await d.post("/v1/steering", ["policy": "a", "sampler": "warp:9"]), 422, "invalid_steering")
        try expectRefused(try await d.post("/v1/steering", ["policy": "a", "dsrl_actor": d.root + "/a"]), 404, "not_found", "a policy directory is not a DSRL run")
        try expectRefused(try await d.post("/v1/steering", ["policy": "a", "dsrl_actor": "/etc"]), 403)
        try expectRefused(try await d.post("/v1/steering", ["policy": "zzz", "sampler": "ddpm"]), 404)
        try expectRefused(try await d.post("/v1/steering", ["policy": "a", "value": "/etc"]), 403)

        // Predict with the wrong shapes or bytes.
        try expectRefused(try await d.post("/v1/predict", ["policy": "a", "observation": [1, 2, 3]]), 422, "shape_mismatch")
        try expectRefused(try await d.post("/v1/predict", ["policy": "a", "observation": "x"]), 400)
        let huge = try await d.post("/v1/predict", ["policy": "a", "observation": [1e39] + Array(repeating: 0.0, count: 23)])
        try expectRefused(huge, 400)
        #expect((try huge.json()["reason"] as? String)?.contains("single precision") == true)
        try expectRefused(try await d.post("/v1/predict", ["policy": "a", "observation": Array(repeating: 0.0, count: 24), "steps_executed": -1]), 400)
        try expectRefused(try await d.postRaw("/v1/predict?policy=a", Array("not safetensors".utf8), contentType: "application/octet-stream"), 422)
        let wrongName = try safetensorsBytes([("obs", Tensor(shape: [24], repeating: 0))])
        try expectRefused(try await d.postRaw("/v1/predict?policy=a", wrongName, contentType: "application/octet-stream"), 400)
        let noPolicy = try safetensorsBytes([("observation", Tensor(shape: [24], repeating: 0))])
        try expectRefused(try await d.postRaw("/v1/predict", noPolicy, contentType: "application/octet-stream"), 400)

        // The WebSocket needs the token too; a plain GET is told to upgrade.
        let c = d.client
        var anonymous = c
        anonymous.token = nil
        let anon = anonymous
        // (hummingbird-websocket answers every refused upgrade with a bare 400: the token check runs in the upgrade
        // router, and a failed upgrade cannot carry another status.)
        let (wsStatus, ws) = try await blocking { try anon.webSocket("/v1/stream") }
        #expect(wsStatus == 400 && ws == nil)
        let (wrongStatus, _) = try await blocking { try anon.webSocket("/v1/stream?access_token=wrong-token-0123456789") }
        #expect(wrongStatus == 400)
        try expectRefused(try await d.get("/v1/stream"), 426)

        // Nothing reached the arm: still inactive, never written to; no episode started.
        let s = try await d.get("/v1/status").json()
        #expect(Self.controller(s)["lifecycle"] as? String == "inactive")
        #expect(Self.controller(s)["running"] as? Bool == false)
        #expect(Self.controller(s)["policies"] as? [String] == ["a"])
        #expect(d.fake.recorded.writes == 0 && d.fake.lifecycle == .inactive)
        let m = try await d.get("/metrics").text
        #expect(m.contains("reflex_http_refused_total{code=\"401\"}"))
        try await d.shutdown()
    }

    /// A DSRL run's noise actor steers a loaded policy: the same observation and seed give a different chunk than
    /// without it, and the actor for another policy's shape is refused.
    @Test func dsrlActorSteersPredictions() async throws {
        let d = try await LiveDaemon(preload: ["a"])
        let run = try makeDSRLRun(d.root, "dsrl", policy: d.root + "/a")
        let obs = (0 ..< 24).map { Double($0) * 0.01 }
        let plain = try await d.post("/v1/predict", ["policy": "a", "observation": obs, "seed": 7]).json()["actions"] as? [[Double]]
        let r = try await d.post("/v1/steering", ["policy": "a", "dsrl_actor": run])
        #expect(r.status == 200, "\(r.text)")
        let steered = try await d.post("/v1/predict", ["policy": "a", "observation": obs, "seed": 7]).json()["actions"] as? [[Double]]
        #expect(plain != nil && steered != nil && plain != steered)
        let again = try await d.post("/v1/predict", ["policy": "a", "observation": obs, "seed": 8]).json()["actions"] as? [[Double]]
        #expect(again == steered, "the actor acts with tanh(μ): the noise, and so the chunk, no longer depends on the seed")
        let wrong = try makeDSRLRun(d.root, "dsrl-wrong", policy: d.root + "/a", conditionSize: 5)
        #expect(try await d.post("/v1/steering", ["policy": "a", "dsrl_actor": wrong]).status == 422)
        #expect(d.fake.recorded.writes == 0)
        try await d.shutdown()
    }

    @Test func badRequestsWhileRunningLeaveTheLoopAsItWas() async throws {
        let d = try await LiveDaemon(preload: ["a"])
        #expect(try await d.post("/v1/episode/start", ["policy": "a"]).status == 200)
        try await waitFor(d) { ((Self.counters($0)["chunks_received"] as? Int) ?? 0) >= 1 }
        #expect(try await d.post("/v1/policy/switch", ["policy": "nope"]).status == 404)
        #expect(try await d.post("/v1/steering", ["policy": "a", "k": 1000, "value": d.root + "/a"]).status == 422)
        #expect(try await d.post("/v1/policies", ["name": "a", "directory": d.root + "/a"]).status == 409) // running
        #expect(try await d.post("/v1/episode/start", ["policy": "a"]).status == 409)
        let s = try await d.get("/v1/status").json()
        #expect(Self.controller(s)["policy_generation"] as? Int == 0)
        #expect(Self.controller(s)["running"] as? Bool == true)
        #expect(d.fake.recorded.writesOutsideLimits == 0)
        try await d.shutdown()
    }

    @Test func unixSocketIsOwnerOnly() async throws {
        let d = try await LiveDaemon(unixSocket: true, token: nil, preload: ["a"])
        guard case let .unix(path) = d.address else { return }
        var st = stat()
        #expect(stat(path, &st) == 0)
        #expect(st.st_mode & S_IFMT == S_IFSOCK)
        #expect(st.st_mode & 0o777 == 0o600)
        let s = try await d.get("/v1/status")
        #expect(s.status == 200)
        #expect(try await d.post("/v1/estop").status == 200)
        try await d.shutdown()
    }

    @Test func webSocketStreamsJointStateCommandsAndTiming() async throws {
        let d = try await LiveDaemon(preload: ["a"])
        var c = d.client
        c.token = nil
        let tokenPath = "/v1/stream?access_token=\(LiveDaemon.token)"
        let cc = c
        let (status, ws) = try await blocking { try cc.webSocket(tokenPath) }
        #expect(status == 101)
        guard let ws else { return }
        let first = try await blocking { try ws.nextText() }
        var frame = try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any] ?? [:]
        #expect(frame["lifecycle"] as? String == "inactive")
        #expect((frame["position"] as? [Double])?.count == 6) // read from the inactive arm
        #expect(frame["command"] == nil)

        #expect(try await d.post("/v1/episode/start", ["policy": "a"]).status == 200)
        var ticks: [Int] = []
        for _ in 0 ..< 200 where ticks.count < 3 {
            let text = try await blocking { try ws.nextText() }
            frame = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
            if frame["running"] as? Bool == true, let cmd = frame["command"] as? [Double], cmd.count == 6,
               let t = frame["ticks"] as? Int, t > (ticks.last ?? 0) {
                ticks.append(t)
            }
        }
        #expect(ticks.count == 3) // live frames with commands, ticks advancing
        #expect((frame["position"] as? [Double])?.count == 6)
        #expect(frame["deadline_misses"] is Int && frame["period_jitter_p99_us"] is Double)
        #expect((frame["joints"] as? [String])?.first == "shoulder_pan")
        try await d.shutdown()
    }

    @Test func aRestartedDaemonComesUpInactive() async throws {
        // A daemon ran an episode and died without its safe stop; the next process opens the arm afresh (a new
        // robot object, as after kill -9) and must leave it inactive, writing nothing, until an episode starts.
        // (The emulated-servo version of this, with the bus watchdog, is Benchmarks/serve_kill9.sh.)
        let first = try await LiveDaemon(preload: ["a"])
        #expect(try await first.post("/v1/episode/start", ["policy": "a"]).status == 200)
        #expect(first.fake.lifecycle == .active)
        try await first.shutdown()
        let second = try await LiveDaemon(preload: ["a"])
        try await Task.sleep(nanoseconds: 200_000_000)
        let s = try await second.get("/v1/status").json()
        #expect(Self.controller(s)["lifecycle"] as? String == "inactive")
        #expect(Self.controller(s)["running"] as? Bool == false)
        #expect(second.fake.recorded.writes == 0 && second.fake.lifecycle == .inactive)
        try await second.shutdown()
    }
}

@Suite struct OpenAPITests {
    static func normalize(_ path: String) -> String { path.hasPrefix("/") ? path : "/" + path }

    @Test func theDocumentDescribesEveryRouteAndNoOther() async throws {
        let d = try await LiveDaemon()
        let router = ServeRoutes.makeRouter(core: d.core, token: nil)
        let wsRouter = ServeRoutes.makeWebSocketRouter(core: d.core, token: nil)
        let served = Set((router.routes + wsRouter.routes).map { "\($0.method.rawValue) \(Self.normalize($0.path.description))" })
        // The document the daemon serves (public, no token).
        var anonymous = d.client
        anonymous.token = nil
        let c = anonymous
        let r = try await blocking { try c.request("GET", "/openapi.json") }
        #expect(r.status == 200)
        let doc = try r.json()
        #expect(doc["openapi"] as? String == "3.1.0")
        let paths = doc["paths"] as? [String: [String: Any]] ?? [:]
        let documented = Set(paths.flatMap { path, ops in ops.keys.map { "\($0.uppercased()) \(path)" } })
        #expect(served == documented, "served only: \(served.subtracting(documented).sorted()); documented only: \(documented.subtracting(served).sorted())")
        #expect(served.count >= 13)
        // Every error response points at the Error schema.
        for (_, ops) in paths {
            for (_, op) in ops {
                let responses = (op as? [String: Any])?["responses"] as? [String: Any] ?? [:]
                for (code, resp) in responses where code.hasPrefix("4") && code != "400" || code == "401" {
                    let schema = (((resp as? [String: Any])?["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] as? [String: Any]
                    #expect(schema?["$ref"] as? String == "#/components/schemas/Error", "\(code)")
                }
            }
        }
        // The status page is served too, without a token, and carries no external resources.
        let page = try await blocking { try c.request("GET", "/") }
        #expect(page.status == 200 && page.headers["content-type"]?.hasPrefix("text/html") == true)
        #expect(page.text.contains("id=\"estop\"") && !page.text.contains("https://") && !page.text.contains("http://"))
        try await d.shutdown()
    }
}
