import AllocationCounter
import ReflexCore
import ReflexNN
import ReflexRL
import Testing

/// Cal-QL (Nakamoto et al. 2023): conservative where the data is silent, still ranking by the data's returns.
@Suite struct CalQLTests {
    /// One-step episodes from states s ∈ [−1, 1]; `action` draws the logged action.
    func oneStepData(count: Int, generator: inout RandomGenerator, action: (inout RandomGenerator) -> (Float, Float))
        -> TransitionDataset {
        let data = TransitionDataset(stateSize: 1, actionSize: 1, capacity: count)
        for _ in 0 ..< count {
            let s = Float(generator.uniform(-1, 1))
            let (a, r) = action(&generator)
            data.append(state: [s], action: [a], reward: r, nextState: [s], discount: 0, monteCarloReturn: r)
        }
        return data
    }

    func q(_ learner: CalQL, state: Float, action: Float) -> Float {
        learner.targets[0].evaluate(Tensor(shape: [1, 2], values: [state, action]))[0, 0]
    }

    @Test func ranksTheRewardedActionFirst() throws {
        // Both actions logged everywhere: +1 earns 0, −1 costs −1.
        var gen = RandomGenerator(seed: 5)
        let data = oneStepData(count: 4000, generator: &gen) { g in g.uniform() < 0.5 ? (1, 0) : (-1, -1) }
        let learner = try CalQL(stateSize: 1, actionSize: 1,
                                config: .init(hiddenSizes: [64, 64], sampledActions: 4, batchSize: 128), generator: &gen)
        for _ in 0 ..< 1500 { learner.update(data, generator: &gen) }
        for s: Float in [-0.5, 0.5] {
            let good = q(learner, state: s, action: 1), bad = q(learner, state: s, action: -1)
            // The gap between the two logged actions is the gap between their returns (1; reached within 0.08).
            #expect(abs(good - bad - 1) < 0.15, "Q(s, +1) = \(good), Q(s, −1) = \(bad)")
            // CQL's push-up on data actions lifts both by the same offset, at most α/2 with a mean-squared TD loss
            // (2(Q − y) = α(1 − w) at the fixed point, w the proposals' weight there): 2.26–2.38 reached for α = 5.
            for (value, ret) in [(good, Float(0)), (bad, Float(-1))] {
                #expect(value - ret > 0 && value - ret < 2.5 + 0.1, "Q − return = \(value - ret)")
            }
        }
    }

    @Test func actionsTheDataNeverTookAreValuedBelowTheDataActions() throws {
        // Logged actions only in [0.3, 0.5], each costing −1. Without the conservative term nothing holds the
        // critic's extrapolation to a = −0.9 down; with it, the unseen action must rank well below the seen ones.
        func gap(weight: Float) throws -> Float {
            var gen = RandomGenerator(seed: 8)
            let data = oneStepData(count: 2000, generator: &gen) { g in (0.3 + 0.2 * g.uniformFloat(), -1) }
            let learner = try CalQL(stateSize: 1, actionSize: 1,
                                    config: .init(hiddenSizes: [64, 64], conservativeWeight: weight, sampledActions: 4,
                                                  batchSize: 128), generator: &gen)
            for _ in 0 ..< 1500 { learner.update(data, generator: &gen) }
            var total: Float = 0
            for s: Float in [-0.6, 0, 0.6] { total += q(learner, state: s, action: 0.4) - q(learner, state: s, action: -0.9) }
            return total / 3
        }
        let conservative = try gap(weight: 5), plain = try gap(weight: 0)
        #expect(conservative > 1, "Q(s, seen) − Q(s, unseen) = \(conservative)")
        #expect(conservative > plain + 0.5, "conservative \(conservative), plain \(plain)")
    }

    @Test func sameSeedSameCritics() throws {
        func run() throws -> [Float] {
            var gen = RandomGenerator(seed: 3)
            let data = oneStepData(count: 200, generator: &gen) { g in (Float(g.uniform(-1, 1)), -1) }
            let learner = try CalQL(stateSize: 1, actionSize: 1, config: .init(hiddenSizes: [16], sampledActions: 2, batchSize: 16),
                                    generator: &gen)
            for _ in 0 ..< 20 { learner.update(data, generator: &gen) }
            return Array(learner.targets[1].parameters.scalars)
        }
        #expect(try run() == run())
    }

    @Test func updatesAllocateNothing() throws {
        var gen = RandomGenerator(seed: 6)
        let data = TransitionDataset(stateSize: 3, actionSize: 2, capacity: 100)
        for _ in 0 ..< 100 { data.append(state: [1, 2, 3], action: [0, 1], reward: -1, nextState: [1, 2, 3], discount: 0.9, monteCarloReturn: -5) }
        let learner = try CalQL(stateSize: 3, actionSize: 2, config: .init(sampledActions: 3, batchSize: 32), generator: &gen)
        learner.update(data, generator: &gen)
        let before = rx_thread_allocation_count()
        for _ in 0 ..< 20 { learner.update(data, generator: &gen) }
        #expect(rx_thread_allocation_count() - before == 0)
    }

    @Test func outOfRangeSettingsAreRefused() {
        var gen = RandomGenerator(seed: 1)
        for config in [CalQL.Config(sampledActions: 0), CalQL.Config(conservativeWeight: -1), CalQL.Config(tau: 0),
                       CalQL.Config(batchSize: 0), CalQL.Config(hiddenSizes: [])] {
            #expect(throws: ReflexError.self) { try CalQL(stateSize: 2, actionSize: 1, config: config, generator: &gen) }
        }
        #expect(throws: ReflexError.self) { try CalQL(stateSize: 0, actionSize: 1, generator: &gen) }
    }
}
