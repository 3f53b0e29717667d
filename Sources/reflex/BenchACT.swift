import ArgumentParser
import Foundation
import ReflexCore
import ReflexNN

/// One chunk of LeRobot's ACT network with random weights, on LeRobot's default `ACTConfig` (resnet18, dim_model 512,
/// 8 heads, dim_feedforward 3200, 4 encoder and 1 decoder layers, chunk_size 100, latent_dim 32) with a 6-value robot
/// state and cameras of the given size.
struct BenchACT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "act",
        abstract: "Time one action chunk of LeRobot's ACT (backbone, transformer, head; random weights).",
        discussion: "Peer: Benchmarks/peers/act.py times LeRobot's own ACTPolicy.predict_action_chunk on the same shapes."
    )

    @Option(help: "Cameras.") var cameras = 1
    @Option(help: "Image height.") var height = 480
    @Option(help: "Image width.") var width = 640
    @Option(help: "Robot state values.") var state = 6
    @Option(help: "Kernel threads.") var threads = 1
    @Option(help: "Timed rounds.") var rounds = 10
    @Option(help: "Warm-up calls.") var warmup = 2
    @Flag(help: "Print JSON instead of a table.") var json = false

    struct Report: Codable {
        var threads: Int
        var simd: String
        var tokens: Int
        var multiplyAdds: Int
        var parameters: Int
        var chunk: TimingSamples
        var gflops: Double
    }

    func run() throws {
        guard cameras >= 0, height >= 32, width >= 32, threads >= 1, rounds >= 1, warmup >= 0, state >= 1 else {
            throw ValidationError("need cameras >= 0, images at least 32×32, threads and rounds >= 1")
        }
        KernelBuild.setThreads(threads)
        defer { KernelBuild.setThreads(1) }
        var gen = RandomGenerator(seed: 0)
        let config = ACTNetworkConfig(
            transformer: ACTTransformerConfig(dimModel: 512, heads: 8, dimFeedforward: 3200, activation: .relu, preNorm: false,
                                              encoderLayers: 4, decoderLayers: 1),
            chunkSize: 100, latentDim: 32, actionSize: 6, stateSize: state, environmentStateSize: cameras == 0 ? 6 : nil,
            cameras: cameras, imageSize: ImageSize(height: height, width: width))
        let network: ActionChunkingTransformer
        do {
            network = try ActionChunkingTransformer("", config: config) { name, shape in
                // Timing only: every tensor random, variances positive.
                let t = Tensor(zeros: shape)
                if name.hasSuffix("running_var") {
                    gen.fillUniform(t, low: 0.5, high: 1.5)
                } else {
                    let fanIn = shape.dropFirst().reduce(1, *)
                    let bound = shape.count > 1 ? (6 / Float(fanIn)).squareRoot() : 0.1
                    gen.fillUniform(t, low: -bound, high: bound)
                }
                return t
            }
        } catch let e as ReflexError {
            throw ValidationError(e.description)
        }
        let ws = ACTWorkspace(network: network)
        let s = Tensor(zeros: [state]), e = Tensor(zeros: [6])
        let pixels = height * width * 3
        let images = Tensor(zeros: [max(cameras * pixels, 1)]), out = Tensor(zeros: [config.chunkSize, config.actionSize])
        gen.fillUniform(images, low: -1, high: 1)
        gen.fillUniform(s, low: -1, high: 1)
        let samples = measure(warmup: warmup, rounds: rounds, calls: 1) {
            network.evaluate(state: s.data, environmentState: cameras == 0 ? e.data : nil, images: cameras == 0 ? nil : images.data,
                             imageStride: pixels, output: out.data, workspace: ws)
        }
        // The backbone alone (what the camera costs before the transformer).
        var backboneSamples: TimingSamples?
        var backboneMACs = 0
        if let backbone = network.backbone {
            let bws = ResNetWorkspace(network: backbone, maxBatch: 1, size: config.imageSize)
            backboneMACs = backbone.multiplyAdds(config.imageSize)
            backboneSamples = measure(warmup: warmup, rounds: rounds, calls: 1) {
                backbone.evaluate(images.data, batch: 1, size: config.imageSize, workspace: bws)
            }
        }
        let report = Report(threads: threads, simd: KernelBuild.simd, tokens: network.tokens, multiplyAdds: network.multiplyAdds,
                            parameters: network.parameterCount, chunk: samples,
                            gflops: 2 * Double(network.multiplyAdds) / (samples.median * 1e3))
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        } else {
            print("kernels: \(KernelBuild.simd); ACT (LeRobot defaults), \(cameras) camera(s) \(height)×\(width), \(network.tokens) encoder tokens, \(threads) thread(s), \(warmup) warm-up, \(rounds) rounds")
            var rows = [["chunk", fmt(2 * Double(network.multiplyAdds) / 1e9, 2), fmt(samples.median / 1000),
                         fmt(samples.p10 / 1000), fmt(samples.p90 / 1000), fmt(report.gflops, 1)]]
            if let b = backboneSamples {
                rows.append(["backbone (1 camera)", fmt(2 * Double(backboneMACs) / 1e9, 2), fmt(b.median / 1000), fmt(b.p10 / 1000),
                             fmt(b.p90 / 1000), fmt(2 * Double(backboneMACs) / (b.median * 1e3), 1)])
            }
            print(table(["figure", "GFLOP", "median ms", "p10 ms", "p90 ms", "GFLOP/s"], rows))
        }
    }
}
