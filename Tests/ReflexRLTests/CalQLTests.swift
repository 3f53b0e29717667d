import AllocationCounter
import Foundation
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

    /// The loss and its gradient with respect to every Q-value, against PyTorch's autograd over the official
    /// code's formula (Tests/Fixtures/make_calql_fixture.py): one state whose return lies above all its policy
    /// proposals (the bound binds on all: no gradient reaches them), one below all, one in between.
    @Test func lossMatchesTheOfficialFormulaUnderAutograd() throws {
        struct Fixture: Decodable {
            var batch: Int, sampled_actions: Int, alpha: Float, bound: Int
            var q: [Float], targets: [Float], references: [Float], log_density: [Float], gradient: [Float]
            var td: Float, gap: Float, loss: Float
        }
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/calql_loss.json")
        let f = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        let b = f.batch, n = f.sampled_actions
        #expect(f.q.count == b * (1 + 3 * n) && f.log_density.count == 3 * b * n)
        var weights = [Float](repeating: 0, count: 3 * n), gradient = [Float](repeating: .nan, count: f.q.count)
        let loss = CalQL.criticLoss(q: f.q, targets: f.targets, references: f.references, logDensity: f.log_density,
                                    batch: b, sampledActions: n, alpha: f.alpha, weights: &weights, gradient: &gradient)
        #expect(abs(loss.td - f.td) < 1e-5 && abs(loss.gap - f.gap) < 1e-5, "td \(loss.td) vs \(f.td), gap \(loss.gap) vs \(f.gap)")
        #expect(abs(loss.td + f.alpha * loss.gap - f.loss) < 1e-4)
        #expect(loss.bound == f.bound && f.bound == 6)
        for (i, (mine, theirs)) in zip(gradient, f.gradient).enumerated() {
            #expect(abs(mine - theirs) < 1e-5, "dL/dQ row \(i): \(mine) vs \(theirs)")
        }
        // State 0's four policy proposals (rows b + b·n + j·b and b + 2·b·n + j·b) are all bounded: zero gradient.
        for block in 1 ... 2 { for j in 0 ..< n { #expect(gradient[b + block * b * n + j * b] == 0) } }
    }

    /// A case built for the bound to bind: data at one action with return −1, and an actor that cannot learn
    /// (its proposals stay spread over the box, far from the data). CQL pushes those proposals' Q-values down without
    /// end; Cal-QL stops pushing once they fall below the return, so they stay well above CQL's — and most of them are
    /// held at the bound.
    @Test func theReturnBoundBindsAndHoldsThePolicysActionsUp() throws {
        func run(calibrated: Bool) throws -> (unseen: Float, boundRate: Float) {
            var gen = RandomGenerator(seed: 12)
            let data = TransitionDataset(stateSize: 1, actionSize: 1, capacity: 2000)
            for _ in 0 ..< 2000 {
                let s = Float(gen.uniform(-1, 1)), a = 0.3 + 0.2 * gen.uniformFloat()
                data.append(state: [s], action: [a], reward: -1, nextState: [s], discount: 0,
                            monteCarloReturn: calibrated ? -1 : -.infinity)
            }
            let learner = try CalQL(stateSize: 1, actionSize: 1,
                                    config: .init(hiddenSizes: [64, 64], sampledActions: 4, actorLearningRate: 1e-9,
                                                  batchSize: 128), generator: &gen)
            for _ in 0 ..< 1500 { learner.update(data, generator: &gen) }
            var total: Float = 0
            for s: Float in [-0.6, 0, 0.6] { for a: Float in [-0.9, -0.5] { total += q(learner, state: s, action: a) } }
            return (total / 6, learner.boundRate)
        }
        let cal = try run(calibrated: true), cql = try run(calibrated: false)
        // Reached: Cal-QL −6.8 with 90% of the policy's proposals at the bound; CQL −34.3.
        #expect(cql.boundRate == 0)
        #expect(cal.boundRate > 0.5, "bound rate \(cal.boundRate)")
        #expect(cal.unseen > cql.unseen + 10, "Cal-QL \(cal.unseen), CQL \(cql.unseen)")
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
