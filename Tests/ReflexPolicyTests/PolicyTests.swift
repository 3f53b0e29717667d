import AllocationCounter
import Foundation
import ReflexCore
import ReflexNN
import Testing

@testable import ReflexPolicy

@Suite struct PolicyConfigTests {
    @Test func yamlRoundTripIsExact() throws {
        var config = try pointMassConfig(kind: .diffusion, sampler: .rti(schedule: [2, 1, 0], variant: .official),
                                         gripper: .init(dims: [2], handling: .scale, factor: 10))
        config.normalization = .init(observation: try .minMax(min: [-1, -1, -1, -1], max: [1, 1, 0.99, 1.0000001]),
                                     action: try .meanStd(mean: [0.1, 0.2, 0.3], std: [1, 2, 3]))
        config.notes = ["task": "point mass: test", "demos": "64"]
        config.execution = .rtc(beta: 3)
        let text = try YAMLEncoder().encode(config)
        let back = try YAMLDecoder().decode(PolicyConfig.self, from: text, file: "policy.yaml")
        #expect(back == config, "\(text)")
    }

    @Test func samplerSpecsParseAndRejectNonsense() throws {
        #expect(try SamplerSpec(parsing: "ddim:10") == .ddim(steps: 10, eta: 0))
        #expect(try SamplerSpec(parsing: "rti-renoise:3,1,0") == .rti(schedule: [3, 1, 0], variant: .renoise))
        #expect(try SamplerSpec(parsing: "ddpm") == .ddpm(steps: nil))
        #expect(try SamplerSpec(parsing: "rti:2,1,0/ddim:5") == .rti(schedule: [2, 1, 0], variant: .official, first: .ddim(steps: 5)))
        #expect(try SamplerSpec(parsing: "rti-renoise:1,0/ddpm") == .rti(schedule: [1, 0], variant: .renoise, first: .ddpm))
        for text in ["rti:2,1,0/ddim:5", "rti-renoise:4,0/ddim:12", "rti:0", "ddim:3", "ddpm:10"] {
            #expect(try SamplerSpec(parsing: text).description == text)
        }
        for bad in ["ddim", "ddim:0", "rti:0,1", "rti:a", "fast", "ddim:5:-1", "ddim:3/ddim:2", "rti:2,1,0/ddim",
                    "rti:2,1,0/ddim:0", "rti:2,1,0/ddim:2:0.5", "rti:2,1,0/fast", "rti:2,1,0/"] {
            #expect(throws: ReflexError.self, "\(bad)") { try SamplerSpec(parsing: bad) }
        }
        #expect(throws: ReflexError.self) { try SamplerSpec.rti(schedule: [2, 1, 0], variant: .official, first: .ddim(steps: 101)).validate(trainTimesteps: 100) }
        try SamplerSpec.rti(schedule: [2, 1, 0], variant: .official, first: .ddim(steps: 100)).validate(trainTimesteps: 100)
    }

    @Test func horizonRulesAreChecked() throws {
        var config = try pointMassConfig(kind: .diffusion)
        config.nActionSteps = 8 // > horizon − n_obs_steps + 1 = 7
        #expect(throws: ReflexError.self) { try config.validate() }
        config.nActionSteps = 7
        try config.validate()
        config.gripper = .init(dims: [3])
        #expect(throws: ReflexError.self) { try config.validate() }
    }
}

/// Trains the small policies once for the suite (a few seconds in release).
final class TrainedPointMass: @unchecked Sendable {
    static let shared = TrainedPointMass()
    let demos: Demonstrations
    let diffusion: PolicyTrainer
    let bc: PolicyTrainer

    init() {
        demos = try! PointMass.demonstrations(episodes: 80, seed: 1)
        let training = TrainingConfig(steps: 4000, batchSize: 128, learningRate: 1e-3, warmupSteps: 100, emaDecay: 0.99, seed: 3)
        diffusion = try! PolicyTrainer(config: pointMassConfig(kind: .diffusion), data: demos, training: training)
        bc = try! PolicyTrainer(config: pointMassConfig(kind: .bc), data: demos, training: training)
        for _ in 0 ..< training.steps {
            diffusion.trainStep()
            bc.trainStep()
        }
    }
}

@Suite(.serialized) struct PolicyTrainingTests {
    @Test func expertDemonstrationsSucceed() throws {
        let d = TrainedPointMass.shared.demos
        #expect(d.episodes.allSatisfy { $0.success })
    }

    @Test func diffusionAndBCPoliciesLearnTheTask() throws {
        let t = TrainedPointMass.shared
        let ddpm = try t.diffusion.policy()
        let r = evaluate(ddpm, episodes: 30, seed: 1)
        #expect(r.success >= 0.9, "diffusion DDPM success \(r.success)")
        #expect(r.evalsPerCall == 100)
        let bc = evaluate(try t.bc.policy(), episodes: 30, seed: 1)
        #expect(bc.success >= 0.8, "BC success \(bc.success)")
    }

    @Test func rtiWarmStartsWithThreeEvaluationsAndResetsEachEpisode() throws {
        let t = TrainedPointMass.shared
        let policy = try #require(try t.diffusion.policy() as? DiffusionPolicy)
        policy.sampler = .rti(schedule: [2, 1, 0], variant: .official)
        let runner = PolicyRunner(policy: policy, actionSteps: 1)
        var gen = RandomGenerator(seed: 9)
        var env = PointMass()
        var o = env.reset(seed: 5)
        var a = [Float](repeating: 0, count: 3)
        let first = try #require(runner.step(observation: o, action: &a, generator: &gen))
        #expect(first == InferenceInfo(networkEvaluations: 100, warmStarted: false))
        _ = env.step(a, observation: &o)
        let second = try #require(runner.step(observation: o, action: &a, generator: &gen))
        #expect(second == InferenceInfo(networkEvaluations: 3, warmStarted: true))
        runner.reset()
        #expect(!policy.hasWarmStart)
        let afterReset = try #require(runner.step(observation: o, action: &a, generator: &gen))
        #expect(afterReset.networkEvaluations == 100)
        // Over whole episodes: one full chain per episode, three evaluations per call after it.
        let r = evaluate(policy, episodes: 20, seed: 1, actionSteps: 1)
        #expect(r.evalsPerCall < 10, "\(r.evalsPerCall)")
        #expect(r.success >= 0.3, "RTI success \(r.success)")
    }

    @Test func rtiFirstChunkRunsItsOwnSamplerAndBoundsTheWorstCall() throws {
        let t = TrainedPointMass.shared
        let policy = try #require(try t.diffusion.policy() as? DiffusionPolicy)
        policy.sampler = try SamplerSpec(parsing: "rti:2,1,0/ddim:6")
        let runner = PolicyRunner(policy: policy, actionSteps: 1)
        var gen = RandomGenerator(seed: 9)
        var env = PointMass()
        var o = env.reset(seed: 5)
        var a = [Float](repeating: 0, count: 3)
        let first = try #require(runner.step(observation: o, action: &a, generator: &gen))
        #expect(first == InferenceInfo(networkEvaluations: 6, warmStarted: false))
        _ = env.step(a, observation: &o)
        let second = try #require(runner.step(observation: o, action: &a, generator: &gen))
        #expect(second == InferenceInfo(networkEvaluations: 3, warmStarted: true))
        let r = evaluate(policy, episodes: 20, seed: 1, actionSteps: 1)
        #expect(r.evalsPerCall > 3 && r.evalsPerCall < 4, "one 6-evaluation call per episode, then 3: \(r.evalsPerCall)")
        #expect(r.success >= 0.3, "RTI (first chunk DDIM:6) success \(r.success)")
    }

    @Test func rtiShiftsTheWarmStartByTheStepsExecuted() throws {
        // With a denoiser that predicts ε = 0, one DDPM step at t = 0 returns its input scaled by ≈ 1 (ᾱ₀ ≈ 1), so
        // the chunk RTI returns is the shifted warm start itself.
        final class Zero: Denoiser {
            let horizon = 8, actionSize = 3, conditionSize = 8, maxBatch = 1
            func predict(_ x: UnsafePointer<Float>, timestep t: Int, condition: UnsafePointer<Float>, conditionBatch: Int,
                         batch: Int, output: UnsafeMutablePointer<Float>) {
                output.update(repeating: 0, count: batch * 24)
            }
        }
        var config = try pointMassConfig(kind: .diffusion, sampler: .rti(schedule: [0], variant: .official),
                                         gripper: .init(dims: [2], handling: .clip, factor: 10, binarize: false))
        config.scheduler?.clipSample = false
        let policy = try DiffusionPolicy(config: config, denoiser: Zero())
        var gen = RandomGenerator(seed: 1)
        var first = [Float](repeating: 0, count: 24), second = first
        let history = [Float](repeating: 0, count: 8)
        _ = policy.predictChunk(history: history, stepsExecuted: 0, output: &first, generator: &gen) // full chain
        _ = policy.predictChunk(history: history, stepsExecuted: 3, output: &second, generator: &gen)
        for j in 0 ..< 8 {
            let src = min(j + 3, 7)
            for d in 0 ..< 2 {
                let (a, b) = (second[j * 3 + d], first[src * 3 + d])
                #expect(abs(a - b) <= 5e-4 * max(1, abs(b)), "row \(j) dim \(d): \(a) vs \(b)") // 1/√ᾱ₀ = 1.0003
            }
            // "clip": the stored gripper value was snapped to ±1/f.
            #expect(abs(abs(second[j * 3 + 2]) - 0.1) < 1e-3)
        }
    }

    /// The denoiser's inputs, call by call, and ε̂ = 0 out: what the sampler fed the network is then visible.
    final class RecordingZero: Denoiser {
        let horizon = 8, actionSize = 3, conditionSize = 8, maxBatch = 2
        var inputs: [(t: Int, x: [Float])] = []
        func predict(_ x: UnsafePointer<Float>, timestep t: Int, condition: UnsafePointer<Float>, conditionBatch: Int,
                     batch: Int, output: UnsafeMutablePointer<Float>) {
            inputs.append((t, Array(UnsafeBufferPointer(start: x, count: batch * 24))))
            output.update(repeating: 0, count: batch * 24)
        }
    }

    @Test func rtiRenoiseFeedsTheWarmStartThroughQAtK0() throws {
        // Two policies with the same (recording) network and the same first chunk: the official one feeds the
        // shifted chunk in as x_k0, the re-noised one √ᾱ_k0 · shifted + √(1−ᾱ_k0) · ε with ε the generator's next
        // draws (one per candidate).
        func make(_ variant: RTIVariant) throws -> (DiffusionPolicy, RecordingZero) {
            var config = try pointMassConfig(kind: .diffusion, sampler: .rti(schedule: [30, 10, 0], variant: variant))
            config.scheduler?.clipSample = false
            let d = RecordingZero()
            return (try DiffusionPolicy(config: config, denoiser: d), d)
        }
        let (official, dOff) = try make(.official), (renoise, dRe) = try make(.renoise)
        let history = [Float](repeating: 0.2, count: 8)
        var out = [Float](repeating: 0, count: 24)
        var g1 = RandomGenerator(seed: 3), g2 = RandomGenerator(seed: 3)
        _ = official.predictChunk(history: history, stepsExecuted: 0, output: &out, generator: &g1)
        _ = renoise.predictChunk(history: history, stepsExecuted: 0, output: &out, generator: &g2)
        #expect(dOff.inputs.count == 100 && dRe.inputs.count == 100)
        dOff.inputs.removeAll()
        dRe.inputs.removeAll()
        _ = official.sampleCandidates(history: history, count: 2, stepsExecuted: 2, generator: &g1)
        var epsilon = [Float](repeating: 0, count: 48)
        var copy = g2
        copy.fillGaussian(&epsilon, count: 48)
        let info = renoise.sampleCandidates(history: history, count: 2, stepsExecuted: 2, generator: &g2)
        #expect(info == InferenceInfo(networkEvaluations: 3, warmStarted: true))
        #expect(dOff.inputs.map(\.t) == [30, 10, 0] && dRe.inputs.map(\.t) == [30, 10, 0])
        let shifted = dOff.inputs[0].x, fed = dRe.inputs[0].x
        let ab = renoise.scheduler.alphaBar(30)
        var worst: Float = 0
        for i in 0 ..< 48 { worst = max(worst, abs(fed[i] - (ab.squareRoot() * shifted[i] + (1 - ab).squareRoot() * epsilon[i]))) }
        #expect(worst < 1e-6, "re-noised input off q(x_k0 | x0) by \(worst)")
        #expect(Array(shifted[0 ..< 24]) == Array(shifted[24 ..< 48]), "both candidates start from the same warm start")
        #expect(Array(fed[0 ..< 24]) != Array(fed[24 ..< 48]), "each candidate gets its own noise")
        #expect(fed != shifted)
    }

    @Test func gripperScaleDividesInTheNetworkSpaceAndMultipliesBackOut() throws {
        // ActionSpace: raw → network divides the gripper (after normalization) by f; network → raw multiplies back.
        var config = try pointMassConfig(kind: .diffusion, sampler: .rti(schedule: [0], variant: .official),
                                         gripper: .init(dims: [2], handling: .scale, factor: 10, binarize: false))
        config.scheduler?.clipSample = false
        let space = ActionSpace(config: config)
        var a: [Float] = [0.5, -0.25, 1, 0.1, 0.2, -1]
        space.toNetwork(&a, rows: 2)
        #expect(a == [0.5, -0.25, 0.1, 0.1, 0.2, -0.1])
        space.toRaw(&a, rows: 2)
        #expect(a == [0.5, -0.25, 1, 0.1, 0.2, -1])
        // The RTI warm start stays in network space: the next call's input holds the gripper divided by f, while
        // the executed (raw) chunk has it multiplied back.
        let d = RecordingZero()
        let policy = try DiffusionPolicy(config: config, denoiser: d)
        var gen = RandomGenerator(seed: 5)
        let history = [Float](repeating: 0, count: 8)
        var first = [Float](repeating: 0, count: 24)
        _ = policy.predictChunk(history: history, stepsExecuted: 0, output: &first, generator: &gen)
        d.inputs.removeAll()
        var second = first
        _ = policy.predictChunk(history: history, stepsExecuted: 0, output: &second, generator: &gen)
        let fed = try #require(d.inputs.first).x
        for j in 0 ..< 8 {
            #expect(abs(fed[j * 3 + 2] - first[j * 3 + 2] / 10) <= 1e-6 * max(1, abs(first[j * 3 + 2])), "row \(j)")
            #expect(abs(fed[j * 3] - first[j * 3]) <= 1e-6 * max(1, abs(first[j * 3])), "row \(j)")
        }
        // And training sees the same space: a BC policy trained with "scale" predicts the gripper in ±1/f inside
        // the network and executes ±1 (the expert's values) out of it.
        var bcConfig = try pointMassConfig(kind: .bc, gripper: .init(dims: [2], handling: .scale, factor: 10, binarize: false))
        bcConfig.network = .init(hiddenSizes: [64, 64], activation: .mish, layerNorm: true, timeEmbeddingSize: 64)
        let trainer = try PolicyTrainer(config: bcConfig, data: TrainedPointMass.shared.demos,
                                        training: .init(steps: 600, batchSize: 64, learningRate: 1e-3, warmupSteps: 50, seed: 1))
        for _ in 0 ..< 600 { trainer.trainStep() }
        let bc = try #require(try trainer.policy() as? BCPolicy)
        var rawGrippers: [Float] = [], netGrippers: [Float] = []
        var env = PointMass()
        let o = env.reset(seed: 77)
        let h = o + o
        var chunk = [Float](repeating: 0, count: 24)
        _ = bc.predictChunk(history: h, stepsExecuted: 0, output: &chunk, generator: &gen)
        var net = [Float](repeating: 0, count: 24)
        var cond = h
        bc.config.normalization.observation.normalize(&cond, rows: 2)
        bc.network.evaluate(cond, batch: 1, output: &net, workspace: MLPWorkspace(config: bc.network.config, maxBatch: 1))
        for j in 0 ..< 8 { rawGrippers.append(chunk[j * 3 + 2]); netGrippers.append(net[j * 3 + 2]) }
        // Trained on ±1/f, the network stays near it (±1 or ±10 had "scale" been skipped in training or on the way out).
        #expect(netGrippers.allSatisfy { abs($0) < 0.3 }, "network-space gripper \(netGrippers)")
        #expect(rawGrippers.allSatisfy { abs($0) < 3 }, "executed gripper \(rawGrippers)")
        for j in 0 ..< 8 { // the gripper's min-max range is [−1, 1], so raw = f · network value
            #expect(abs(rawGrippers[j] - 10 * netGrippers[j]) <= 1e-5, "row \(j)")
        }
    }

    @Test func savedPolicyReloadsToTheSameActions() throws {
        let t = TrainedPointMass.shared
        let dir = NSTemporaryDirectory() + "policy-" + UUID().uuidString
        try t.diffusion.save(to: dir)
        let loaded = try PolicyDirectory.load(dir)
        let original = try t.diffusion.policy()
        let history: [Float] = [0.1, 0.2, 0.5, -0.5, 0.12, 0.2, 0.5, -0.5]
        var out1 = [Float](repeating: 0, count: 24), out2 = out1
        var g1 = RandomGenerator(seed: 4), g2 = RandomGenerator(seed: 4)
        _ = original.predictChunk(history: history, stepsExecuted: 0, output: &out1, generator: &g1)
        _ = loaded.predictChunk(history: history, stepsExecuted: 0, output: &out2, generator: &g2)
        #expect(out1 == out2)
        #expect(loaded.config == t.diffusion.config)
    }

    @Test func trainingAndInferenceAllocateNothing() throws {
        let t = TrainedPointMass.shared
        let policy = try t.diffusion.policy()
        let history = [Float](repeating: 0.1, count: 8)
        var out = [Float](repeating: 0, count: 24)
        var gen = RandomGenerator(seed: 1)
        _ = policy.predictChunk(history: history, stepsExecuted: 0, output: &out, generator: &gen)
        let trainer = try PolicyTrainer(config: pointMassConfig(kind: .diffusion), data: t.demos,
                                        training: .init(steps: 100, batchSize: 32))
        trainer.trainStep()
        let before = rx_thread_allocation_count()
        for _ in 0 ..< 20 {
            _ = policy.predictChunk(history: history, stepsExecuted: 1, output: &out, generator: &gen)
            trainer.trainStep()
        }
        #expect(rx_thread_allocation_count() - before == 0)
    }
}

@Suite struct PolicyDirectoryErrorTests {
    func savedPolicy() throws -> String {
        let t = TrainedPointMass.shared
        let dir = NSTemporaryDirectory() + "policy-" + UUID().uuidString
        try t.bc.save(to: dir)
        return dir
    }

    @Test func missingDirectoryOrWeights() throws {
        #expect(reflexCode { _ = try PolicyDirectory.load("/nonexistent/policy") } == .fileNotFound)
        let dir = try savedPolicy()
        try FileManager.default.removeItem(atPath: dir + "/model.safetensors")
        #expect(reflexCode { _ = try PolicyDirectory.load(dir) } == .fileNotFound)
    }

    @Test func missingKeyNamesTheFileAndKey() throws {
        let dir = try savedPolicy()
        let path = dir + "/policy.yaml"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.split(separator: "\n").filter { !$0.hasPrefix("horizon:") }.joined(separator: "\n")
            .write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try PolicyDirectory.load(dir)
            Issue.record("loaded a policy.yaml without horizon")
        } catch let e as ReflexError {
            #expect(e.code == .yamlMissingKey)
            #expect(e.location.keyPath == "horizon")
            #expect(e.location.file == path)
        }
    }

    @Test func weightsOfTheWrongShape() throws {
        let dir = try savedPolicy()
        let path = dir + "/policy.yaml"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "hidden_sizes: [256, 256, 256]", with: "hidden_sizes: [256, 64, 256]")
            .write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try PolicyDirectory.load(dir)
            Issue.record("loaded weights into the wrong shape")
        } catch let e as ReflexError {
            #expect(e.code == .shapeMismatch)
            #expect(e.description.contains("network.layers.1.weight"))
        }
    }

    @Test func invalidHorizonsAreRefusedWithTheFile() throws {
        let dir = try savedPolicy()
        let path = dir + "/policy.yaml"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "n_action_steps: 4", with: "n_action_steps: 40")
            .write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try PolicyDirectory.load(dir)
            Issue.record("accepted n_action_steps beyond the horizon")
        } catch let e as ReflexError {
            #expect(e.code == .invalidValue)
            #expect(e.location.keyPath == "n_action_steps")
            #expect(e.location.file == path)
        }
    }
}

func reflexCode(_ body: () throws -> Void) -> ReflexError.Code? {
    do { try body() } catch let e as ReflexError { return e.code } catch { return nil }
    return nil
}

@Suite(.serialized) struct RTICalibrationTests {
    @Test func distancesShrinkWithK0AndTheChoiceIsTheSmallestWithinTolerance() throws {
        let t = TrainedPointMass.shared
        let policy = try #require(try t.diffusion.policy() as? DiffusionPolicy)
        let calibration = RTICalibration(candidates: [1, 4, 20], tolerance: 10, seed: 2)
        let r = try calibration.run(policy: policy, data: t.demos, episodes: 4, maxCalls: 8)
        #expect(r.rows.map(\.k0) == [1, 4, 20])
        #expect(r.rows.allSatisfy { $0.meanDistance.isFinite && $0.meanDistance >= 0 })
        #expect(r.rows[2].meanDistance < r.rows[0].meanDistance, "\(r.rows.map(\.meanDistance))")
        #expect(r.chosenK0 == 1) // every candidate is within a tolerance of 10
        let strict = RTICalibration(candidates: [1, 4, 20], tolerance: 0, seed: 2)
        #expect(try strict.run(policy: policy, data: t.demos, episodes: 2, maxCalls: 4).chosenK0 == nil)
        #expect(policy.sampler == t.diffusion.config.sampler) // restored
    }
}
