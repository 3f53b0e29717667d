import AllocationCounter
import Foundation
import ReflexCore
import ReflexNN
import ReflexPolicy
import ReflexRL
import ReflexSteering
import Testing

@Suite struct NoiseAliasingTests {
    static let batch = 64

    static func config() -> OffPolicyConfig {
        var c = OffPolicyConfig(actorHiddenSizes: [32, 32], criticHiddenSizes: [64, 64], activation: .tanh, layerNorm: true,
                                batchSize: batch, gamma: 0.9, actorLearningRate: 1e-3, criticLearningRate: 1e-3,
                                alphaLearningRate: 1e-3, targetEntropy: 0)
        c.initialAlpha = 0.01
        return c
    }

    static func learner(seed: UInt64) throws -> DSRLNoiseAliasing {
        var gen = RandomGenerator(seed: seed)
        return try DSRLNoiseAliasing(diffusion: try randomPolicy(maxBatch: batch), magnitude: 1.5, ddimSteps: 5,
                                     noiseCriticSteps: 1, config: config(), generator: &gen)
    }

    static func environment() throws -> LatentNoiseEnvironment<Line> {
        try LatentNoiseEnvironment(base: Line(), policy: try randomPolicy(), magnitude: 1.5, ddimSteps: 5, rewardMode: .task)
    }

    static func trainer(_ learner: DSRLNoiseAliasing, steps: Int, seed: UInt64) throws -> OffPolicyTrainer<LatentNoiseEnvironment<Line>> {
        var tc = TrainerConfig(totalSteps: steps, warmupSteps: 200, updatesPerStep: 1, evaluationInterval: 0, evaluationEpisodes: 0,
                               checkpointInterval: 0)
        tc.warmupGaussianStd = 1 / 1.5
        return try OffPolicyTrainer(environment: try environment(), evaluationEnvironment: try environment(), learner: learner,
                                    config: tc, seed: seed)
    }

    /// The batched entry point denoises each row under its own condition: it agrees with one-at-a-time sampling.
    @Test func batchedDenoiseMatchesOneChunkAtATime() throws {
        let policy = try randomPolicy(maxBatch: 8), single = try randomPolicy()
        policy.sampler = .ddim(steps: 5, eta: 0)
        single.sampler = .ddim(steps: 5, eta: 0)
        var gen = RandomGenerator(seed: 9)
        let conditions = (0 ..< 16).map { _ in Float(gen.uniform(-1, 1)) }
        let noise = (0 ..< 32).map { _ in Float(gen.gaussian()) }
        conditions.withUnsafeBufferPointer { c in
            noise.withUnsafeBufferPointer { w in
                _ = policy.sampleBatch(normalizedConditions: c.baseAddress!, count: 8, initialNoise: w.baseAddress!, generator: &gen)
            }
        }
        var distinct = Set<Float>()
        for k in 0 ..< 8 {
            conditions.withUnsafeBufferPointer { c in
                noise.withUnsafeBufferPointer { w in
                    _ = single.sampleCandidates(history: c.baseAddress! + 2 * k, count: 1, initialNoise: w.baseAddress! + 4 * k,
                                            stepsExecuted: 0, generator: &gen)
                }
            }
            for i in 0 ..< 4 {
                #expect(abs(policy.candidate(k)[i] - single.candidate(0)[i]) < 1e-5)
                distinct.insert(policy.candidate(k)[i])
            }
        }
        #expect(distinct.count > 16, "different conditions and noises give different chunks")
    }

    /// On `Line` many noises alias to the same executed actions. After a short run the distilled Q^W(s, w) agrees with
    /// Q^A(s, π_dp(s, w)) on fresh noise, and the noise actor's deterministic return beats its initial one.
    @Test func learnsOnAToyWhereNoiseAliases() throws {
        let na = try NoiseAliasingTests.learner(seed: 1)
        let t = try NoiseAliasingTests.trainer(na, steps: 1500, seed: 1)
        let before = t.evaluate(episodes: 10).meanReturn
        while !t.finished { t.advance() }
        let after = t.evaluate(episodes: 10).meanReturn
        #expect(na.updates == 1500 - 200 + 1)
        #expect(after > before + 5, "return \(before) → \(after)")

        // Q^W against min Q^A(s, π_dp(s, w)) on buffer states and fresh clipped N(0, I) noise.
        let b = NoiseAliasingTests.batch, o = na.observationSize, n = na.actionSize, e = na.executedSize
        var gen = RandomGenerator(seed: 77)
        var states = [Float](repeating: 0, count: b * o), noise = [Float](repeating: 0, count: b * n)
        for r in 0 ..< b {
            let i = gen.index(below: t.buffer.count)
            for j in 0 ..< o { states[r * o + j] = t.buffer.observations.data[i * o + j] }
        }
        for i in 0 ..< b * n { noise[i] = min(1.5, max(-1.5, Float(gen.gaussian()))) }
        states.withUnsafeBufferPointer { s in
            noise.withUnsafeBufferPointer { w in
                _ = na.diffusion.sampleBatch(normalizedConditions: s.baseAddress!, count: b, initialNoise: w.baseAddress!, generator: &gen)
            }
        }
        var sa = [Float](), sw = [Float]()
        for r in 0 ..< b {
            sa += states[r * o ..< (r + 1) * o] + (0 ..< e).map { na.diffusion.candidate(r)[1 + $0] }
            sw += states[r * o ..< (r + 1) * o] + noise[r * n ..< (r + 1) * n].map { $0 / 1.5 }
        }
        var qa = [Float](repeating: 0, count: b), qw = qa
        sa.withUnsafeBufferPointer { p in qa.withUnsafeMutableBufferPointer { estimateMinQ(na.actionCritics, p.baseAddress!, b, $0.baseAddress!) } }
        sw.withUnsafeBufferPointer { p in qw.withUnsafeMutableBufferPointer { na.estimateQ(p.baseAddress!, batch: b, output: $0.baseAddress!) } }
        let errors = zip(qa, qw).map { Double($0 - $1) }
        let rmse = sqrt(errors.map { $0 * $0 }.reduce(0, +) / Double(b))
        let spread = Statistics.standardDeviation(qa.map(Double.init))
        #expect(spread > 0.05, "targets should vary with the noise (spread \(spread))")
        #expect(rmse < 0.3 * spread, "Q^W misses Q^A∘π_dp by \(rmse) (spread of Q^A \(spread))")
    }

    @Test func updateAllocatesNothing() throws {
        let na = try NoiseAliasingTests.learner(seed: 2)
        let t = try NoiseAliasingTests.trainer(na, steps: 300, seed: 2)
        while t.step < 210 { t.advance() }
        var gen = RandomGenerator(seed: 3)
        #expect(rx_allocation_counter_active() == 1)
        let before = rx_thread_allocation_count()
        for _ in 0 ..< 5 { na.update(t.buffer, generator: &gen) }
        #expect(rx_thread_allocation_count() - before == 0)
    }

    /// A run checkpointed at an episode boundary and resumed in fresh objects ends bit for bit where the straight run
    /// ends (both critic pairs, actor, α and Adam moments are in the checkpoint).
    @Test func resumedRunMatchesTheStraightRun() throws {
        let dir = RunDirectory(path: NSTemporaryDirectory() + "na-run-\(UUID().uuidString)")
        try dir.create()
        defer { try? FileManager.default.removeItem(atPath: dir.path) }
        let straight = try NoiseAliasingTests.trainer(try NoiseAliasingTests.learner(seed: 8), steps: 400, seed: 8)
        while !straight.finished { straight.advance() }
        let first = try NoiseAliasingTests.trainer(try NoiseAliasingTests.learner(seed: 8), steps: 400, seed: 8)
        while first.step < 250 || !first.atEpisodeBoundary { first.advance() }
        try dir.saveCheckpoint(first)
        let resumed = try NoiseAliasingTests.trainer(try NoiseAliasingTests.learner(seed: 9), steps: 400, seed: 8)
        try RunDirectory.loadCheckpoint(dir.latestCheckpoint, into: resumed)
        while !resumed.finished { resumed.advance() }
        for (x, y) in zip(straight.learner.namedState(), resumed.learner.namedState()) {
            #expect(x.name == y.name && x.tensor.scalars == y.tensor.scalars, "\(x.name)")
        }
        #expect(resumed.generator.state == straight.generator.state)
    }

    /// Save, load into a learner built from another seed, and both take the same next update bit for bit.
    @Test func checkpointRoundTripGivesTheSameNextUpdate() throws {
        let a = try NoiseAliasingTests.learner(seed: 4)
        let t = try NoiseAliasingTests.trainer(a, steps: 300, seed: 4)
        while !t.finished { t.advance() }
        let path = NSTemporaryDirectory() + "na-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writeSafetensors(a.namedState(), to: path, metadata: a.metadata())
        let b = try NoiseAliasingTests.learner(seed: 5)
        try b.load(from: try SafetensorsFile(path: path))
        #expect(b.updates == a.updates)
        var ga = RandomGenerator(seed: 6), gb = ga
        let ma = a.update(t.buffer, generator: &ga), mb = b.update(t.buffer, generator: &gb)
        #expect(ma == mb)
        for (x, y) in zip(a.namedState(), b.namedState()) {
            #expect(x.name == y.name && x.tensor.scalars == y.tensor.scalars, "\(x.name)")
        }
        // A SAC checkpoint is refused by name.
        var gen = RandomGenerator(seed: 1)
        let sac = try SAC(observationSize: 2, actionSize: 4, config: NoiseAliasingTests.config(), generator: &gen)
        try writeSafetensors(sac.namedState(), to: path, metadata: sac.metadata())
        #expect(throws: ReflexError.self) { try b.load(from: try SafetensorsFile(path: path)) }
    }
}

/// min over the twins of critic column 0, for a test's single batch.
private func estimateMinQ(_ critics: CriticEnsemble, _ input: UnsafePointer<Float>, _ batch: Int, _ output: UnsafeMutablePointer<Float>) {
    let a = Tensor(zeros: [batch]), b = Tensor(zeros: [batch])
    let ws = MLPWorkspace(config: critics.networks[0].config, maxBatch: batch)
    critics.networks[0].evaluate(input, batch: batch, output: a.data, workspace: ws)
    critics.networks[1].evaluate(input, batch: batch, output: b.data, workspace: ws)
    for r in 0 ..< batch { output[r] = min(a.data[r], b.data[r]) }
}
