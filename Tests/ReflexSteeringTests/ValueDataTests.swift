import ReflexCore
import ReflexPolicy
@testable import ReflexRL
import ReflexSteering
import Testing

@Suite struct ValueDataTests {
    /// Chunk transitions carry V-GPS's sparse reward (−1 per step, 0 on success), γ^k discounts, a terminal at the
    /// successful end, bootstrapping after a time-out, and the Monte-Carlo return from each step.
    @Test func chunkTransitionsFollowTheSparseReward() throws {
        let config = PolicyConfig(kind: .diffusion, observationSize: 1, actionSize: 1, nObsSteps: 2, horizon: 4, nActionSteps: 2,
                                  normalization: .init(observation: .identity(size: 1), action: .identity(size: 1)),
                                  network: .init(hiddenSizes: [8]), scheduler: NoiseScheduler.Config(), sampler: .ddpm(steps: nil))
        let L = 5
        let ok = Demonstrations.Episode(observations: (0 ..< L).map(Float.init), actions: (0 ..< L).map { Float($0) + 10 },
                                        length: L, success: true)
        let failed = Demonstrations.Episode(observations: (0 ..< 3).map(Float.init), actions: [1, 2, 3], length: 3, success: false)
        let demos = try Demonstrations(observationSize: 1, actionSize: 1, episodes: [ok, failed])
        let gamma: Float = 0.9
        let d = try ValueData.transitions(from: [demos], policy: config, gamma: gamma)
        #expect(d.count == L + 3 && d.stateSize == 2 && d.actionSize == 2)
        // Step 1 of the successful episode: state (o0, o1), executed actions a1, a2, next state (o2, o3).
        #expect([d.states.data[2], d.states.data[3]] == [0, 1])
        #expect([d.actions.data[2], d.actions.data[3]] == [11, 12])
        #expect([d.nextStates.data[2], d.nextStates.data[3]] == [2, 3])
        #expect(abs(d.rewards.data[1] - (-1 - gamma)) < 1e-6)
        #expect(abs(d.discounts.data[1] - gamma * gamma) < 1e-6)
        // Step 3 covers steps 3 and 4; step 4 completes the task: reward −1 + 0, terminal.
        #expect(abs(d.rewards.data[3] - -1) < 1e-6 && d.discounts.data[3] == 0)
        #expect(d.rewards.data[4] == 0 && d.discounts.data[4] == 0)
        // Monte-Carlo return from step 0: −(1 + γ + γ² + γ³) + 0.
        #expect(abs(d.returns.data[0] - -(1 + gamma + gamma * gamma + gamma * gamma * gamma)) < 1e-5)
        // The failed episode's last step bootstraps (one step left: γ¹).
        #expect(abs(d.discounts.data[L + 2] - gamma) < 1e-6 && d.rewards.data[L + 2] == -1)
    }
}
