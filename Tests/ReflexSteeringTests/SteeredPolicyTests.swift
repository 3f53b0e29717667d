import ReflexCore
import ReflexNN
import ReflexPolicy
import Testing

@testable import ReflexSteering

/// A noise source that writes a known pattern, distinct per candidate and per call.
final class PatternNoise: LatentNoiseSource {
    var calls = 0
    func noise(condition: UnsafePointer<Float>, count: Int, output: UnsafeMutablePointer<Float>,
               generator: inout RandomGenerator) {
        calls += 1
        for i in 0 ..< count * 4 { output[i] = Float(calls) * 0.1 + Float(i) * 0.25 - 1 }
    }
}

/// The denoiser's first input of every call, and ε̂ = 0 out.
final class FirstInputRecorder: Denoiser {
    let horizon = 4, actionSize = 1, conditionSize = 2, maxBatch = 2
    var calls: [[Float]] = []
    var pending = true
    func predict(_ x: UnsafePointer<Float>, timestep t: Int, condition: UnsafePointer<Float>, conditionBatch: Int,
                 batch: Int, output: UnsafeMutablePointer<Float>) {
        if pending { calls.append(Array(UnsafeBufferPointer(start: x, count: batch * 4))); pending = false }
        output.update(repeating: 0, count: batch * 4)
    }
}

func recordedPolicy(_ sampler: SamplerSpec) throws -> (DiffusionPolicy, FirstInputRecorder) {
    var config = PolicyConfig(kind: .diffusion, observationSize: 1, actionSize: 1, nObsSteps: 2, horizon: 4, nActionSteps: 3,
                              normalization: .init(observation: .identity(size: 1), action: .identity(size: 1)),
                              network: .init(hiddenSizes: [8]), scheduler: NoiseScheduler.Config(), sampler: sampler)
    config.scheduler?.clipSample = false
    let d = FirstInputRecorder()
    return (try DiffusionPolicy(config: config, denoiser: d), d)
}

@Suite struct SteeredPolicyTests {
    /// DSRL with the official RTI warm start would steer only each episode's first chunk: refused, with the reason.
    @Test func dsrlWithTheOfficialWarmStartIsRefused() throws {
        let (policy, _) = try recordedPolicy(.rti(schedule: [2, 1, 0], variant: .official))
        #expect {
            _ = try SteeredPolicy(base: policy, noiseSource: PatternNoise())
        } throws: { ($0 as? ReflexError)?.message.contains("rti-renoise") == true }
        let (renoise, _) = try recordedPolicy(.rti(schedule: [2, 1, 0], variant: .renoise))
        _ = try SteeredPolicy(base: renoise, noiseSource: PatternNoise())
        let (ddim, _) = try recordedPolicy(.ddim(steps: 10, eta: 0))
        _ = try SteeredPolicy(base: ddim, noiseSource: PatternNoise())
    }

    /// Under the re-noised warm start the actor's noise steers every chunk: the first chunk starts from it, and each
    /// warm-started one is the shifted previous chunk taken to k0 through it.
    @Test func theActorsNoiseReNoisesEveryWarmStart() throws {
        let (policy, d) = try recordedPolicy(.rti(schedule: [20, 5, 0], variant: .renoise, first: .ddim(steps: 4)))
        let noise = PatternNoise()
        let steered = try SteeredPolicy(base: policy, noiseSource: noise)
        var gen = RandomGenerator(seed: 1)
        let history: [Float] = [0.1, 0.2]
        var first = [Float](repeating: 0, count: 4), second = first
        let i1 = steered.predictChunk(history: history, stepsExecuted: 0, output: &first, generator: &gen)
        #expect(i1 == InferenceInfo(networkEvaluations: 4, warmStarted: false))
        let w1: [Float] = (0 ..< 4).map { i in Float(1) * 0.1 + Float(i) * 0.25 - 1 }
        #expect(d.calls[0] == w1, "the first chunk starts from the actor's noise")
        d.pending = true
        let i2 = steered.predictChunk(history: history, stepsExecuted: 1, output: &second, generator: &gen)
        #expect(i2 == InferenceInfo(networkEvaluations: 3, warmStarted: true))
        let w: [Float] = (0 ..< 4).map { i in Float(2) * 0.1 + Float(i) * 0.25 - 1 }
        let shifted = [first[1], first[2], first[3], first[3]] // identity normalization: raw = network space
        let ab = policy.scheduler.alphaBar(20)
        for i in 0 ..< 4 {
            let expected = ab.squareRoot() * shifted[i] + (1 - ab).squareRoot() * w[i]
            #expect(abs(d.calls[1][i] - expected) <= 1e-6 * max(1, abs(expected)), "value \(i): \(d.calls[1][i]) vs \(expected)")
        }
        #expect(noise.calls == 2)
    }
}
