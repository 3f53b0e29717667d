import Foundation
import ReflexCore
import ReflexPolicy
import Testing
import TestSupport

@testable import ReflexServe

/// A LeRobot diffusion checkpoint served by the daemon (Tests/ReflexPolicyTests/Fixtures/lerobot_sixjoint, made by
/// Tests/Fixtures/make_lerobot_sixjoint_fixture.py with lerobot 0.4.4): loaded over the API, remote inference on it
/// equal to LeRobotDiffusionPolicy's own chunk for the same seed, a sampler set, Reflex-only steering refused.
@Suite(.serialized) struct LeRobotServeTests {
    @Test func leRobotCheckpointIsLoadedAndServed() async throws {
        let d = try await LiveDaemon()
        let fixture = TestPeers.repositoryRoot + "/Tests/ReflexPolicyTests/Fixtures/lerobot_sixjoint"
        let dir = d.root + "/lerobot_sixjoint"
        try FileManager.default.copyItem(atPath: fixture, toPath: dir)

        var r = try await d.post("/v1/policies", ["name": "lr", "directory": dir])
        #expect(r.status == 201, "\(r.text)")
        #expect(try r.json()["horizon"] as? Int == 16)

        // 2 steps × [state 6, environment state 6], as the fake arm's observation is laid out.
        let obs = (0 ..< 24).map { Float($0) * 0.05 - 0.5 }
        r = try await d.post("/v1/predict", ["policy": "lr", "observation": obs.map(Double.init), "seed": 7])
        #expect(r.status == 200, "\(r.text)")
        let answer = try r.json()
        let actions = try #require(answer["actions"] as? [[Double]])
        #expect(actions.count == 16 && actions.allSatisfy { $0.count == 6 })
        #expect(answer["network_evaluations"] as? Int == 4)  // config.json's DDIM steps
        // The same chunk as the policy built directly with the daemon's generator for that seed.
        let direct = try LeRobotDiffusionPolicy(directory: fixture)
        let history = Tensor(shape: [2, 12], values: obs)
        let chunk = Tensor(zeros: [16, 6])
        var gen = RandomGenerator(seed: 7)
        let context = ChunkContext(stepsExecuted: 0, stepsSinceObservation: 0, delay: 0, strategy: .naive)  // the predictor's
        _ = direct.predictChunk(history: history.data, context: context, output: chunk.data, generator: &gen)
        let worst = zip(actions.joined(), chunk.scalars).map { abs($0 - Double($1)) }.max() ?? .infinity
        #expect(worst < 1e-6, "largest difference \(worst)")  // JSON's decimal floats: 0 reached

        r = try await d.post("/v1/steering", ["policy": "lr", "sampler": "ddim:2"])
        #expect(r.status == 200, "\(r.text)")
        r = try await d.post("/v1/predict", ["policy": "lr", "observation": obs.map(Double.init), "seed": 7])
        #expect(try r.json()["network_evaluations"] as? Int == 2)
        r = try await d.post("/v1/steering", ["policy": "lr", "value": dir, "k": 2])
        #expect((400 ..< 500).contains(r.status), "\(r.text)")
        #expect(try r.json()["reason"] as? String ?? "" != "")
        try await d.shutdown()
    }
}
