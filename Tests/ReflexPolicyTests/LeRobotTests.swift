import AllocationCounter
import Foundation
import ReflexCore
import ReflexNN
import TestSupport
import Testing

@testable import ReflexPolicy

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
private let fixtureNames = ["lerobot_film", "lerobot_nofilm", "lerobot_legacy"]

/// A writable copy of a fixture directory, for tests that break it.
private func copyFixture(_ name: String) throws -> String {
    let dir = NSTemporaryDirectory() + "reflex-lerobot-\(UUID().uuidString)"
    try FileManager.default.copyItem(atPath: fixtures + "/" + name, toPath: dir)
    return dir
}

private func editConfig(_ dir: String, _ edit: (String) -> String) throws {
    let path = dir + "/config.json"
    let text = try String(contentsOfFile: path, encoding: .utf8)
    try edit(text).write(toFile: path, atomically: true, encoding: .utf8)
}

private func loadError(_ dir: String) -> ReflexError? {
    do {
        _ = try LeRobotCheckpoint(directory: dir)
        return nil
    } catch let e as ReflexError {
        return e
    } catch {
        return nil
    }
}

@Suite struct LeRobotTests {
    @Test(arguments: fixtureNames)
    func unetMatchesLeRobot(name: String) throws {
        let checkpoint = try LeRobotCheckpoint(directory: fixtures + "/" + name)
        let expected = try SafetensorsFile(path: fixtures + "/" + name + "/expected.safetensors")
        let h = checkpoint.config.horizon
        let ws = try ConditionalUnet1DWorkspace(network: checkpoint.unet, horizon: h, maxBatch: 3)
        for i in 0 ..< 3 {
            let x = try expected.tensor("unet.\(i).x"), cond = try expected.tensor("unet.\(i).cond")
            let want = try expected.tensor("unet.\(i).out")
            let t = Int(try expected.tensor("unet.\(i).t").data[0])
            let out = Tensor(zeros: want.shape)
            checkpoint.unet.evaluate(x.data, timestep: t, condition: cond.data, conditionBatch: 3, batch: 3,
                                     output: out.data, workspace: ws)
            let err = relativeError(out.data, want)
            // 9.5e-7 reached
            #expect(err < 1e-5, "\(name) t=\(t): relative error \(err)")
        }
    }

    @Test(arguments: fixtureNames)
    func selectActionMatchesLeRobot(name: String) throws {
        let policy = try LeRobotDiffusionPolicy(directory: fixtures + "/" + name)
        let expected = try SafetensorsFile(path: fixtures + "/" + name + "/expected.safetensors")
        let states = try expected.tensor("episode.state"), envs = try expected.tensor("episode.environment_state")
        let want = try expected.tensor("episode.action")
        policy.initialNoise = try expected.tensor("episode.noise").copy()
        let runner = PolicyRunner(policy: policy)
        let s = states.shape[1], e = envs.shape[1], a = want.shape[1]
        var gen = RandomGenerator(seed: 0)
        let obs = Tensor(zeros: [s + e]), got = Tensor(zeros: want.shape)
        var inferences = 0
        for k in 0 ..< want.shape[0] {
            obs.data.update(from: states.data + k * s, count: s)
            (obs.data + s).update(from: envs.data + k * e, count: e)
            if runner.step(observation: obs.data, action: got.data + k * a, generator: &gen) != nil { inferences += 1 }
        }
        // 12 steps with n_action_steps 8: chunks at steps 0 and 8, as LeRobot's queue.
        #expect(inferences == 2)
        for d in 0 ..< a { // per action dimension, relative to its scale
            var diff: Float = 0, scale: Float = 0
            for k in 0 ..< want.shape[0] {
                diff = max(diff, abs(got.data[k * a + d] - want.data[k * a + d]))
                scale = max(scale, abs(want.data[k * a + d]))
            }
            // 5.4e-6 reached
            #expect(diff / scale < 5e-5, "\(name) action dim \(d): relative error \(diff / scale)")
        }
    }

    @Test func checkpointDescribesItself() throws {
        let film = try LeRobotCheckpoint(directory: fixtures + "/lerobot_film")
        #expect(film.layout == .processors)
        #expect(film.config.unet.useFilmScaleModulation)
        #expect(film.config.noiseSchedulerType == "DDIM" && film.config.numInferenceSteps == 10)
        #expect(film.stateNormalizer.mode == .minMax && film.environmentStateNormalizer?.mode == .meanStd)
        #expect(film.actionNormalizer.mode == .minMax && !film.actionNormalizer.legacyMinMax)
        let legacy = try LeRobotCheckpoint(directory: fixtures + "/lerobot_legacy")
        #expect(legacy.layout == .legacyBuffers && legacy.actionNormalizer.legacyMinMax)
        let nofilm = try LeRobotCheckpoint(directory: fixtures + "/lerobot_nofilm")
        #expect(!nofilm.config.unet.useFilmScaleModulation && nofilm.config.scheduler.predictionType == .sample)
        // Parameter count equals the number of floats in the U-Net's tensors.
        #expect(film.unet.parameterCount * 4 == film.weightBytes)
    }

    @Test func bf16WeightsStayCloseToF32() throws {
        let f32 = try LeRobotCheckpoint(directory: fixtures + "/lerobot_film")
        let bf16 = try LeRobotCheckpoint(directory: fixtures + "/lerobot_film", storage: .bf16)
        let expected = try SafetensorsFile(path: fixtures + "/lerobot_film/expected.safetensors")
        let h = f32.config.horizon
        let x = try expected.tensor("unet.1.x"), cond = try expected.tensor("unet.1.cond")
        let want = try expected.tensor("unet.1.out")
        let ws = try ConditionalUnet1DWorkspace(network: bf16.unet, horizon: h, maxBatch: 3)
        let out = Tensor(zeros: want.shape)
        bf16.unet.evaluate(x.data, timestep: 37, condition: cond.data, conditionBatch: 3, batch: 3, output: out.data, workspace: ws)
        let err = relativeError(out.data, want)
        // bfloat16 keeps 8 significant bits: the output moves, but by percent, not by its scale.
        #expect(err > 1e-5 && err < 5e-2, "bf16 relative error \(err)")
    }

    @Test func batchedCandidatesEqualSeparateCalls() throws {
        let checkpoint = try LeRobotCheckpoint(directory: fixtures + "/lerobot_film")
        let h = checkpoint.config.horizon, a = checkpoint.config.actionFeature.size
        let g = checkpoint.config.unet.globalConditionSize
        let ws = try ConditionalUnet1DWorkspace(network: checkpoint.unet, horizon: h, maxBatch: 4)
        var gen = RandomGenerator(seed: 3)
        let x = Tensor(zeros: [4, h, a]), cond = Tensor(zeros: [g])
        gen.fillGaussian(x)
        gen.fillGaussian(cond)
        let batched = Tensor(zeros: [4, h, a]), single = Tensor(zeros: [h, a])
        checkpoint.unet.evaluate(x.data, timestep: 20, condition: cond.data, conditionBatch: 1, batch: 4,
                                 output: batched.data, workspace: ws)
        for k in 0 ..< 4 {
            checkpoint.unet.evaluate(x.data + k * h * a, timestep: 20, condition: cond.data, conditionBatch: 1, batch: 1,
                                     output: single.data, workspace: ws)
            // 0 reached here (the same kernels either way)
            for i in 0 ..< h * a { #expect(abs(single.data[i] - batched.data[k * h * a + i]) <= 1e-6 * (1 + abs(single.data[i]))) }
        }
    }

    @Test(arguments: [1, 2])
    func denoisingStepAllocatesNothing(threads: Int) throws {
        #expect(rx_allocation_counter_active() == 1)
        try KernelThreads.with(threads) {
            let policy = try LeRobotDiffusionPolicy(directory: fixtures + "/lerobot_film", maxCandidates: 8)
            let d = policy.denoiser
            let x = Tensor(zeros: [8, d.horizon, d.actionSize]), y = Tensor(zeros: [8, d.horizon, d.actionSize])
            let cond = Tensor(zeros: [8, d.conditionSize])
            var gen = RandomGenerator(seed: 1)
            gen.fillGaussian(x)
            gen.fillGaussian(cond)
            // Warm-up with every shape used below (it grows the per-thread GEMM packing buffers of the FiLM layers).
            for b in [1, 8] {
                for cb in [1, b] { d.predict(x.data, timestep: 5, condition: cond.data, conditionBatch: cb, batch: b, output: y.data) }
            }
            let before = rx_thread_allocation_count()
            for i in 0 ..< 50 {
                let b = i % 2 == 0 ? 1 : 8
                d.predict(x.data, timestep: i, condition: cond.data, conditionBatch: i % 4 == 1 ? b : 1, batch: b, output: y.data)
            }
            let allocations = rx_thread_allocation_count() - before
            #expect(allocations == 0, "\(allocations) allocations in 50 U-Net evaluations (threads \(threads))")
        }
    }

    @Test func cameraOptionsReflexDoesNotRunAreRefusedByName() throws {
        // Refused from config.json alone, before any weight is read.
        for (find, replace, mention) in [
            ("\"vision_backbone\": \"resnet18\"", "\"vision_backbone\": \"resnet152\"", "vision_backbone 'resnet152'"),
            ("\"resize_shape\": null", "\"resize_shape\": [48, 48]", "resize_shape"),
        ] {
            let dir = try copyFixture("lerobot_image_1cam")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try editConfig(dir) { $0.replacingOccurrences(of: find, with: replace) }
            let e = loadError(dir)
            #expect(e?.code == .unsupportedCheckpoint, "\(mention): \(String(describing: e))")
            #expect(e?.description.contains(mention) == true, "\(String(describing: e))")
        }
        // A camera added to a state-only checkpoint: its encoder's weights are not there.
        let dir = try copyFixture("lerobot_film")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try editConfig(dir) {
            $0.replacingOccurrences(of: "\"input_features\": {", with: "\"input_features\": {\n        \"observation.images.top\": {\"type\": \"VISUAL\", \"shape\": [3, 96, 96]},")
        }
        let e = loadError(dir)
        #expect(e?.code == .shapeMismatch && e?.description.contains("config and weights disagree") == true, "\(String(describing: e))")
    }

    @Test func badConfigsGetClearErrors() throws {
        let cases: [(String, String, ReflexError.Code, String)] = [
            ("\"n_groups\": 4,", "\"n_groups\": 4,\n    \"use_magic\": true,", .unsupportedCheckpoint, "use_magic"),
            ("\"horizon\": 16,", "\"horizon\": 12,", .invalidValue, "horizon"),
            ("\"n_action_steps\": 8,", "\"n_action_steps\": 16,", .invalidValue, "n_action_steps"),
            ("\"noise_scheduler_type\": \"DDIM\"", "\"noise_scheduler_type\": \"PNDM\"", .invalidValue, "noise_scheduler_type"),
            // Config and weights disagree: a wider deepest level than the weights hold.
            ("        16\n    ],", "        32\n    ],", .shapeMismatch, "config and weights disagree"),
            ("\"kernel_size\": 5,", "\"kernel_size\": 3,", .shapeMismatch, "config and weights disagree"),
        ]
        for (find, replace, code, mention) in cases {
            let dir = try copyFixture("lerobot_film")
            let original = try String(contentsOfFile: dir + "/config.json", encoding: .utf8)
            #expect(original.contains(find), "fixture config has no '\(find)'")
            try editConfig(dir) { $0.replacingOccurrences(of: find, with: replace) }
            let e = loadError(dir)
            #expect(e?.code == code, "\(replace): got \(String(describing: e))")
            #expect(e?.description.contains(mention) == true, "\(replace): \(String(describing: e))")
        }
    }

    @Test func unsupportedNormalizationIsNamed() throws {
        let dir = try copyFixture("lerobot_film")
        let path = dir + "/policy_preprocessor.json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("\"STATE\": \"MIN_MAX\""))
        try text.replacingOccurrences(of: "\"STATE\": \"MIN_MAX\"", with: "\"STATE\": \"QUANTILES\"")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let e = loadError(dir)
        #expect(e?.code == .unsupportedCheckpoint)
        #expect(e?.description.contains("QUANTILES") == true && e?.description.contains("observation.state") == true)
    }

    @Test func missingTensorIsNamed() throws {
        let dir = try copyFixture("lerobot_film")
        let file = try SafetensorsFile(path: dir + "/model.safetensors")
        let drop = "diffusion.unet.mid_modules.1.conv2.block.0.weight"
        let kept = try file.names.filter { $0 != drop }.map { (name: $0, tensor: try file.tensor($0).copy()) }
        try writeSafetensors(kept, to: dir + "/model.safetensors")
        let e = loadError(dir)
        #expect(e?.code == .safetensorsMissingTensor)
        #expect(e?.description.contains(drop) == true)
    }
}

@Suite struct LeRobotExecutionTests {
    /// RTC by replacement on LeRobot's U-Net: the frozen prefix is the previous chunk's, shifted to this one's time.
    @Test func replacementFreezesThePrefixOnTheUnet() throws {
        let name = fixtureNames[0]
        let policy = try LeRobotDiffusionPolicy(directory: fixtures + "/" + name)
        let c = policy.config
        var gen = RandomGenerator(seed: 1)
        let history = Tensor(zeros: [c.nObsSteps * c.observationSize])
        gen.fillUniform(history, low: -0.5, high: 0.5)
        let n = c.horizon * c.actionSize
        var previous = [Float](repeating: 0, count: n), next = previous
        _ = policy.predictChunk(history: history.data, context: ChunkContext(stepsExecuted: 0), output: &previous,
                                generator: &gen)
        let context = ChunkContext(stepsExecuted: 1, stepsSinceObservation: 2, delay: 1, strategy: .rtcReplace)
        _ = policy.predictChunk(history: history.data, context: context, output: &next, generator: &gen)
        let frozen = (c.nObsSteps - 1 + 1) * c.actionSize
        #expect(Array(next[0 ..< frozen]) == Array(previous[2 * c.actionSize ..< 2 * c.actionSize + frozen]))
    }
}
