import AllocationCounter
import ReflexCore
import ReflexNN
import Testing

@testable import ReflexRL

/// REDQ-style critic ensembles in SAC (`OffPolicyConfig.critics`, `criticSubset`) and gradient clipping.
@Suite struct CriticEnsembleTests {
    static func buffer(_ gen: inout RandomGenerator) -> ReplayBuffer {
        let buf = ReplayBuffer(observationSize: 3, actionSize: 2, capacity: 64)
        for _ in 0 ..< 64 {
            let o = (0 ..< 3).map { _ in Float(gen.gaussian()) }
            let n = (0 ..< 3).map { _ in Float(gen.gaussian()) }
            buf.add(observation: o, action: [Float(gen.uniform(-1, 1)), Float(gen.uniform(-1, 1))],
                    reward: Float(gen.gaussian()), nextObservation: n, terminal: gen.uniform(0, 1) < 0.2)
        }
        return buf
    }

    static func sac(critics: Int, subset: Int?, _ gen: inout RandomGenerator) throws -> SAC {
        var config = OffPolicyConfig(actorHiddenSizes: [16], criticHiddenSizes: [16], activation: .tanh, batchSize: 16,
                                     initialAlpha: 0.3)
        config.critics = critics
        config.criticSubset = subset
        config.policyDelay = 2 // the first update leaves the target critics as they were
        return try SAC(observationSize: 3, actionSize: 2, config: config, generator: &gen)
    }

    /// The TD targets of one update, recomputed from the target critics (unchanged by a first update with policy
    /// delay 2) for every subset of `size` critics: which subsets reproduce all of the batch's targets.
    static func matchingSubsets(_ sac: SAC, size: Int) -> [[Int]] {
        let b = sac.batch.size, o = 3, a = 2, n = sac.critics.count
        var subsets: [[Int]] = [[]]
        for k in 0 ..< n { subsets += subsets.map { $0 + [k] } }
        subsets = subsets.filter { $0.count == size }
        let q = (0 ..< n).map { k -> [Float] in
            var input = [Float](), out = [Float](repeating: 0, count: b)
            for r in 0 ..< b {
                input += (0 ..< o).map { sac.batch.nextObservations.data[r * o + $0] }
                input += (0 ..< a).map { sac.nextTape.actions.data[r * a + $0] }
            }
            sac.critics.targets[k].evaluate(input, batch: b, output: &out, workspace: MLPWorkspace(config: sac.critics.targets[k].config, maxBatch: b))
            return out
        }
        return subsets.filter { s in
            (0 ..< b).allSatisfy { r in
                let m = s.map { q[$0][r] }.min()!
                let y = sac.batch.rewards.data[r] + sac.config.gamma * (1 - sac.batch.terminals.data[r])
                    * (m - sac.alpha * sac.nextTape.logProbabilities.data[r])
                return abs(y - sac.targetQ.data[r]) <= 1e-5 * max(1, abs(y))
            }
        }
    }

    @Test func twoCriticsTakeTheMinOfBoth() throws {
        var gen = RandomGenerator(seed: 3)
        let buf = Self.buffer(&gen)
        let sac = try Self.sac(critics: 2, subset: nil, &gen)
        sac.update(buf, generator: &gen)
        #expect(Self.matchingSubsets(sac, size: 2) == [[0, 1]])
    }

    /// REDQ: the target's min is over a random subset of M = 2 of the N = 5 target critics, one subset for the whole
    /// minibatch, drawn afresh each update — not the min over all five, and not always the same pair. (A pair is
    /// ambiguous when one critic is the smallest on every row; such draws only count toward "some pair explains it".)
    @Test func theTargetIsTheMinOverARandomSubset() throws {
        var seen = Set<[Int]>()
        var notAllFive = 0
        for seed in UInt64(0) ..< 8 {
            var gen = RandomGenerator(seed: 10 + seed)
            let buf = Self.buffer(&gen)
            let sac = try Self.sac(critics: 5, subset: 2, &gen)
            sac.update(buf, generator: &gen)
            let pairs = Self.matchingSubsets(sac, size: 2)
            #expect(!pairs.isEmpty, "no pair of target critics explains the targets")
            if Self.matchingSubsets(sac, size: 5).isEmpty { notAllFive += 1 }
            if pairs.count == 1 { seen.insert(pairs[0]) }
        }
        #expect(notAllFive >= 4, "the min over all five explained \(8 - notAllFive) of 8 updates")
        #expect(seen.count >= 2, "subsets drawn: \(seen)")
    }

    /// With more than two critics the actor ascends (and the Q report gives) their mean.
    @Test func theActorsEstimateIsTheMeanOfAllCritics() throws {
        var gen = RandomGenerator(seed: 4)
        let sac = try Self.sac(critics: 3, subset: nil, &gen)
        let input: [Float] = [0.1, -0.2, 0.3, 0.5, -0.5]
        var q: Float = 0
        sac.estimateQ(input, batch: 1, output: &q)
        let each = sac.critics.networks.map { net -> Float in
            let out = net.evaluate(Tensor(shape: [1, 5], values: input))
            return withExtendedLifetime(out) { out.data[0] }
        }
        #expect(abs(q - each.reduce(0, +) / 3) < 1e-6, "estimate \(q), critics \(each)")
        #expect(abs(q - each.min()!) > 1e-4)
    }

    @Test func gradientClippingBoundsTheNorm() {
        let g = Tensor(shape: [2], values: [3, 4])
        clipGradientNorm(g, to: 1)
        #expect(abs(g.data[0] - 0.6) < 1e-5 && abs(g.data[1] - 0.8) < 1e-5)
        let small = Tensor(shape: [2], values: [0.3, 0.4])
        clipGradientNorm(small, to: 1)
        #expect(small.data[0] == 0.3 && small.data[1] == 0.4)
    }

    @Test func clippedStepsMoveLessThanUnclippedOnes() throws {
        var g1 = RandomGenerator(seed: 5), g2 = RandomGenerator(seed: 5)
        var plain = OffPolicyConfig(actorHiddenSizes: [16], criticHiddenSizes: [16], batchSize: 16)
        plain.criticLearningRate = 0.1
        var clipped = plain
        clipped.gradientClipNorm = 1e-3
        let a = try SAC(observationSize: 3, actionSize: 2, config: plain, generator: &g1)
        let b = try SAC(observationSize: 3, actionSize: 2, config: clipped, generator: &g2)
        let buf = Self.buffer(&g1)
        _ = Self.buffer(&g2)
        a.update(buf, generator: &g1)
        b.update(buf, generator: &g2)
        // Adam's first second-moment estimate is (1 − β₂) g²: its sum is (1 − β₂)|g|², at most 1e-3 · (1e-3)² clipped.
        let va = a.critics.optimizers[0].namedState(prefix: "").first { $0.name == "v" }!.tensor
        let vb = b.critics.optimizers[0].namedState(prefix: "").first { $0.name == "v" }!.tensor
        var na: Float = 0, nb: Float = 0
        for i in 0 ..< va.count { (na, nb) = (na + va.data[i], nb + vb.data[i]) }
        #expect(nb <= 1.01e-9, "clipped second moment \(nb)")
        #expect(na > nb * 100, "unclipped \(na), clipped \(nb)")
    }

    @Test func configurationsAreChecked() {
        var c = OffPolicyConfig()
        c.critics = 1
        #expect(throws: ReflexError.self) { try c.validate() }
        c.critics = 4
        c.criticSubset = 5
        #expect(throws: ReflexError.self) { try c.validate() }
        c.criticSubset = 3
        #expect(throws: Never.self) { try c.validate() }
        c.gradientClipNorm = 0
        #expect(throws: ReflexError.self) { try c.validate() }
        var g = RandomGenerator(seed: 0)
        var d = OffPolicyConfig.dsacT
        d.critics = 4
        #expect(throws: ReflexError.self) { _ = try DSACT(observationSize: 3, actionSize: 1, config: d, generator: &g) }
    }

    @Test(arguments: [(4, 2, Float?.none), (2, 2, Float?(1)), (5, 3, Float?(0.5))])
    func ensembleAndClippedUpdatesAllocateNothing(critics: Int, subset: Int, clip: Float?) throws {
        var gen = RandomGenerator(seed: 6)
        var config = OffPolicyConfig(actorHiddenSizes: [16], criticHiddenSizes: [16], batchSize: 16)
        config.critics = critics
        config.criticSubset = critics > 2 ? subset : nil
        config.gradientClipNorm = clip
        let sac = try SAC(observationSize: 3, actionSize: 2, config: config, generator: &gen)
        let buf = Self.buffer(&gen)
        for _ in 0 ..< 3 { sac.update(buf, generator: &gen) }
        #expect(rx_allocation_counter_active() == 1)
        let before = rx_thread_allocation_count()
        for _ in 0 ..< 20 { sac.update(buf, generator: &gen) }
        #expect(rx_thread_allocation_count() - before == 0)
    }
}
