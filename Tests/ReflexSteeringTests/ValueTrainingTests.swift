import Foundation
import ReflexCore
import ReflexNN
import ReflexPolicy
@testable import ReflexRL
import ReflexSteering
import Testing

/// `reflex train-value`'s library half: either learner, from directories on disk to a value directory V-GPS loads.
@Suite struct ValueTrainingTests {
    /// A one-dimensional policy directory and a demonstrations directory of short episodes.
    func inputs() throws -> (policy: String, data: String) {
        let config = PolicyConfig(kind: .diffusion, observationSize: 1, actionSize: 1, nObsSteps: 2, horizon: 4, nActionSteps: 2,
                                  normalization: .init(observation: .identity(size: 1), action: .identity(size: 1)),
                                  network: .init(hiddenSizes: [8]), scheduler: NoiseScheduler.Config(), sampler: .ddim(steps: 2, eta: 0))
        var gen = RandomGenerator(seed: 4)
        let policy = NSTemporaryDirectory() + "value-policy-\(UUID().uuidString)"
        try PolicyDirectory.save(config: config, network: MLP(config: PolicyDirectory.networkConfig(for: config), generator: &gen), to: policy)
        let episodes = (0 ..< 6).map { e in
            Demonstrations.Episode(observations: (0 ..< 5).map { Float($0 + e) / 10 }, actions: (0 ..< 5).map { Float($0) / 5 },
                                   length: 5, success: e % 2 == 0)
        }
        let data = NSTemporaryDirectory() + "value-data-\(UUID().uuidString)"
        try Demonstrations(observationSize: 1, actionSize: 1, episodes: episodes)
            .save(to: data, metadata: .init(robot: "test", task: "test", controlHz: 10, observationNames: ["x"], actionNames: ["u"]))
        return (policy, data)
    }

    @Test(arguments: ValueAlgorithm.allCases) func trainsAndWritesAValueFunctionVGPSLoads(algorithm: ValueAlgorithm) throws {
        let (policy, data) = try inputs()
        var training = ValueTraining()
        (training.algorithm, training.steps, training.batchSize, training.hiddenSizes, training.gamma) = (algorithm, 30, 8, [16], 0.98)
        if algorithm == .calQL { training.sampledActions = 2 }
        let out = NSTemporaryDirectory() + "value-\(UUID().uuidString)"
        let outcome = try training.run(policyDirectory: policy, dataDirectories: [data], out: out)
        #expect(outcome.transitions == 30 && outcome.stateSize == 2 && outcome.actionSize == 2)
        #expect(outcome.criticLoss.isFinite && outcome.valueLoss.isFinite)
        #expect((outcome.boundRate != nil) == (algorithm == .calQL))
        let config = try ValueFunctionDirectory.readConfig(out)
        #expect(config.algorithm == algorithm && config.gamma == 0.98 && config.hiddenSizes == [16])
        let reranker = try ValueFunctionDirectory.load(out, maxCandidates: 4, selection: .softmax(beta: 1))
        var gen = RandomGenerator(seed: 1)
        let pick = reranker.select(state: [0, 0.1], candidates: [0, 0.2, 0.4, 0.6, -0.2, 0, 1, 1], stride: 2, count: 4, generator: &gen)
        #expect((0 ..< 4).contains(pick))
    }

    /// Cal-QL's reference values: the discounted return of a successful episode from each step, and −1/(1 − γ) on
    /// every step of a failed one (the official `calc_return_to_go`; the sum cut at the time limit is no lower bound).
    @Test func monteCarloReturnsAreTheDataReturnsAndFailingForeverOnFailures() throws {
        let (policy, data) = try inputs()
        let gamma: Float = 0.98
        let set = try Demonstrations.load(directory: data).demonstrations
        let transitions = try ValueData.transitions(from: [set], policy: try PolicyDirectory.readConfig(policy), gamma: gamma)
        #expect(transitions.count == 30)
        for e in 0 ..< 6 {
            for i in 0 ..< 5 {
                let got = transitions.returns.data[e * 5 + i]
                // Rewards −1 on steps 0–3 and 0 on step 4 of a success: the return from step i is −Σ_{t<4−i} γ^t.
                let want: Float = e % 2 == 0 ? -(1 - powf(gamma, Float(4 - i))) / (1 - gamma) : -1 / (1 - gamma)
                #expect(abs(got - want) < 1e-4, "episode \(e) step \(i): \(got) vs \(want)")
            }
        }
    }

    @Test func optionsTheChosenLearnerDoesNotHaveAreRefused() {
        var iql = ValueTraining()
        iql.conservativeWeight = 5
        #expect(throws: ReflexError.self) { try iql.validate() }
        var calQL = ValueTraining()
        calQL.algorithm = .calQL
        calQL.expectile = 0.9
        #expect(throws: ReflexError.self) { try calQL.validate() }
        calQL.expectile = nil
        calQL.sampledActions = 0
        #expect(throws: ReflexError.self) { try calQL.validate() }
        calQL.sampledActions = 4
        #expect(throws: Never.self) { try calQL.validate() }
    }
}
