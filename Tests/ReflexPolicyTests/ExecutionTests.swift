import AllocationCounter
import Foundation
import ReflexCore
import ReflexNN
import Testing

@testable import ReflexPolicy

/// The exact x₀-predictor for data N(μ, s²I): x̂₀ = μ + k_t (x_t − √ᾱ_t μ) with k_t = √ᾱ_t s² / (ᾱ_t s² + 1 − ᾱ_t).
/// Its Jacobian is k_t I, so guidance has a known direction.
final class GaussianDenoiser: GuidableDenoiser {
    let horizon = 6, actionSize = 2, conditionSize = 1, maxBatch = 1
    let scheduler: NoiseScheduler
    let mean: Float = 0.1, variance: Float = 0.25
    var k: Float = 0

    init(scheduler: NoiseScheduler) { self.scheduler = scheduler }

    func predict(_ x: UnsafePointer<Float>, timestep t: Int, condition: UnsafePointer<Float>, conditionBatch: Int,
                 batch: Int, output: UnsafeMutablePointer<Float>) {
        let a = scheduler.alphaBar(t)
        k = a.squareRoot() * variance / (a * variance + 1 - a)
        for i in 0 ..< batch * chunkSize { output[i] = mean + k * (x[i] - a.squareRoot() * mean) }
    }

    func predictForGuidance(_ x: UnsafePointer<Float>, timestep t: Int, condition: UnsafePointer<Float>,
                            output: UnsafeMutablePointer<Float>) {
        predict(x, timestep: t, condition: condition, conditionBatch: 1, batch: 1, output: output)
    }

    func vectorJacobianProduct(_ v: UnsafePointer<Float>, into result: UnsafeMutablePointer<Float>) {
        for i in 0 ..< chunkSize { result[i] = k * v[i] }
    }
}

/// A stub whose chunk made at step t holds t·100 + j at index j, so the executed sequence shows which chunk and
/// index each step ran; it records the contexts it was called with.
final class StampPolicy: Policy {
    let config: PolicyConfig
    var time = 0
    var contexts: [ChunkContext] = []
    init(horizon: Int = 8, actionSteps: Int = 4) throws {
        config = PolicyConfig(kind: .bc, observationSize: 1, actionSize: 1, nObsSteps: 1, horizon: horizon,
                              nActionSteps: actionSteps,
                              normalization: .init(observation: .identity(size: 1), action: .identity(size: 1)),
                              network: .init(hiddenSizes: [1]))
    }
    func reset() {}
    func predictChunk(history: UnsafePointer<Float>, stepsExecuted: Int, output: UnsafeMutablePointer<Float>,
                      generator: inout RandomGenerator) -> InferenceInfo {
        for j in 0 ..< config.horizon { output[j] = history[0] * 100 + Float(j) }
        return InferenceInfo(networkEvaluations: 1, warmStarted: false)
    }
    func predictChunk(history: UnsafePointer<Float>, context: ChunkContext, output: UnsafeMutablePointer<Float>,
                      generator: inout RandomGenerator) -> InferenceInfo {
        contexts.append(context)
        return predictChunk(history: history, stepsExecuted: context.stepsExecuted, output: output, generator: &generator)
    }
}

/// A small diffusion policy over a random MLP denoiser (identity normalization, no gripper), horizon 8.
func randomDiffusionPolicy(sampler: SamplerSpec = .ddim(steps: 5, eta: 0), prediction: PredictionType = .sample,
                           seed: UInt64 = 7) throws -> DiffusionPolicy {
    let config = PolicyConfig(kind: .diffusion, observationSize: 3, actionSize: 2, nObsSteps: 2, horizon: 8,
                              nActionSteps: 4,
                              normalization: .init(observation: .identity(size: 3), action: .identity(size: 2)),
                              network: .init(hiddenSizes: [32, 32], activation: .mish, layerNorm: true, timeEmbeddingSize: 8),
                              scheduler: NoiseScheduler.Config(predictionType: prediction), sampler: sampler)
    var gen = RandomGenerator(seed: seed)
    let mlp = MLP(config: config.network.mlp(horizon: 8, actionSize: 2, conditionSize: config.conditionSize), generator: &gen)
    let denoiser = MLPDenoiser(config: config.network, network: mlp, horizon: 8, actionSize: 2,
                               conditionSize: config.conditionSize, trainTimesteps: 100, maxBatch: 1)
    return try DiffusionPolicy(config: config, denoiser: denoiser)
}

/// The synchronous runner as it was before delays (a copy), to show that D = 0 changes nothing.
final class ReferenceRunner {
    let policy: Policy
    let actionSteps: Int
    let history: ObservationHistory
    var chunk: [Float]
    var queued = 0, nextIndex = 0, executedSinceChunk = 0, started = false
    init(policy: Policy, actionSteps: Int) {
        self.policy = policy
        self.actionSteps = actionSteps
        history = ObservationHistory(steps: policy.config.nObsSteps, observationSize: policy.config.observationSize)
        chunk = [Float](repeating: 0, count: policy.config.horizon * policy.config.actionSize)
    }
    func step(observation: [Float], generator: inout RandomGenerator) -> [Float] {
        let c = policy.config
        if !started { history.fill(with: observation); started = true } else { history.push(observation) }
        if queued == 0 {
            _ = chunk.withUnsafeMutableBufferPointer {
                policy.predictChunk(history: history.data, stepsExecuted: executedSinceChunk, output: $0.baseAddress!,
                                    generator: &generator)
            }
            queued = actionSteps
            nextIndex = c.nObsSteps - 1
            executedSinceChunk = 0
        }
        let a = Array(chunk[nextIndex * c.actionSize ..< (nextIndex + 1) * c.actionSize])
        nextIndex += 1
        queued -= 1
        executedSinceChunk += 1
        return a
    }
}

@Suite struct ExecutionTests {
    @Test func strategiesParseAndRejectNonsense() throws {
        #expect(try ExecutionStrategy(parsing: "ensemble:0.05") == .ensemble(m: 0.05))
        #expect(try ExecutionStrategy(parsing: "rtc") == .rtc(beta: 5))
        for text in ["sync", "naive", "ensemble", "ensemble:0.5", "rti-delay", "rtc", "rtc:2.0", "rtc-replace"] {
            #expect(try ExecutionStrategy(parsing: text).description == text)
        }
        for bad in ["", "async", "rtc:-1", "ensemble:x", "naive:2", "rtc-replace:1"] {
            #expect(throws: ReflexError.self, "\(bad)") { try ExecutionStrategy(parsing: bad) }
        }
    }

    @Test func softMaskIsOneOnThePrefixThenDecaysExponentiallyToZero() {
        var w = [Float](repeating: -1, count: 10)
        rtcPrefixWeights(frozen: 3, overlapEnd: 8, horizon: 10, into: &w)
        func expected(_ j: Int) -> Float {
            let c = Float(8 - j) / 6
            return c * (expf(c) - 1) / (Float(M_E) - 1)
        }
        #expect(Array(w[0 ..< 3]) == [1, 1, 1])
        for j in 3 ..< 8 { #expect(abs(w[j] - expected(j)) < 1e-6, "w[\(j)] = \(w[j])") }
        #expect(abs(w[3] - 0.6310) < 1e-4) // c = 5/6
        #expect(zip(w[3 ..< 8], w[4 ..< 8]).allSatisfy { $0 > $1 })
        #expect(Array(w[8...]) == [0, 0])
        // A prefix that runs past the overlap is cut at its end.
        rtcPrefixWeights(frozen: 6, overlapEnd: 4, horizon: 10, into: &w)
        #expect(w == [1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    }

    @Test func delayedChunksArriveLateAndThePreviousOneKeepsExecuting() throws {
        let policy = try StampPolicy()
        let runner = PolicyRunner(policy: policy, delay: 2, strategy: .naive)
        var gen = RandomGenerator(seed: 1)
        var executed: [Float] = [], boundaries: [Int] = []
        var a: Float = 0
        for t in 0 ..< 14 {
            var o = Float(t)
            runner.step(observation: &o, action: &a, generator: &gen)
            executed.append(a)
            if runner.atChunkBoundary { boundaries.append(t) }
        }
        // Chunk 0 waits (the first), runs steps 0–5; chunk 4 arrives at 6 entering at its index 2; chunk 8 at 10.
        #expect(executed == [0, 1, 2, 3, 4, 5, 402, 403, 404, 405, 802, 803, 804, 805])
        #expect(boundaries == [6, 10])
        #expect(policy.contexts.map(\.stepsExecuted) == [0, 4, 2, 2])
        #expect(policy.contexts.map(\.stepsSinceObservation) == [0, 4, 4, 4])
        #expect(policy.contexts.map(\.delay) == [0, 2, 2, 2])
        #expect(runner.heldSteps == 0)
    }

    @Test func aChunkThatRunsOutHoldsItsLastActionAndCountsIt() throws {
        let runner = PolicyRunner(policy: try StampPolicy(), delay: 5, strategy: .naive)
        var gen = RandomGenerator(seed: 1)
        var executed: [Float] = []
        var a: Float = 0
        for t in 0 ..< 11 {
            var o = Float(t)
            runner.step(observation: &o, action: &a, generator: &gen)
            executed.append(a)
        }
        // Chunk 0 covers steps 0–7; chunk 4 arrives only at 9.
        #expect(executed == [0, 1, 2, 3, 4, 5, 6, 7, 7, 405, 406])
        #expect(runner.heldSteps == 1)
    }

    @Test func ensemblingAveragesOverlappingChunksWithACTsWeights() throws {
        let m: Float = 0.5
        let runner = PolicyRunner(policy: try StampPolicy(), actionSteps: 2, strategy: .ensemble(m: m))
        var gen = RandomGenerator(seed: 1)
        var executed: [Float] = []
        var a: Float = 0
        for t in 0 ..< 5 {
            var o = Float(t)
            runner.step(observation: &o, action: &a, generator: &gen)
            executed.append(a)
        }
        // Step 2: chunk 0 (index 2 = 2) weight 1, chunk 2 (index 0 = 200) weight e^−m.
        let w1 = expf(-m), w2 = expf(-2 * m)
        #expect(abs(executed[2] - (2 + w1 * 200) / (1 + w1)) < 1e-3)
        // Step 4: chunks 0, 2, 4 at indices 4, 2, 0.
        #expect(abs(executed[4] - (4 + w1 * 202 + w2 * 400) / (1 + w1 + w2)) < 1e-3)
    }

    @Test(arguments: [ExecutionStrategy.sync, .naive])
    func noDelayReproducesTheSynchronousRunnerExactly(_ strategy: ExecutionStrategy) throws {
        for sampler in [SamplerSpec.ddim(steps: 5, eta: 0), .ddpm(steps: 10), .rti(schedule: [2, 1, 0], variant: .official, first: .ddim(steps: 5))] {
            let reference = ReferenceRunner(policy: try randomDiffusionPolicy(sampler: sampler), actionSteps: 3)
            let runner = PolicyRunner(policy: try randomDiffusionPolicy(sampler: sampler), actionSteps: 3,
                                      delay: strategy == .sync ? 4 : 0, strategy: strategy)
            var g1 = RandomGenerator(seed: 9), g2 = RandomGenerator(seed: 9)
            var a = [Float](repeating: 0, count: 2)
            for t in 0 ..< 20 {
                let o: [Float] = [Float(t) * 0.1, -0.2, 0.3]
                let expected = reference.step(observation: o, generator: &g1)
                runner.step(observation: o, action: &a, generator: &g2)
                #expect(a == expected, "\(sampler) step \(t)")
            }
        }
    }

    @Test(arguments: [ExecutionStrategy.rtc(beta: 5), .rtcReplace])
    func theFrozenPrefixIsExactlyThePreviousChunk(_ strategy: ExecutionStrategy) throws {
        for sampler in [SamplerSpec.ddim(steps: 5, eta: 0), .ddpm(steps: 10)] {
            let policy = try randomDiffusionPolicy(sampler: sampler)
            var gen = RandomGenerator(seed: 3)
            let history: [Float] = [0.1, 0.2, 0.3, 0.1, 0.2, 0.35]
            var previous = [Float](repeating: 0, count: 16), next = previous
            _ = policy.predictChunk(history: history, context: ChunkContext(stepsExecuted: 0), output: &previous, generator: &gen)
            let info = policy.predictChunk(history: history, context: ChunkContext(stepsExecuted: 2, stepsSinceObservation: 4,
                                                                                  delay: 2, strategy: strategy),
                                           output: &next, generator: &gen)
            // Frozen: n_obs_steps − 1 + D = 3 actions, equal to the previous chunk's indices 4, 5, 6.
            #expect(Array(next[0 ..< 6]) == Array(previous[8 ..< 14]), "\(strategy) \(sampler)")
            #expect(Array(next[6 ..< 8]) != Array(previous[14 ..< 16]))
            #expect(info.guidanceProducts == (strategy == .rtcReplace ? 0 : info.networkEvaluations))
        }
    }

    @Test func guidancePullsTheOverlapTowardThePreviousChunk() {
        let s = NoiseScheduler(NoiseScheduler.Config(predictionType: .sample))
        let d = GaussianDenoiser(scheduler: s)
        let sampler = DiffusionSampler(denoiser: d, scheduler: s)
        let h = d.horizon, n = d.chunkSize
        let target: [Float] = (0 ..< n).map { Float($0 % 5) * 0.3 - 0.6 }
        var w = [Float](repeating: 0, count: h)
        rtcPrefixWeights(frozen: 1, overlapEnd: 5, horizon: h, into: &w)
        let cond: [Float] = [0]
        func distance(_ mode: InpaintingMode?, _ kind: SamplerKind) -> Float {
            var gen = RandomGenerator(seed: 11)
            var x = [Float](repeating: 0, count: n)
            gen.fillGaussian(&x, count: n)
            if let mode {
                _ = sampler.runInpainting(kind, sample: &x, condition: cond, target: target, weights: w, frozen: 0,
                                          mode: mode, generator: &gen)
            } else {
                sampler.run(kind, sample: &x, batch: 1, condition: cond, conditionBatch: 1, generator: &gen)
            }
            // Weighted distance over the soft part of the overlap (the frozen prefix is not overwritten here).
            var sum: Float = 0
            for i in 0 ..< n { sum += w[i / d.actionSize] * (x[i] - target[i]) * (x[i] - target[i]) }
            return sum
        }
        for kind in [SamplerKind.ddim(timesteps: s.leadingTimesteps(10), eta: 0), .ddpm(timesteps: s.leadingTimesteps(20))] {
            let free = distance(nil, kind), guided = distance(.guided(beta: 5), kind), replaced = distance(.replace, kind)
            // Reached: guided 0.039 (DDIM) and 0.081 (DDPM) of the unguided distance; replaced 0.011 and 0.014.
            #expect(guided < 0.15 * free, "\(kind): guided \(guided) vs unguided \(free)")
            #expect(replaced < 0.05 * free, "\(kind): replaced \(replaced) vs unguided \(free)")
        }
    }

    @Test func mlpDenoiserVJPMatchesFiniteDifferences() throws {
        var gen = RandomGenerator(seed: 5)
        let config = MLPDenoiserConfig(hiddenSizes: [24, 24], activation: .mish, layerNorm: true, timeEmbeddingSize: 8)
        let mlp = MLP(config: config.mlp(horizon: 4, actionSize: 2, conditionSize: 3), generator: &gen)
        let d = MLPDenoiser(config: config, network: mlp, horizon: 4, actionSize: 2, conditionSize: 3, trainTimesteps: 100,
                            maxBatch: 1)
        let n = 8
        var x = [Float](repeating: 0, count: n), v = x, cond: [Float] = [0.3, -0.2, 0.5]
        gen.fillGaussian(&x, count: n)
        gen.fillGaussian(&v, count: n)
        var out = [Float](repeating: 0, count: n), vjp = out
        d.predictForGuidance(x, timestep: 37, condition: &cond, output: &out)
        d.vectorJacobianProduct(v, into: &vjp)
        var plain = [Float](repeating: 0, count: n)
        d.predict(x, timestep: 37, condition: cond, conditionBatch: 1, batch: 1, output: &plain)
        #expect(zip(out, plain).allSatisfy { abs($0 - $1) < 1e-5 })
        // Central differences of vᵀ f(x) in double-precision bookkeeping; float32 network, step 1e-2.
        let eps: Float = 1e-2
        var worst: Float = 0
        for i in 0 ..< n {
            var xp = x, xm = x
            xp[i] += eps
            xm[i] -= eps
            var fp = plain, fm = plain
            d.predict(xp, timestep: 37, condition: cond, conditionBatch: 1, batch: 1, output: &fp)
            d.predict(xm, timestep: 37, condition: cond, conditionBatch: 1, batch: 1, output: &fm)
            var fd: Double = 0
            for k in 0 ..< n { fd += Double(v[k]) * Double(fp[k] - fm[k]) }
            fd /= Double(2 * eps)
            worst = max(worst, abs(Float(fd) - vjp[i]) / max(1, abs(vjp[i])))
        }
        #expect(worst < 1e-4, "worst relative error \(worst)") // reached 1.6e-5
    }

    @Test func rtiWithTheDelayShiftsByTheTimeSinceThePreviousObservation() throws {
        let sampler = SamplerSpec.rti(schedule: [2, 1, 0], variant: .official, first: .ddim(steps: 5))
        let history: [Float] = [0.1, 0.2, 0.3, 0.1, 0.2, 0.35]
        func chunk(_ context: ChunkContext?, steps: Int = 0) throws -> [Float] {
            let policy = try randomDiffusionPolicy(sampler: sampler)
            var gen = RandomGenerator(seed: 4)
            var out = [Float](repeating: 0, count: 16)
            _ = policy.predictChunk(history: history, context: ChunkContext(stepsExecuted: 0), output: &out, generator: &gen)
            if let context {
                _ = policy.predictChunk(history: history, context: context, output: &out, generator: &gen)
            } else {
                _ = policy.predictChunk(history: history, stepsExecuted: steps, output: &out, generator: &gen)
            }
            return out
        }
        let delayed = try chunk(ChunkContext(stepsExecuted: 2, stepsSinceObservation: 4, delay: 2, strategy: .rtiDelay))
        let naive = try chunk(ChunkContext(stepsExecuted: 2, stepsSinceObservation: 4, delay: 2, strategy: .naive))
        #expect(delayed == (try chunk(nil, steps: 4)))
        #expect(naive == (try chunk(nil, steps: 2)))
        #expect(delayed != naive)
    }

    @Test func guidedInpaintingAllocatesNothing() throws {
        let policy = try randomDiffusionPolicy(sampler: .ddpm(steps: 10))
        let runner = PolicyRunner(policy: policy, actionSteps: 4, delay: 2, strategy: .rtc(beta: 5))
        var gen = RandomGenerator(seed: 2)
        var o: [Float] = [0.1, 0.2, 0.3], a: [Float] = [0, 0]
        for t in 0 ..< 12 { o[0] = Float(t) * 0.01; runner.step(observation: o, action: &a, generator: &gen) }
        let before = rx_thread_allocation_count()
        var products = 0
        for t in 0 ..< 40 {
            o[0] = Float(t) * 0.01
            if let info = runner.step(observation: o, action: &a, generator: &gen) { products += info.guidanceProducts }
        }
        #expect(rx_thread_allocation_count() - before == 0)
        #expect(products == 10 * 10)
    }
}

@Suite struct AnytimeDenoisingTests {
    @Test func aPassedDeadlineReturnsTheFirstStepsX0Estimate() throws {
        let s = NoiseScheduler(NoiseScheduler.Config(predictionType: .sample))
        let d = GaussianDenoiser(scheduler: s)
        let sampler = DiffusionSampler(denoiser: d, scheduler: s)
        let n = d.chunkSize
        let kind = SamplerKind.ddim(timesteps: s.leadingTimesteps(10), eta: 0)
        var gen = RandomGenerator(seed: 3)
        var x = [Float](repeating: 0, count: n)
        gen.fillGaussian(&x, count: n)
        // The x₀ estimate of the first step, by hand (clipped to ±1 as the scheduler does).
        var expected = [Float](repeating: 0, count: n)
        d.predict(x, timestep: 90, condition: [0], conditionBatch: 1, batch: 1, output: &expected)
        expected = expected.map { min(max($0, -1), 1) }
        let evals = sampler.run(kind, sample: &x, batch: 1, condition: [0], conditionBatch: 1, generator: &gen, deadline: 1)
        #expect(evals == 1)
        #expect(sampler.stoppedEarly)
        #expect(x == expected)
        // A deadline far away changes nothing.
        var y = [Float](repeating: 0, count: n), z = y
        gen.fillGaussian(&y, count: n)
        z = y
        var g1 = RandomGenerator(seed: 1), g2 = RandomGenerator(seed: 1)
        #expect(sampler.run(kind, sample: &y, batch: 1, condition: [0], conditionBatch: 1, generator: &g1, deadline: .max) == 10)
        #expect(!sampler.stoppedEarly)
        sampler.run(kind, sample: &z, batch: 1, condition: [0], conditionBatch: 1, generator: &g2)
        #expect(y == z)
    }

    @Test(arguments: [ExecutionStrategy.naive, .rtc(beta: 5), .rtcReplace])
    func aPolicyCallPastItsDeadlineSaysSo(_ strategy: ExecutionStrategy) throws {
        let policy = try randomDiffusionPolicy(sampler: .ddim(steps: 5, eta: 0))
        var gen = RandomGenerator(seed: 3)
        let history: [Float] = [0.1, 0.2, 0.3, 0.1, 0.2, 0.35]
        var previous = [Float](repeating: 0, count: 16), next = previous
        _ = policy.predictChunk(history: history, context: ChunkContext(stepsExecuted: 0), output: &previous, generator: &gen)
        let info = policy.predictChunk(history: history, context: ChunkContext(stepsExecuted: 2, stepsSinceObservation: 4, delay: 2,
                                                                              strategy: strategy, deadline: 1),
                                       output: &next, generator: &gen)
        #expect(info.stoppedEarly)
        #expect(info.networkEvaluations == 1)
        if strategy != .naive { #expect(Array(next[0 ..< 6]) == Array(previous[8 ..< 14])) } // still frozen
    }
}
