import AllocationCounter
import ReflexCore
import Testing

@testable import ReflexRL

@Suite struct SACTests {
    @Test func updateAllocatesNothing() throws {
        var gen = RandomGenerator(seed: 1)
        var config = OffPolicyConfig.rltools
        config.batchSize = 32
        let sac = try SAC(observationSize: 3, actionSize: 1, config: config, generator: &gen)
        let buf = ReplayBuffer(observationSize: 3, actionSize: 1, capacity: 100)
        for _ in 0 ..< 100 {
            let o = (0 ..< 3).map { _ in Float(gen.gaussian()) }
            buf.add(observation: o, action: [Float(gen.uniform(-1, 1))], reward: -1, nextObservation: o, terminal: false)
        }
        for _ in 0 ..< 3 { sac.update(buf, generator: &gen) }
        #expect(rx_allocation_counter_active() == 1)
        let obs: [Float] = [1, 0, 0]
        var act: [Float] = [0]
        let before = rx_thread_allocation_count()
        for _ in 0 ..< 20 { sac.update(buf, generator: &gen) }
        #expect(rx_thread_allocation_count() - before == 0)
        var afterUpdates: UInt64 = 0
        for i in 0 ..< 23 {
            if i == 3 { afterUpdates = rx_thread_allocation_count() }
            obs.withUnsafeBufferPointer { o in
                act.withUnsafeMutableBufferPointer { a in
                    sac.act(o.baseAddress!, batch: 1, deterministic: false, output: a.baseAddress!, generator: &gen)
                }
            }
        }
        #expect(rx_thread_allocation_count() - afterUpdates == 0)
    }

    @Test func solvesPendulumInAFewThousandSteps() throws {
        var gen = RandomGenerator(seed: 2)
        let sac = try SAC(observationSize: 3, actionSize: 1, config: .rltools, generator: &gen)
        let trainer = try OffPolicyTrainer(environment: Pendulum(), evaluationEnvironment: Pendulum(), learner: sac,
                                           config: TrainerConfig(totalSteps: 8000, warmupSteps: 100, evaluationInterval: 0),
                                           seed: 2)
        let before = trainer.evaluate(episodes: 10).meanReturn
        while !trainer.finished { trainer.advance() }
        let after = trainer.evaluate(episodes: 10).meanReturn
        #expect(before < -700, "an untrained policy should not balance (got \(before))")
        #expect(after >= -250, "mean return after 8k steps: \(after)")
        #expect(sac.updates == 8000 - 100 + 1)
    }
}

@Suite struct DSACTTests {
    static func filledBuffer(_ gen: inout RandomGenerator) -> ReplayBuffer {
        let buf = ReplayBuffer(observationSize: 3, actionSize: 1, capacity: 100)
        for _ in 0 ..< 100 {
            let o = (0 ..< 3).map { _ in Float(gen.gaussian()) }
            buf.add(observation: o, action: [Float(gen.uniform(-1, 1))], reward: Float(gen.gaussian()), nextObservation: o, terminal: false)
        }
        return buf
    }

    @Test func updateAllocatesNothing() throws {
        var gen = RandomGenerator(seed: 1)
        var config = OffPolicyConfig.rltools
        config.batchSize = 32
        config.policyDelay = 2
        let learner = try DSACT(observationSize: 3, actionSize: 1, config: config, generator: &gen)
        let buf = DSACTTests.filledBuffer(&gen)
        for _ in 0 ..< 4 { learner.update(buf, generator: &gen) }
        let before = rx_thread_allocation_count()
        for _ in 0 ..< 20 { learner.update(buf, generator: &gen) }
        #expect(rx_thread_allocation_count() - before == 0)
    }

    /// With a fixed target (γ = 0, constant reward noise), σ should settle near the spread of the reward and Q near its
    /// mean: the distributional critic learns the return distribution, not just its mean.
    @Test(arguments: DistributionalCriticLoss.allCases)
    func criticLearnsTheSpreadOfABanditReward(_ loss: DistributionalCriticLoss) throws {
        var gen = RandomGenerator(seed: 4)
        var config = OffPolicyConfig(actorHiddenSizes: [16], criticHiddenSizes: [32, 32], batchSize: 64, gamma: 0,
                                     criticLearningRate: 3e-3, learnAlpha: false, policyDelay: 2, distributionalLoss: loss)
        config.initialAlpha = 0.01
        let learner = try DSACT(observationSize: 1, actionSize: 1, config: config, generator: &gen)
        let buf = ReplayBuffer(observationSize: 1, actionSize: 1, capacity: 4000)
        for _ in 0 ..< 4000 {
            buf.add(observation: [0.5], action: [0], reward: Float(-10 + 2 * gen.gaussian()), nextObservation: [0.5], terminal: true)
        }
        for _ in 0 ..< 3000 { learner.update(buf, generator: &gen) }
        let out = learner.critics.networks[0].evaluate(Tensor(shape: [1, 2], values: [0.5, 0]))
        let q = out.data[0], sigma = DSACT.softplus(out.data[1])
        #expect(abs(q + 10) < 0.5, "Q \(q)")
        // The paper's form settles at σ ≈ 2; the July 2025 form's Huber ½ at σ ≈ 2/√2.
        let expected: Float = loss == .paper ? 2 : 2 / Float(2).squareRoot()
        #expect(abs(sigma - expected) < 0.15 * expected, "σ \(sigma), expected about \(expected)")
    }

    @Test func solvesPendulum() throws {
        var gen = RandomGenerator(seed: 3)
        var config = OffPolicyConfig.rltools
        config.policyDelay = 2
        let learner = try DSACT(observationSize: 3, actionSize: 1, config: config, generator: &gen)
        let trainer = try OffPolicyTrainer(environment: Pendulum(), evaluationEnvironment: Pendulum(), learner: learner,
                                           config: TrainerConfig(totalSteps: 8000, warmupSteps: 100, evaluationInterval: 0),
                                           seed: 3)
        while !trainer.finished { trainer.advance() }
        let after = trainer.evaluate(episodes: 10).meanReturn
        #expect(after >= -250, "mean return after 8k steps: \(after)")
        #expect(learner.meanStd[0] > 0 && learner.meanStd[1] > 0)
    }
}

@Suite struct QBiasTests {
    /// A critic that has learned nothing (Q ≈ 0 at initialization scale) on Pendulum, whose returns are strongly
    /// negative, must show a large positive bias; the report's return must be a discounted sum of Pendulum costs.
    @Test func untrainedCriticsOverestimatePendulumReturns() throws {
        var gen = RandomGenerator(seed: 8)
        let sac = try SAC(observationSize: 3, actionSize: 1, config: .rltools, generator: &gen)
        let r = QBias.measure(learner: sac, environment: Pendulum(), episodes: 2, extraSteps: 300)
        #expect(r.samples == 400)
        // Per-step cost is at most π² + 0.1·64 + 0.001·4 ≈ 16.3, so |G| ≤ 16.3/(1 − γ) ≈ 1630 plus the entropy terms.
        #expect(r.meanReturn < -100 && r.meanReturn > -1700, "mean return \(r.meanReturn)")
        #expect(r.meanBias > 50, "bias \(r.meanBias)")
    }
}
