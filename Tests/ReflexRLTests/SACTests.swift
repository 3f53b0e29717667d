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
