import Foundation
import ReflexCore
import ReflexNN
import ReflexPolicy
import ReflexSteering
import Testing

/// policy.yaml's `steering:` section switches steering on by default; command-line settings override it field by field.
@Suite struct SteeringPipelineTests {
    func savedPolicy(steering: SteeringDefaults?) throws -> String {
        var config = PolicyConfig(kind: .diffusion, observationSize: 1, actionSize: 1, nObsSteps: 2, horizon: 4, nActionSteps: 3,
                                  normalization: .init(observation: .identity(size: 1), action: .identity(size: 1)),
                                  network: .init(hiddenSizes: [16]), scheduler: NoiseScheduler.Config(), sampler: .ddim(steps: 5, eta: 0))
        config.steering = steering
        var gen = RandomGenerator(seed: 2)
        let dir = NSTemporaryDirectory() + "steered-\(UUID().uuidString)"
        try PolicyDirectory.save(config: config, network: MLP(config: PolicyDirectory.networkConfig(for: config), generator: &gen), to: dir)
        return dir
    }

    @Test func policyYamlSteeringRoundTripsAndResolvesAgainstTheDirectory() throws {
        let dir = try savedPolicy(steering: SteeringDefaults(value: "values/lift", k: 4, beta: 0.5, dsrlActor: "/runs/dsrl"))
        let config = try PolicyDirectory.readConfig(dir)
        #expect(config.steering == SteeringDefaults(value: "values/lift", k: 4, beta: 0.5, dsrlActor: "/runs/dsrl"))
        let defaults = try #require(config.steering).resolved(against: dir)
        #expect(defaults.value == dir + "/values/lift" && defaults.dsrlActor == "/runs/dsrl" && defaults.candidates == 4)
        let merged = defaults.overridden(by: SteeringDefaults(k: 8))
        #expect(merged.k == 8 && merged.beta == 0.5 && merged.value == dir + "/values/lift")
        // The value function named by policy.yaml does not exist: the pipeline says which file is missing.
        #expect(throws: ReflexError.self) { try SteeringPipeline(directory: dir) }
    }

    /// V-GPS's selection: softmax (the paper's, β = 1 by default) beside argmax; a β that means nothing is refused.
    @Test func selectionAndTemperatureAreCheckedAndResolved() throws {
        func refused(_ s: SteeringDefaults) -> Bool { (try? s.validate(for: .diffusion)) == nil }
        #expect(SteeringDefaults(value: "v").softmaxTemperature == nil)
        #expect(SteeringDefaults(value: "v", selection: .softmax).softmaxTemperature == 1)
        #expect(SteeringDefaults(value: "v", beta: 0.5).softmaxTemperature == 0.5)
        #expect(SteeringDefaults(value: "v", beta: 0.5).resolvedSelection == .softmax)
        #expect(!refused(SteeringDefaults(value: "v", selection: .softmax, beta: 2)))
        #expect(!refused(SteeringDefaults(value: "v", selection: .argmax)))
        for beta: Float in [0, -1, .infinity, .nan] { #expect(refused(SteeringDefaults(value: "v", beta: beta)), "β \(beta)") }
        #expect(refused(SteeringDefaults(value: "v", selection: .argmax, beta: 1)))
        #expect(refused(SteeringDefaults(selection: .softmax)))
        #expect(refused(SteeringDefaults(beta: 1)))
        // Choosing the argmax over a file that set β drops the file's β instead of refusing the merge.
        let file = SteeringDefaults(value: "v", selection: .softmax, beta: 2)
        let merged = file.overridden(by: SteeringDefaults(selection: .argmax))
        #expect(merged.resolvedSelection == .argmax && merged.beta == nil && !refused(merged))
        #expect(file.overridden(by: SteeringDefaults(beta: 0.5)).softmaxTemperature == 0.5)
        #expect(CandidateSelection(SteeringDefaults(value: "v", selection: .softmax)) == .softmax(beta: 1))
        #expect(CandidateSelection(SteeringDefaults(value: "v")) == .argmax)
    }

    @Test func unsteeredPolicyKeepsItsSamplerUnlessOverridden() throws {
        let dir = try savedPolicy(steering: nil)
        let plain = try SteeringPipeline(directory: dir)
        #expect(plain.label == "ddim:5" && plain.steering.candidates == 1)
        #expect(try plain.makePolicy() is DiffusionPolicy)
        let fast = try SteeringPipeline(directory: dir, sampler: .ddim(steps: 2, eta: 0))
        #expect(fast.label == "ddim:2")
        #expect((try fast.makePolicy() as? DiffusionPolicy)?.sampler == .ddim(steps: 2, eta: 0))
        #expect(throws: ReflexError.self) { try SteeringPipeline(directory: dir, overrides: SteeringDefaults(value: "v", k: 0)) }
    }

    /// A LeRobot diffusion checkpoint (what `reflex serve` loads through this pipeline): the same chunks as
    /// LeRobotDiffusionPolicy built directly, a sampler override applied, Reflex-only steering refused.
    @Test func leRobotCheckpointRunsThroughThePipeline() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ReflexPolicyTests/Fixtures").path
        let film = fixtures + "/lerobot_film"
        let pipeline = try SteeringPipeline(directory: film)
        #expect(pipeline.label == "ddim:10" && pipeline.config.observationSize == 7 && pipeline.config.actionSize == 2)
        #expect(pipeline.cameras.isEmpty)
        let policy = try #require(try pipeline.makePolicy() as? LeRobotDiffusionPolicy)
        let direct = try LeRobotDiffusionPolicy(directory: film)
        let c = pipeline.config
        let history = Tensor(shape: [c.nObsSteps, c.observationSize], repeating: 0.3)
        let a = Tensor(zeros: [c.horizon, c.actionSize]), b = Tensor(zeros: [c.horizon, c.actionSize])
        var g1 = RandomGenerator(seed: 5), g2 = RandomGenerator(seed: 5)
        _ = policy.predictChunk(history: history.data, stepsExecuted: 0, output: a.data, generator: &g1)
        _ = direct.predictChunk(history: history.data, stepsExecuted: 0, output: b.data, generator: &g2)
        #expect(a.scalars == b.scalars)  // the same code on the same weights: bit-identical
        let fast = try SteeringPipeline(directory: film, sampler: .ddim(steps: 2, eta: 0))
        #expect((try fast.makePolicy() as? LeRobotDiffusionPolicy)?.diffusion.sampler == .ddim(steps: 2, eta: 0))
        #expect(throws: ReflexError.self) { try SteeringPipeline(directory: film, overrides: SteeringDefaults(value: "v", k: 2)) }
    }
}
