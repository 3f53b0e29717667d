import Foundation
import ReflexCore
import Testing

@testable import ReflexPolicy

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

private struct SchedulerFixture: Decodable {
    struct Row: Decodable {
        var t: Int
        var previous: Int
        var sample: [Float]
        var model_output: [Float]
        var noise: [Float]?
        var expected: [Float]
    }

    struct Case: Decodable {
        var kind: String
        var steps: Int
        var eta: Float
        var timesteps: [Int]
        var config: [String: String]
        var rows: [Row]

        enum CodingKeys: String, CodingKey { case kind, steps, eta, timesteps, config, rows }
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            kind = try c.decode(String.self, forKey: .kind)
            steps = try c.decode(Int.self, forKey: .steps)
            eta = try c.decode(Float.self, forKey: .eta)
            timesteps = try c.decode([Int].self, forKey: .timesteps)
            rows = try c.decode([Row].self, forKey: .rows)
            // config values are strings or booleans in the fixture
            let raw = try c.decode([String: FlexibleString].self, forKey: .config)
            config = raw.mapValues(\.value)
        }
    }

    struct FlexibleString: Decodable {
        var value: String
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { value = b ? "true" : "false" } else { value = try c.decode(String.self) }
        }
    }

    var squaredcos_alphas_cumprod: [Float]
    var squaredcos_betas: [Float]
    var linear_alphas_cumprod: [Float]
    var cases: [Case]
}

private func load() throws -> SchedulerFixture {
    try JSONDecoder().decode(SchedulerFixture.self, from: Data(contentsOf: URL(fileURLWithPath: fixtures + "/schedulers.json")))
}

@Suite struct SchedulerTests {
    @Test func schedulesMatchDiffusers() throws {
        let f = try load()
        let cos = NoiseScheduler()
        for (a, b) in zip(cos.betas, f.squaredcos_betas) { #expect(a == b) }
        for (a, b) in zip(cos.alphasCumprod, f.squaredcos_alphas_cumprod) { #expect(a == b) }
        let lin = NoiseScheduler(.init(betaSchedule: .linear))
        for (a, b) in zip(lin.alphasCumprod, f.linear_alphas_cumprod) { #expect(a == b) } // bit-identical to diffusers
    }

    @Test func reverseStepsMatchDiffusers() throws {
        let f = try load()
        var checked = 0
        for c in f.cases {
            var config = NoiseScheduler.Config()
            if c.config["prediction_type"] == "sample" { config.predictionType = .sample }
            if c.config["clip_sample"] == "false" { config.clipSample = false }
            if c.config["beta_schedule"] == "linear" { config.betaSchedule = .linear }
            let s = NoiseScheduler(config)
            #expect(s.leadingTimesteps(c.steps) == c.timesteps, "\(c.kind) \(c.steps) timesteps")
            for row in c.rows {
                var sample = row.sample
                var x0 = [Float](repeating: 0, count: sample.count)
                if c.kind == "ddpm" {
                    s.ddpmStep(modelOutput: row.model_output, t: row.t, previous: row.previous, sample: &sample,
                               count: sample.count, noise: row.noise, x0: &x0)
                } else {
                    s.ddimStep(modelOutput: row.model_output, t: row.t, previous: row.previous, sample: &sample,
                               count: sample.count, eta: c.eta, noise: row.noise, x0: &x0)
                }
                let err = zip(sample, row.expected).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
                // bit-identical to diffusers here; float32 on both sides, no contraction
                #expect(err == 0, "\(c.kind) steps \(c.steps) \(c.config) t=\(row.t): max error \(err)")
                checked += 1
            }
        }
        #expect(checked > 40)
    }

    @Test func addNoiseIsTheForwardProcess() {
        let s = NoiseScheduler()
        var x: [Float] = [0.5, -1]
        let eps: [Float] = [1, 2]
        s.addNoise(&x, noise: eps, t: 10, count: 2)
        let a = s.alphasCumprod[10]
        #expect(abs(x[0] - (a.squareRoot() * 0.5 + (1 - a).squareRoot())) < 1e-6)
        #expect(abs(x[1] - (-a.squareRoot() + 2 * (1 - a).squareRoot())) < 1e-6)
    }
}

@Suite struct NormalizerTests {
    @Test func minMaxMapsTheRangeToPlusMinusOneAndInverts() throws {
        let n = try Normalizer.minMax(min: [0, -2, 5], max: [10, 2, 5])
        var x: [Float] = [0, 2, 5, 10, -2, 5]
        n.normalize(&x, rows: 2)
        #expect(x[0] == -1 && x[1] == 1 && x[3] == 1 && x[4] == -1)
        #expect(x[2] == -1) // zero range: (x - min) = 0 → −1, as LeRobot's eps substitution gives
        n.unnormalize(&x, rows: 2)
        #expect(abs(x[0]) < 1e-6 && abs(x[1] - 2) < 1e-6 && abs(x[3] - 10) < 1e-5)
    }

    @Test func meanStdAndLegacyMinMax() throws {
        let n = try Normalizer.meanStd(mean: [1], std: [2])
        var x: [Float] = [5]
        n.normalize(&x)
        #expect(abs(x[0] - 2) < 1e-6)
        // A range of 1e-8: LeRobot 0.4 gives 2·1e-8/1e-8 − 1 = 1; the legacy form 2·1e-8/(2e-8) − 1 = 0.
        let legacy = try Normalizer.minMax(min: [0], max: [1e-8], legacy: true)
        let modern = try Normalizer.minMax(min: [0], max: [1e-8])
        var y: [Float] = [1e-8], z: [Float] = [1e-8]
        legacy.normalize(&y)
        modern.normalize(&z)
        #expect(abs(y[0]) < 1e-6)
        #expect(abs(z[0] - 1) < 1e-6)
    }

    @Test func mismatchedStatsAreAClearError() {
        #expect(throws: ReflexError.self) { try Normalizer.minMax(min: [0, 1], max: [1]) }
    }
}
