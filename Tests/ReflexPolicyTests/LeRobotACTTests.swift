import AllocationCounter
import Foundation
import ReflexCore
import ReflexNN
import TestSupport
import Testing

@testable import ReflexPolicy

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
private let actFixtures = ["lerobot_act_state", "lerobot_act_camera", "lerobot_act_2cam"]

/// The raw observation of step `k` of the recorded episode: [state, camera image (C × H × W), environment state].
private func observation(_ policy: LeRobotACTPolicy, _ expected: SafetensorsFile, step k: Int) throws -> Tensor {
    let c = policy.checkpoint.config
    let obs = Tensor(zeros: [c.observationSize])
    var offset = 0
    if let s = c.stateFeature {
        (obs.data + offset).update(from: try expected.tensor("episode.state").data + k * s.size, count: s.size)
        offset += s.size
    }
    for (j, camera) in c.imageFeatures.enumerated() {
        let image = DeterministicWeights.tensor("episode.\(k).\(j).image", shape: camera.feature.shape)
        (obs.data + offset).update(from: image.data, count: image.count)
        offset += image.count
    }
    if let e = c.environmentStateFeature {
        (obs.data + offset).update(from: try expected.tensor("episode.environment_state").data + k * e.size, count: e.size)
    }
    return obs
}

/// LeRobot ACT policies (Tests/Fixtures/make_lerobot_act_fixture.py) against LeRobot 0.4.4's own outputs: the
/// transformer encoder's output, one action chunk, and select_action over an episode with the action queue and with
/// temporal ensembling.
@Suite struct LeRobotACTTests {
    @Test(arguments: actFixtures)
    func chunkMatchesLeRobot(name: String) throws {
        let dir = try materializeImageFixture(name)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let policy = try LeRobotACTPolicy(directory: dir)
        let expected = try SafetensorsFile(path: dir + "/expected.safetensors")
        let obs = try observation(policy, expected, step: 0)
        policy.predictNormalizedChunk(observation: obs.data)
        // Reached (state / camera / two cameras): encoder output 4.4e-7 / 1.3e-6 / 1.9e-6, normalized chunk 7.1e-7 /
        // 9.0e-7 / 1.5e-6, unnormalized chunk 1.8e-7 / 2.7e-7 / 1.5e-7; tolerances 7–10× the largest.
        let encoder = try expected.tensor("encoder.out")
        let encoderErr = relativeError(policy.workspace.transformer.memory.data, encoder)
        #expect(encoderErr < 1.5e-5, "\(name): encoder output relative error \(encoderErr)")
        let normalized = try expected.tensor("chunk.normalized")
        let err = relativeError(policy.chunk.data, normalized)
        #expect(err < 1e-5, "\(name): normalized chunk relative error \(err)")
        let raw = Tensor(zeros: normalized.shape)
        var gen = RandomGenerator(seed: 0)
        _ = policy.predictChunk(history: obs.data, stepsExecuted: 0, output: raw.data, generator: &gen)
        let rawErr = relativeError(raw.data, try expected.tensor("chunk.action"))
        #expect(rawErr < 3e-6, "\(name): chunk relative error \(rawErr)")
    }

    /// select_action over 7 steps: the action queue (n_action_steps from the config, or 1 when it ensembles) and
    /// temporal ensembling with m = 0.01.
    @Test(arguments: actFixtures)
    func selectActionMatchesLeRobot(name: String) throws {
        let dir = try materializeImageFixture(name)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let policy = try LeRobotACTPolicy(directory: dir)
        let expected = try SafetensorsFile(path: dir + "/expected.safetensors")
        let c = policy.checkpoint.config, a = c.actionFeature.size
        for mode in ["queue", "ensemble"] {
            policy.ensembler = mode == "queue" ? nil
                : ACTTemporalEnsembler(coefficient: 0.01, chunkSize: c.chunkSize, actionSize: a)
            policy.reset()
            let want = try expected.tensor("episode.\(mode)")
            let got = Tensor(zeros: want.shape)
            for k in 0 ..< want.shape[0] {
                let obs = try observation(policy, expected, step: k)
                withExtendedLifetime(obs) { policy.selectAction(observation: obs.data, action: got.data + k * a) }
            }
            let err = relativeError(got.data, want)
            // Reached: queue 2.1e-7 / 3.5e-7 / 4.4e-7, ensemble 1.4e-7 / 1.4e-7 / 1.5e-7 (state / camera / two cameras).
            #expect(err < 4e-6, "\(name) \(mode): relative error \(err)")
        }
    }

    /// One chunk of the camera policy (backbone, transformer, head) allocates nothing after a warm-up, on 1 and 2
    /// kernel threads.
    @Test(arguments: [1, 2])
    func chunkAllocatesNothing(threads: Int) throws {
        #expect(rx_allocation_counter_active() == 1)
        let dir = try materializeImageFixture("lerobot_act_camera")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try KernelThreads.with(threads) {
            let policy = try LeRobotACTPolicy(directory: dir)
            let obs = Tensor(zeros: [policy.config.observationSize]), action = Tensor(zeros: [policy.config.actionSize])
            var gen = RandomGenerator(seed: 3)
            gen.fillUniform(obs, low: 0, high: 1)
            policy.selectAction(observation: obs.data, action: action.data)
            policy.ensembler = ACTTemporalEnsembler(coefficient: 0.01, chunkSize: policy.config.horizon, actionSize: policy.config.actionSize)
            policy.selectAction(observation: obs.data, action: action.data)
            let before = rx_thread_allocation_count()
            for _ in 0 ..< 3 { policy.selectAction(observation: obs.data, action: action.data) }
            let allocations = rx_thread_allocation_count() - before
            #expect(allocations == 0, "\(allocations) allocations in 3 chunks (threads \(threads))")
        }
    }

    /// Options Reflex does not run are refused by name before any weight is read (model.safetensors is removed to
    /// prove it is never opened).
    @Test(arguments: [("feedforward_activation", "\"glu\""), ("replace_final_stride_with_dilation", "true"),
                      ("vision_backbone", "\"efficientnet_b0\""), ("n_obs_steps", "2"), ("made_up_option", "1")])
    func unsupportedOptionsAreRefusedByName(key: String, value: String) throws {
        let dir = NSTemporaryDirectory() + "reflex-act-refuse-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: fixtures + "/lerobot_act_camera", toPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.removeItem(atPath: dir + "/model.safetensors")
        let path = dir + "/config.json"
        var json = try String(contentsOfFile: path, encoding: .utf8)
        if json.contains("\"\(key)\":") {
            json = json.replacingOccurrences(of: "\"\(key)\": [^,\\n]+", with: "\"\(key)\": \(value)", options: .regularExpression)
        } else {
            json = json.replacingOccurrences(of: "\"type\": \"act\",", with: "\"type\": \"act\", \"\(key)\": \(value),")
        }
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try LeRobotPolicyType(directory: dir) == .act)
        do {
            _ = try LeRobotACTCheckpoint(directory: dir)
            Issue.record("loaded a checkpoint with \(key) = \(value)")
        } catch let e as ReflexError {
            #expect(e.description.contains(key), "\(e)")
            #expect(!e.description.contains("model.safetensors"), "\(e)")
        }
    }

    /// A checkpoint whose weights disagree with its config is refused naming the tensor.
    @Test func aMissingTensorIsNamed() throws {
        let dir = try materializeImageFixture("lerobot_act_state")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try SafetensorsFile(path: dir + "/model.safetensors")
        let tensors = try model.allTensors().filter { $0.key != "model.decoder.norm.weight" }.map { (name: $0.key, tensor: $0.value) }
        try writeSafetensors(tensors, to: dir + "/model.safetensors", metadata: ["format": "pt"])
        #expect(throws: ReflexError.self) { _ = try LeRobotACTCheckpoint(directory: dir) }
        do { _ = try LeRobotACTCheckpoint(directory: dir) } catch let e as ReflexError {
            #expect(e.description.contains("model.decoder.norm.weight"), "\(e)")
        }
    }

    /// `reflex eval` loads Reflex policy directories; handed an ACT checkpoint it names what runs it and its cameras.
    @Test func evalRefusesAnACTCheckpointByName() throws {
        do {
            _ = try PolicyDirectory.load(fixtures + "/lerobot_act_2cam")
            Issue.record("loaded a LeRobot checkpoint as a Reflex policy directory")
        } catch let e as ReflexError {
            #expect(e.code == .invalidPolicy)
            #expect(e.description.contains("LeRobotACTPolicy") && e.description.contains("observation.images.wrist"), "\(e)")
        }
    }

    @Test func sinusoidalEmbeddingMatchesLeRobotsFormula() {
        // LeRobot's ACTSinusoidalPositionEmbedding2d at (row 0, column 0) of a 2×3 map, dimension 8 (4 per axis):
        // y = 1/(2 + 1e-6)·2π, x = 1/(3 + 1e-6)·2π; frequencies 10000^(0/4), 10000^(0/4), 10000^(2/4), 10000^(2/4).
        let e = ActionChunkingTransformer.sinusoidalPositionEmbedding2d(ImageSize(height: 2, width: 3), dim: 8)
        let y = 2 * Double.pi / 2, x = 2 * Double.pi / 3
        let want = [sin(y), cos(y), sin(y / 100), cos(y / 100), sin(x), cos(x), sin(x / 100), cos(x / 100)]
        for i in 0 ..< 8 { #expect(abs(Double(e.data[i]) - want[i]) < 1e-5) }
    }
}
