import Foundation
import ReflexCore
import Testing

@testable import ReflexRL

let rlFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

@Suite struct PendulumTests {
    struct Fixture: Decodable {
        struct Episode: Decodable {
            var seed: Int
            var theta: Double
            var theta_dot: Double
            var actions: [Float]
            var observations: [[Float]]
            var rewards: [Double]
            var truncated: [Bool]
        }
        var episodes: [Episode]
    }

    @Test func matchesGymnasiumPendulumStepByStep() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: rlFixtures + "/pendulum.json"))
        let f = try JSONDecoder().decode(Fixture.self, from: data)
        #expect(f.episodes.count == 2)
        for ep in f.episodes {
            var env = Pendulum()
            var obs = [Float](repeating: 0, count: 3)
            env.reset(theta: ep.theta, thetaDot: ep.theta_dot, observation: &obs)
            for (t, a) in ep.actions.enumerated() {
                let out = env.step([a], observation: &obs)
                for k in 0 ..< 3 {
                    #expect(abs(obs[k] - ep.observations[t][k]) <= 6e-7 * max(1, abs(ep.observations[t][k])), "episode \(ep.seed) step \(t) obs[\(k)]: \(obs[k]) vs \(ep.observations[t][k])")
                }
                // Reached: 6e-8 (observations) and 5e-8 (rewards) relative; ten times that.
                #expect(abs(out.reward - ep.rewards[t]) <= 5e-7 * max(1, abs(ep.rewards[t])), "episode \(ep.seed) step \(t) reward")
                #expect(out.truncated == ep.truncated[t], "episode \(ep.seed) step \(t) truncation")
                #expect(!out.terminated)
            }
        }
    }

    @Test func resetIsAFunctionOfTheSeedWithinGymnasiumBounds() {
        var a = Pendulum(), b = Pendulum()
        var seen = Set<Double>()
        for seed in UInt64(0) ..< 50 {
            let oa = a.reset(seed: seed), ob = b.reset(seed: seed)
            #expect(oa == ob)
            #expect(abs(a.theta) <= .pi && abs(a.thetaDot) <= 1)
            seen.insert(a.theta)
        }
        #expect(seen.count == 50)
    }

    @Test func angleWrapsLikePythonsFlooredModulo() {
        #expect(abs(Pendulum.angleNormalize(3 * .pi / 2) - (-.pi / 2)) < 1e-12)
        #expect(abs(Pendulum.angleNormalize(-3 * .pi / 2) - (.pi / 2)) < 1e-12)
        #expect(abs(Pendulum.angleNormalize(0.3) - 0.3) < 1e-12)
    }
}

@Suite struct ReplayBufferTests {
    @Test func ringOverwritesTheOldestAndSamplesOnlyHeldRows() {
        let buf = ReplayBuffer(observationSize: 2, actionSize: 1, capacity: 4)
        for i in 0 ..< 6 {
            let o: [Float] = [Float(i), -Float(i)], a: [Float] = [Float(i) / 10], n: [Float] = [Float(i + 1), 0]
            buf.add(observation: o, action: a, reward: Float(i), nextObservation: n, terminal: i == 5)
        }
        #expect(buf.count == 4 && buf.position == 2 && buf.added == 6)
        #expect(buf.rewards.scalars == [4, 5, 2, 3])
        let batch = ReplayBatch(size: 64, observationSize: 2, actionSize: 1)
        var gen = RandomGenerator(seed: 1)
        buf.sample(into: batch, generator: &gen)
        var rewardsSeen = Set<Float>()
        for r in 0 ..< 64 {
            let reward = batch.rewards.data[r]
            rewardsSeen.insert(reward)
            // Each row is one consistent transition.
            #expect(batch.observations.data[r * 2] == reward)
            #expect(batch.observationActions.data[r * 3] == reward && batch.observationActions.data[r * 3 + 2] == reward / 10)
            #expect(batch.nextObservations.data[r * 2] == reward + 1)
            #expect(batch.terminals.data[r] == (reward == 5 ? 1 : 0))
        }
        #expect(rewardsSeen == [2, 3, 4, 5])
    }

    @Test func savesAndRestoresThroughSafetensors() throws {
        var gen = RandomGenerator(seed: 3)
        let buf = ReplayBuffer(observationSize: 3, actionSize: 2, capacity: 10)
        for _ in 0 ..< 7 {
            let o = (0 ..< 3).map { _ in Float(gen.gaussian()) }, a = (0 ..< 2).map { _ in Float(gen.gaussian()) }
            buf.add(observation: o, action: a, reward: Float(gen.gaussian()), nextObservation: o, terminal: false)
        }
        let path = NSTemporaryDirectory() + "replay-\(UUID().uuidString).safetensors"
        try writeSafetensors(buf.namedState(), to: path, metadata: buf.metadata())
        let copy = ReplayBuffer(observationSize: 3, actionSize: 2, capacity: 10)
        try copy.load(from: SafetensorsFile(path: path))
        #expect(copy.count == 7 && copy.position == 7)
        #expect(copy.observations.scalars == buf.observations.scalars && copy.rewards.scalars == buf.rewards.scalars)
        // A buffer that never wrapped grows into a larger one (an extended run); a smaller one, or a wrapped buffer
        // into a larger one, is refused.
        let larger = ReplayBuffer(observationSize: 3, actionSize: 2, capacity: 11)
        try larger.load(from: SafetensorsFile(path: path))
        #expect(larger.count == 7 && larger.position == 7 && larger.rewards.scalars.prefix(7) == buf.rewards.scalars.prefix(7))
        let smaller = ReplayBuffer(observationSize: 3, actionSize: 2, capacity: 6)
        #expect(throws: ReflexError.self) { try smaller.load(from: SafetensorsFile(path: path)) }
        for _ in 0 ..< 5 { buf.add(observation: [1, 2, 3], action: [4, 5], reward: 6, nextObservation: [1, 2, 3], terminal: false) }
        try writeSafetensors(buf.namedState(), to: path, metadata: buf.metadata())
        #expect(throws: ReflexError.self) { try ReplayBuffer(observationSize: 3, actionSize: 2, capacity: 11).load(from: SafetensorsFile(path: path)) }
    }
}
