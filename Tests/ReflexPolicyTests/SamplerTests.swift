import AllocationCounter
import ReflexCore
import Testing

@testable import ReflexPolicy

/// The exact ε-predictor for data concentrated at one chunk c: ε̂(x_t, t) = (x_t − √ᾱ_t c) / √(1 − ᾱ_t).
/// Any correct sampler must land on c from any starting noise.
final class PointMassDenoiser: Denoiser {
    let horizon = 4, actionSize = 3, conditionSize = 2, maxBatch = 8
    let scheduler: NoiseScheduler
    let target: [Float]
    var calls = 0

    init(scheduler: NoiseScheduler, target: [Float]) {
        self.scheduler = scheduler
        self.target = target
    }

    func predict(_ x: UnsafePointer<Float>, timestep t: Int, condition: UnsafePointer<Float>, conditionBatch: Int,
                 batch: Int, output: UnsafeMutablePointer<Float>) {
        calls += 1
        let a = scheduler.alphaBar(t)
        for b in 0 ..< batch {
            // The condition shifts the target, so a test can see that each chunk got its own row.
            let shift = condition[(conditionBatch == 1 ? 0 : b) * conditionSize]
            for i in 0 ..< chunkSize {
                let k = b * chunkSize + i
                output[k] = (x[k] - a.squareRoot() * (target[i] + shift)) / (1 - a).squareRoot()
            }
        }
    }
}

@Suite struct SamplerTests {
    let target: [Float] = (0 ..< 12).map { Float($0) / 20 - 0.3 }

    @Test(arguments: [SamplerKind.ddpm(timesteps: Array((0 ..< 100).reversed())), .ddim(timesteps: [90, 60, 30, 0], eta: 0),
                      .ddim(timesteps: NoiseScheduler().leadingTimesteps(10), eta: 1)])
    func samplersRecoverAPointMass(_ kind: SamplerKind) {
        let s = NoiseScheduler()
        let d = PointMassDenoiser(scheduler: s, target: target)
        let sampler = DiffusionSampler(denoiser: d, scheduler: s)
        var gen = RandomGenerator(seed: 1)
        let x = Tensor(zeros: [3, 12])
        gen.fillGaussian(x)
        let cond: [Float] = [0, 9, 0.1, 9, -0.1, 9]
        let evals = sampler.run(kind, sample: x.data, batch: 3, condition: cond, conditionBatch: 3, generator: &gen)
        #expect(evals == kind.timesteps.count)
        #expect(d.calls == evals)
        for b in 0 ..< 3 {
            for i in 0 ..< 12 { #expect(abs(x[b, i] - (target[i] + cond[2 * b])) < 1e-4, "\(kind) chunk \(b)") }
        }
    }

    @Test func ddimAtEtaZeroIsDeterministicAndDDPMFollowsTheGenerator() {
        let s = NoiseScheduler()
        // A denoiser that is not exact, so the path (not just the end point) matters.
        final class Damped: Denoiser {
            let horizon = 2, actionSize = 2, conditionSize = 1, maxBatch = 1
            func predict(_ x: UnsafePointer<Float>, timestep t: Int, condition: UnsafePointer<Float>, conditionBatch: Int,
                         batch: Int, output: UnsafeMutablePointer<Float>) {
                for i in 0 ..< 4 { output[i] = 0.5 * x[i] + Float(t) * 0.001 }
            }
        }
        let sampler = DiffusionSampler(denoiser: Damped(), scheduler: s)
        func sample(_ kind: SamplerKind, seed: UInt64) -> [Float] {
            var noiseGen = RandomGenerator(seed: 5)
            let x = Tensor(zeros: [4])
            noiseGen.fillGaussian(x)
            var gen = RandomGenerator(seed: seed)
            sampler.run(kind, sample: x.data, batch: 1, condition: [0], conditionBatch: 1, generator: &gen)
            return x.scalars
        }
        let ddim = SamplerKind.ddim(timesteps: s.leadingTimesteps(10), eta: 0)
        #expect(sample(ddim, seed: 1) == sample(ddim, seed: 2))
        let ddpm = SamplerKind.ddpm(timesteps: s.leadingTimesteps(10))
        #expect(sample(ddpm, seed: 1) == sample(ddpm, seed: 1))
        #expect(sample(ddpm, seed: 1) != sample(ddpm, seed: 2))
    }

    @Test func samplingAllocatesNothing() {
        let s = NoiseScheduler()
        let d = PointMassDenoiser(scheduler: s, target: target)
        let sampler = DiffusionSampler(denoiser: d, scheduler: s)
        var gen = RandomGenerator(seed: 1)
        let x = Tensor(zeros: [8, 12]), cond = Tensor(zeros: [8, 2])
        let kind = SamplerKind.ddpm(timesteps: s.leadingTimesteps(20))
        sampler.run(kind, sample: x.data, batch: 8, condition: cond.data, conditionBatch: 8, generator: &gen)
        let before = rx_thread_allocation_count()
        for _ in 0 ..< 50 {
            gen.fillGaussian(x)
            sampler.run(kind, sample: x.data, batch: 8, condition: cond.data, conditionBatch: 8, generator: &gen)
        }
        #expect(rx_thread_allocation_count() - before == 0)
    }
}
