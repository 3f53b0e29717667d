import ArgumentParser
import Foundation
import ReflexCore
import ReflexNN

/// LeRobot's image encoder (`DiffusionRgbEncoder`: ResNet trunk, spatial softmax, linear) with random weights, on
/// PushT's shape by default: 96×96 images center-cropped to 84×84, GroupNorm, 32 keypoints, two observation steps.
struct BenchEncoder: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encoder",
        abstract: "Time the image encoder of LeRobot's Diffusion Policy (ResNet trunk + spatial softmax, random weights).",
        discussion: "Peer: Benchmarks/peers/encoder.py times LeRobot's own DiffusionRgbEncoder on the same shapes."
    )

    @Option(help: "Images per call (n_obs_steps × cameras).") var batch = 2
    @Option(help: "Image height and width before the crop.") var image = 96
    @Option(help: "Center crop (height = width).") var crop = 84
    @Option(help: "resnet18 or resnet34.") var backbone = "resnet18"
    @Flag(help: "BatchNorm (folded) instead of GroupNorm.") var batchNorm = false
    @Option(help: "Spatial softmax keypoints.") var keypoints = 32
    @Option(help: "Kernel threads.") var threads = 1
    @Option(help: "Timed rounds.") var rounds = 15
    @Flag(help: "Print JSON instead of a table.") var json = false

    struct Report: Codable {
        var threads: Int
        var simd: String
        var batch: Int
        var multiplyAddsPerImage: Int
        var parameters: Int
        var call: TimingSamples
        /// 2 × multiply-adds × batch / median time.
        var gflops: Double
    }

    func run() throws {
        guard let depth = ResNet.Depth(rawValue: backbone) else { throw ValidationError("--backbone must be resnet18 or resnet34") }
        guard batch >= 1, threads >= 1, crop >= 32, crop <= image else { throw ValidationError("need batch, threads >= 1 and 32 <= crop <= image") }
        KernelBuild.setThreads(threads)
        defer { KernelBuild.setThreads(1) }
        var gen = RandomGenerator(seed: 0)
        let encoder: DiffusionRgbEncoder
        do {
            encoder = try DiffusionRgbEncoder(
                "", depth: depth, normalization: batchNorm ? .batchNorm : .groupNorm, channels: 3,
                imageSize: ImageSize(height: image, width: image), cropSize: ImageSize(height: crop, width: crop),
                keypoints: keypoints) { name, shape in
                    // Timing only: every tensor random (the grid too), variances positive.
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
        let ws = DiffusionRgbEncoderWorkspace(encoder: encoder, maxBatch: batch)
        let images = Tensor(zeros: [batch, 3, image, image]), y = Tensor(zeros: [batch, encoder.featureSize])
        gen.fillUniform(images, low: 0, high: 1)
        let samples = measure(warmup: 3, rounds: rounds, calls: 1) {
            encoder.evaluate(images.data, batch: batch, scale: nil, shift: nil, output: y.data, workspace: ws)
        }
        let report = Report(threads: threads, simd: KernelBuild.simd, batch: batch, multiplyAddsPerImage: encoder.multiplyAdds,
                            parameters: encoder.parameterCount, call: samples,
                            gflops: 2 * Double(encoder.multiplyAdds * batch) / (samples.median * 1e3))
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        } else {
            print("kernels: \(KernelBuild.simd); \(backbone) \(batchNorm ? "BatchNorm (folded)" : "GroupNorm"), \(image)×\(image) → crop \(crop)×\(crop), \(keypoints) keypoints, \(threads) thread(s)")
            print(table(["figure", "images", "GFLOP/call", "median ms", "p10 ms", "p90 ms", "GFLOP/s"],
                        [["encoder", "\(batch)", fmt(2 * Double(encoder.multiplyAdds * batch) / 1e9, 3), fmt(samples.median / 1000),
                          fmt(samples.p10 / 1000), fmt(samples.p90 / 1000), fmt(report.gflops, 1)]]))
        }
    }
}
