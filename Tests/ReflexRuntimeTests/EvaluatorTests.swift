import ReflexCore
import ReflexPolicy
import Testing

@testable import ReflexRuntime

/// A one-dimensional task whose outcome depends on both the start (seed) and the policy's noise: the agent must
/// move from x0 to 0; the "policy" is a diffusion-free stub that adds its generator's noise to a proportional step.
struct Line: Environment {
    var observationSpace = BoxSpace(unbounded: 1)
    var actionSpace = BoxSpace(unbounded: 1)
    var maxEpisodeSteps = 30
    var x: Float = 0
    mutating func reset(seed: UInt64, observation: inout [Float]) {
        var g = RandomGenerator(seed: seed)
        x = Float(g.uniform(-1, 1))
        observation[0] = x
    }
    mutating func step(_ action: [Float], observation: inout [Float]) -> StepOutcome {
        x = action[0]
        observation[0] = x
        let ok = abs(x) < 0.05
        return StepOutcome(reward: ok ? 0 : -1, terminated: ok, truncated: false, success: ok)
    }
}

final class NoisyPolicy: Policy {
    let config: PolicyConfig
    init() throws {
        config = PolicyConfig(kind: .bc, observationSize: 1, actionSize: 1, nObsSteps: 1, horizon: 2, nActionSteps: 2,
                              normalization: .init(observation: .identity(size: 1), action: .identity(size: 1)),
                              network: .init(hiddenSizes: [1]))
    }
    func reset() {}
    func predictChunk(history: UnsafePointer<Float>, stepsExecuted: Int, output: UnsafeMutablePointer<Float>,
                      generator: inout RandomGenerator) -> InferenceInfo {
        output[0] = history[0] * 0.5 + Float(generator.gaussian()) * 0.05
        output[1] = output[0] * 0.5
        return InferenceInfo(networkEvaluations: 7, warmStarted: false)
    }
}

@Suite struct EvaluatorTests {
    let evaluator = Evaluator(environment: { Line() }, policy: { try NoisyPolicy() })

    @Test func resultsDoNotDependOnTheNumberOfWorkers() throws {
        let one = try evaluator.run(.init(episodes: 40, seed: 3, workers: 1))
        let two = try evaluator.run(.init(episodes: 40, seed: 3, workers: 2))
        #expect(one.episodeResults.map(\.steps) == two.episodeResults.map(\.steps))
        #expect(one.episodeResults.map(\.episodeReturn) == two.episodeResults.map(\.episodeReturn))
        #expect(one.successes == two.successes)
        let other = try evaluator.run(.init(episodes: 40, seed: 4, workers: 2))
        #expect(other.episodeResults.map(\.steps) != one.episodeResults.map(\.steps))
    }

    @Test func reportCountsEvaluationsPerCallAndPerStep() throws {
        let r = try evaluator.run(.init(episodes: 20, seed: 1, workers: 2))
        #expect(r.episodes == 20)
        #expect(r.evaluationsPerCall == 7)
        // Two actions per call, so per step it is about half (the last call of an episode may use one).
        #expect(r.evaluationsPerStep > 3 && r.evaluationsPerStep <= 7)
        #expect(r.successInterval[0] <= r.successRate && r.successRate <= r.successInterval[1])
        #expect(r.latencyP50Micros > 0)
        var seeds = Set<UInt64>()
        for e in r.episodeResults { seeds.insert(e.seed) }
        #expect(seeds.count == 20)
    }

    /// Shards run exactly their episodes (k % N == I), each as the whole run has it.
    @Test func shardsPartitionTheRun() throws {
        let whole = try evaluator.run(.init(episodes: 23, seed: 5, workers: 2))
        var union: [EpisodeResult] = []
        for i in 0 ..< 4 {
            let r = try evaluator.run(.init(episodes: 23, seed: 5, workers: 2, shard: try EvaluationShard(index: i, count: 4)))
            #expect(r.episodeResults.map(\.index) == Array(stride(from: i, to: 23, by: 4)))
            #expect(r.episodes == (i < 3 ? 6 : 5))
            union += r.episodeResults
        }
        let merged = EvaluationReport(union)
        #expect(merged.episodeResults.map(\.index) == Array(0 ..< 23))
        #expect(merged.episodeResults.map(\.episodeReturn) == whole.episodeResults.map(\.episodeReturn))
        #expect(merged.episodeResults.map(\.steps) == whole.episodeResults.map(\.steps))
        #expect(merged.meanReturn == whole.meanReturn && merged.successes == whole.successes)
        #expect(throws: ReflexError.self) { try EvaluationShard(index: 4, count: 4) }
        #expect(throws: ReflexError.self) { try EvaluationShard(index: 0, count: 0) }
    }

    @Test func setUpErrorsSurfaceBeforeAnyEpisode() {
        struct Boom: Error {}
        let bad = Evaluator(environment: { throw Boom() }, policy: { try NoisyPolicy() })
        #expect(throws: Boom.self) { try bad.run(.init(episodes: 3)) }
    }
}

/// Every chunk is [1, 2, 3, 4]: with two actions per chunk the executed targets alternate 1, 2, 1, 2, …
final class SawtoothPolicy: Policy {
    let config: PolicyConfig
    init() {
        config = PolicyConfig(kind: .bc, observationSize: 1, actionSize: 1, nObsSteps: 1, horizon: 4, nActionSteps: 2,
                              normalization: .init(observation: .identity(size: 1), action: .identity(size: 1)),
                              network: .init(hiddenSizes: [1]))
    }
    func reset() {}
    func predictChunk(history: UnsafePointer<Float>, stepsExecuted: Int, output: UnsafeMutablePointer<Float>,
                      generator: inout RandomGenerator) -> InferenceInfo {
        for j in 0 ..< 4 { output[j] = Float(j + 1) }
        return InferenceInfo(networkEvaluations: 1, warmStarted: false)
    }
}

@Suite struct SmoothnessFigureTests {
    let evaluator = Evaluator(environment: { Line() }, policy: { SawtoothPolicy() })

    @Test func jerkAndBoundaryJumpOfASawtooth() throws {
        // 1, 2, 1, 2: every third difference is ±4 (1 − 3·2 + 3·1 − 2 = −4), every boundary a jump of 1.
        let r = try evaluator.run(.init(episodes: 2, seed: 0, workers: 1))
        #expect(r.meanJerk == 16)
        #expect(r.meanBoundaryJump == 1 && r.maxBoundaryJump == 1)
        #expect(r.heldSteps == 0)
    }

    @Test func aDelayShowsInTheExecutedTargets() throws {
        // D = 1: 1, 2 | 3 (the old chunk continues), 2 (the new one entered at its index 1), 3, 2, …: the same
        // jumps of 1 at boundaries (3 → 2), third differences of ±4 after the start.
        let r = try evaluator.run(.init(episodes: 1, seed: 0, workers: 1, delay: 1, execution: .naive))
        #expect(r.maxBoundaryJump == 1)
        let steps = Double(r.episodeResults[0].steps)
        // t = 3: 2 − 3·3 + 3·2 − 1 = −2; every later step ±4.
        #expect(abs(r.meanJerk - (4 + 16 * (steps - 4)) / (steps - 3)) < 1e-9)
        // D = 3 with two actions per chunk of four: the chunk runs out one step before the next arrives.
        let late = try evaluator.run(.init(episodes: 1, seed: 0, workers: 1, delay: 3, execution: .naive))
        #expect(late.heldSteps > 0)
    }
}
