import AllocationCounter
import Foundation
import ReflexCore
import ReflexNN
import ReflexPolicy
import ReflexRL
import Testing

@testable import ReflexSteering

/// A critic whose output is exactly w · [s, a]: a 1-layer "MLP" with identity output.
func linearCritic(stateSize: Int, actionSize: Int, weights: [Float]) -> MLP {
    let config = MLPConfig(inputSize: stateSize + actionSize, hiddenSizes: [], outputSize: 1)
    let m = MLP(config: config, parameters: Tensor(zeros: [MLP.layout(for: config).count]))
    for (i, w) in weights.enumerated() { m.linears[0].weight.data[i] = w }
    return m
}

@Suite struct ValueRerankerTests {
    @Test func argmaxPicksTheHighestMinimumOfTheCriticEnsemble() throws {
        // Critic 1 likes a[0], critic 2 likes a[1]; the min of the two decides.
        let c1 = linearCritic(stateSize: 1, actionSize: 2, weights: [0, 1, 0])
        let c2 = linearCritic(stateSize: 1, actionSize: 2, weights: [0, 0, 1])
        let r = try ValueReranker(critics: [c1, c2], stateSize: 1, actionSize: 2, maxCandidates: 4)
        let candidates: [Float] = [5, 0, 1, 1, 0, 5, 2, 3]
        var gen = RandomGenerator(seed: 1)
        #expect(r.select(state: [0], candidates: candidates, stride: 2, count: 4, generator: &gen) == 3)
        #expect(Array(r.lastScores) == [0, 1, 0, 2])
    }

    @Test func softmaxFollowsTheTemperature() throws {
        let c = linearCritic(stateSize: 1, actionSize: 1, weights: [0, 1])
        let r = try ValueReranker(critics: [c, c], stateSize: 1, actionSize: 1, maxCandidates: 2, selection: .softmax(beta: 1))
        var gen = RandomGenerator(seed: 2)
        var picks = [0, 0]
        for _ in 0 ..< 4000 { picks[r.select(state: [0], candidates: [0, 1], stride: 1, count: 2, generator: &gen)] += 1 }
        // P(second) = e / (1 + e) = 0.731
        #expect(abs(Double(picks[1]) / 4000 - 0.731) < 0.03)
        r.selection = .softmax(beta: 0.01)
        var greedy = 0
        for _ in 0 ..< 200 where r.select(state: [0], candidates: [0, 1], stride: 1, count: 2, generator: &gen) == 1 { greedy += 1 }
        #expect(greedy == 200)
    }

    /// Softmax selection draws candidate k with probability exp(Q_k/β)/Z: on five fixed scores, the frequencies over
    /// 20,000 draws stay within 4.5 binomial standard deviations of it, for β = 1 (the paper's) and β = 0.5.
    @Test(arguments: [Float(1), 0.5]) func softmaxFrequenciesMatchTheBoltzmannDistribution(beta: Float) throws {
        let c = linearCritic(stateSize: 1, actionSize: 1, weights: [0, 1])
        let scores: [Float] = [-2, -0.5, -1, 0.3, -0.4]
        let r = try ValueReranker(critics: [c, c], stateSize: 1, actionSize: 1, maxCandidates: 5, selection: .softmax(beta: beta))
        let z = scores.reduce(0.0) { $0 + exp(Double($1 / beta)) }
        let draws = 20_000
        var counts = [Int](repeating: 0, count: 5)
        var gen = RandomGenerator(seed: 17)
        for _ in 0 ..< draws { counts[r.select(state: [0], candidates: scores, stride: 1, count: 5, generator: &gen)] += 1 }
        #expect(Array(r.lastScores) == scores)
        for k in 0 ..< 5 {
            let p = exp(Double(scores[k] / beta)) / z
            let sigma = (p * (1 - p) / Double(draws)).squareRoot()
            let seen = Double(counts[k]) / Double(draws)
            #expect(abs(seen - p) < 4.5 * sigma, "β \(beta), candidate \(k): \(seen) against \(p) (σ \(sigma))")
        }
    }

    @Test func softmaxPicksAreAFunctionOfTheSeedAndAllocateNothing() throws {
        let c = linearCritic(stateSize: 1, actionSize: 1, weights: [0.5, 1])
        let r = try ValueReranker(critics: [c, c], stateSize: 1, actionSize: 1, maxCandidates: 8, selection: .softmax(beta: 1))
        let candidates: [Float] = [0.1, -0.3, 0.7, 0.2, -1, 0.4, 0, 0.5]
        func picks(seed: UInt64) -> [Int] {
            var gen = RandomGenerator(seed: seed)
            return (0 ..< 50).map { _ in r.select(state: [0.2], candidates: candidates, stride: 1, count: 8, generator: &gen) }
        }
        #expect(picks(seed: 3) == picks(seed: 3))
        #expect(picks(seed: 3) != picks(seed: 4))
        var gen = RandomGenerator(seed: 9)
        let state: [Float] = [0.2]
        state.withUnsafeBufferPointer { s in
            candidates.withUnsafeBufferPointer { a in
                _ = r.select(state: s.baseAddress!, candidates: a.baseAddress!, stride: 1, count: 8, generator: &gen)
                let before = rx_thread_allocation_count()
                for _ in 0 ..< 200 { _ = r.select(state: s.baseAddress!, candidates: a.baseAddress!, stride: 1, count: 8, generator: &gen) }
                #expect(rx_thread_allocation_count() - before == 0)
            }
        }
    }

    @Test func aSoftmaxTemperatureOutOfRangeIsRefused() {
        let c = linearCritic(stateSize: 1, actionSize: 1, weights: [0, 1])
        for beta: Float in [0, -1, .nan, .infinity] {
            #expect(throws: ReflexError.self) {
                try ValueReranker(critics: [c, c], stateSize: 1, actionSize: 1, maxCandidates: 2, selection: .softmax(beta: beta))
            }
        }
    }

    @Test func mismatchedCriticsAreRefused() {
        let c1 = linearCritic(stateSize: 1, actionSize: 2, weights: [0, 1, 0])
        #expect(throws: ReflexError.self) { try ValueReranker(critics: [c1], stateSize: 2, actionSize: 2, maxCandidates: 1) }
    }
}

@Suite struct IQLTests {
    @Test func learnsToPreferTheActionThatLeadsToReward() {
        // States s ∈ [-1, 1]; action a ∈ {−1, +1}; +1 ends the episode with reward 0, −1 costs −1 and returns to a
        // random state. The data holds both actions everywhere, so Q(s, +1) ≈ 0 > Q(s, −1) ≈ −1 + γ V.
        var gen = RandomGenerator(seed: 5)
        let data = TransitionDataset(stateSize: 1, actionSize: 1, capacity: 4000)
        for _ in 0 ..< 4000 {
            let s = Float(gen.uniform(-1, 1))
            let good = gen.uniform() < 0.5
            let s2 = Float(gen.uniform(-1, 1))
            data.append(state: [s], action: [good ? 1 : -1], reward: good ? 0 : -1, nextState: [s2],
                        discount: good ? 0 : 0.9, monteCarloReturn: good ? 0 : -1)
        }
        let iql = IQL(stateSize: 1, actionSize: 1, config: .init(hiddenSizes: [64, 64], batchSize: 128), generator: &gen)
        for _ in 0 ..< 1500 { iql.update(data, generator: &gen) }
        let q = iql.targets[0].evaluate(Tensor(shape: [4, 2], values: [0.5, 1, 0.5, -1, -0.5, 1, -0.5, -1]))
        #expect(q[0, 0] > q[1, 0] + 0.5, "\(q.scalars)")
        #expect(q[2, 0] > q[3, 0] + 0.5, "\(q.scalars)")
        #expect(abs(q[0, 0]) < 0.2)
    }

    @Test func updatesAllocateNothing() {
        var gen = RandomGenerator(seed: 6)
        let data = TransitionDataset(stateSize: 3, actionSize: 2, capacity: 100)
        for _ in 0 ..< 100 { data.append(state: [1, 2, 3], action: [0, 1], reward: -1, nextState: [1, 2, 3], discount: 0.9, monteCarloReturn: -5) }
        let iql = IQL(stateSize: 3, actionSize: 2, config: .init(batchSize: 32), generator: &gen)
        iql.update(data, generator: &gen)
        let before = rx_thread_allocation_count()
        for _ in 0 ..< 50 { iql.update(data, generator: &gen) }
        #expect(rx_thread_allocation_count() - before == 0)
    }
}
