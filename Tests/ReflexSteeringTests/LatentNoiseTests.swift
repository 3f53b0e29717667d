import ReflexCore
import ReflexNN
import ReflexPolicy
import ReflexRL
import ReflexSteering
import Testing

/// A 1-D point that moves to the commanded position; success when it is within `tolerance` of `goal` (+1 and 0.1 by
/// default).
struct Line: Environment {
    var goal: Float = 1
    var tolerance: Float = 0.1
    var x: Float = 0
    var steps = 0
    let observationSpace = BoxSpace(unbounded: 1)
    let actionSpace = BoxSpace(symmetric: 2, size: 1)
    let maxEpisodeSteps = 12
    mutating func reset(seed: UInt64, observation: inout [Float]) {
        var g = RandomGenerator(seed: seed)
        x = Float(g.uniform(-1, 0))
        steps = 0
        observation[0] = x
    }
    mutating func step(_ action: [Float], observation: inout [Float]) -> StepOutcome {
        x = action[0]
        steps += 1
        observation[0] = x
        let success = abs(x - goal) < tolerance
        return StepOutcome(reward: Double(-abs(x - goal)), terminated: false, truncated: steps >= maxEpisodeSteps, success: success)
    }
}

/// Succeeds on base step `successStep` whatever the action (0: never), for checking how rewards are assigned.
private struct Countdown: Environment {
    var successStep: Int
    var steps = 0
    let observationSpace = BoxSpace(unbounded: 1)
    let actionSpace = BoxSpace(symmetric: 2, size: 1)
    let maxEpisodeSteps = 12
    mutating func reset(seed: UInt64, observation: inout [Float]) { steps = 0; observation[0] = 0 }
    mutating func step(_ action: [Float], observation: inout [Float]) -> StepOutcome {
        steps += 1
        observation[0] = Float(steps)
        return StepOutcome(reward: 5, terminated: false, truncated: steps >= maxEpisodeSteps, success: steps == successStep)
    }
}

/// A tiny untrained diffusion policy on `Line` (1 → 1, H 4, 3 executed actions), for up to `maxBatch` chunks per pass.
func randomPolicy(maxBatch: Int = 1) throws -> DiffusionPolicy {
    let config = PolicyConfig(kind: .diffusion, observationSize: 1, actionSize: 1, nObsSteps: 2, horizon: 4, nActionSteps: 3,
                              normalization: .init(observation: .identity(size: 1), action: .identity(size: 1)),
                              network: .init(hiddenSizes: [32, 32]), scheduler: NoiseScheduler.Config(), sampler: .ddpm(steps: nil))
    var gen = RandomGenerator(seed: 1)
    let mlp = MLP(config: PolicyDirectory.networkConfig(for: config), generator: &gen)
    return try DiffusionPolicy(config: config,
                               denoiser: MLPDenoiser(config: config.network, network: mlp, horizon: 4, actionSize: 1, conditionSize: 2,
                                                      trainTimesteps: 100, maxBatch: maxBatch))
}

@Suite struct LatentNoiseEnvironmentTests {
    /// The frozen policy is a fixed map w ↦ chunk (DDIM at η = 0): the same noise gives the same step, different
    /// noise different actions; one latent step executes n_action_steps base steps; episodes are counted in chunks.
    @Test func noiseIsADeterministicActionOfTheWrappedTask() throws {
        var env = try LatentNoiseEnvironment(base: Line(), policy: try randomPolicy(), magnitude: 1.5, ddimSteps: 5, rewardMode: .task)
        #expect(env.actionSpace.size == 4 && env.actionSpace.high[0] == 1.5)
        #expect(env.observationSpace.size == 2 && env.maxEpisodeSteps == 4)
        var obs = [Float](repeating: 0, count: 2)
        let w: [Float] = [0.3, -1.2, 0.7, 1.1], w2: [Float] = [-1.4, 0.2, -0.5, 0.9]
        env.reset(seed: 7, observation: &obs)
        let start = obs
        let a = env.step(w, observation: &obs)
        let afterA = obs
        env.reset(seed: 7, observation: &obs)
        #expect(obs == start)
        let b = env.step(w, observation: &obs)
        #expect(a == b && obs == afterA)
        env.reset(seed: 7, observation: &obs)
        _ = env.step(w2, observation: &obs)
        #expect(obs != afterA)
        // The whole episode: 12 base steps in chunks of 3 → truncated on the 4th latent step.
        env.reset(seed: 7, observation: &obs)
        var latentSteps = 0
        while true {
            latentSteps += 1
            if env.step(w, observation: &obs).done { break }
        }
        #expect(latentSteps == 4)
    }

    /// DSRL's sparse reward: −1 per chunk until the task succeeds, 0 on the succeeding chunk, which ends the episode;
    /// a time limit truncates (bootstrapped), it does not terminate.
    @Test func sparseRewardIsALivingCostUntilSuccess() throws {
        let w: [Float] = [0.3, -1.2, 0.7, 1.1]
        var obs = [Float](repeating: 0, count: 2)
        var env = try LatentNoiseEnvironment(base: Countdown(successStep: 5), policy: try randomPolicy(), magnitude: 1.5, ddimSteps: 3)
        env.reset(seed: 0, observation: &obs)
        let first = env.step(w, observation: &obs)
        #expect(first.reward == -1 && !first.done && !first.success)
        let second = env.step(w, observation: &obs) // base steps 4, 5: succeeds on step 5
        #expect(second.reward == 0 && second.terminated && second.success)
        var never = try LatentNoiseEnvironment(base: Countdown(successStep: 0), policy: try randomPolicy(), magnitude: 1.5, ddimSteps: 3)
        never.reset(seed: 0, observation: &obs)
        var rewards: [Double] = []
        var last = StepOutcome(reward: 0, terminated: false, truncated: false)
        while !last.done { last = never.step(w, observation: &obs); rewards.append(last.reward) }
        #expect(rewards == [-1, -1, -1, -1] && last.truncated && !last.terminated)
    }

    @Test func actorScalesItsNoiseToTheMagnitude() throws {
        var gen = RandomGenerator(seed: 3)
        let pi = TanhGaussianPolicy(observationSize: 2, actionSize: 4, hiddenSizes: [16], generator: &gen)
        let actor = LatentNoiseActor(policy: pi, magnitude: 1.5, maxBatch: 3)
        let condition: [Float] = [0.2, -0.4]
        var out = [Float](repeating: 0, count: 12)
        condition.withUnsafeBufferPointer { c in
            out.withUnsafeMutableBufferPointer { actor.noise(condition: c.baseAddress!, count: 3, output: $0.baseAddress!, generator: &gen) }
        }
        #expect(out.allSatisfy { abs($0) <= 1.5 })
        #expect(Array(out[0 ..< 4]) == Array(out[4 ..< 8]), "deterministic candidates share the noise")
    }
}
