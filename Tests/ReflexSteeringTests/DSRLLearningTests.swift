import ReflexCore
import ReflexNN
import ReflexPolicy
import ReflexRL
import ReflexSteering
import Testing

/// DSRL-SAC must still learn: on `Line` with a frozen random diffusion policy, SAC over the policy's input noise
/// (Wagenmaker et al. 2025) raises the success rate well above what the policy reaches from Gaussian noise. A
/// regression that stops DSRL learning (a sign, a scale, a broken reward) fails here in seconds.
@Suite struct DSRLLearningTests {
    static let episodes = 100

    /// The frozen policy's success rate with its own N(0, I) noise, on the evaluation seeds the trainer uses.
    func baseSuccess(_ env: LatentNoiseEnvironment<Line>) -> Double {
        var env = env
        var gen = RandomGenerator(seed: 99)
        var obs = [Float](repeating: 0, count: env.observationSpace.size)
        var w = [Float](repeating: 0, count: env.actionSpace.size)
        var successes = 0
        for e in 0 ..< Self.episodes {
            env.reset(seed: OffPolicyTrainer<LatentNoiseEnvironment<Line>>.evaluationSeedBase + UInt64(e), observation: &obs)
            var succeeded = false
            for _ in 0 ..< env.maxEpisodeSteps {
                for j in 0 ..< w.count { w[j] = Float(gen.gaussian()) }
                let out = env.step(w, observation: &obs)
                succeeded = succeeded || out.success
                if out.done { break }
            }
            if succeeded { successes += 1 }
        }
        return Double(successes) / Double(Self.episodes)
    }

    @Test func dsrlSACRaisesSuccessOverTheFrozenPolicy() throws {
        let env = try LatentNoiseEnvironment(base: Line(), policy: try randomPolicy(), magnitude: 1.5, ddimSteps: 5)
        let base = baseSuccess(env)
        let config = OffPolicyConfig(actorHiddenSizes: [64, 64], criticHiddenSizes: [64, 64], batchSize: 64)
        let learner = try OffPolicyAlgorithm.sac.makeLearner(observationSize: env.observationSpace.size,
                                                             actionSize: env.actionSpace.size, config: config, seed: 1)
        let trainer = try OffPolicyTrainer(environment: env, evaluationEnvironment: env, learner: learner,
                                           config: .init(totalSteps: 1500, warmupSteps: 200, evaluationInterval: 0),
                                           seed: 1)
        while !trainer.finished { trainer.advance() }
        let steered = trainer.evaluate(episodes: Self.episodes).successRate
        #expect(steered >= base + 0.3, "DSRL-SAC \(steered) against the frozen policy's \(base)")
    }
}
