import AllocationCounter
import Foundation
import ReflexCore
import ReflexNN
import Testing
@testable import ReflexPolicy

/// Point-mass demonstrations seen partly through a camera: the state keeps the point (x, y), and the goal is only
/// in a 16×16 frame as a bright 3×3 square at its position.
func pointMassCameraDemonstrations(episodes: Int, seed: UInt64) throws -> Demonstrations {
    let full = try PointMass.demonstrations(episodes: episodes, seed: seed)
    let side = 16
    let camera = Demonstrations.Camera(name: "front", tensor: "images.front", height: side, width: side)
    var data = try full.keepingObservations([0, 1])
    for (e, ep) in full.episodes.enumerated() {
        var frames = [UInt8](repeating: 20, count: ep.length * camera.frameBytes)
        for s in 0 ..< ep.length {
            let gx = ep.observations[s * 4 + 2], gy = ep.observations[s * 4 + 3]
            let cx = Int(((gx + 1) / 2 * Float(side - 3)).rounded()), cy = Int(((gy + 1) / 2 * Float(side - 3)).rounded())
            for y in cy ..< cy + 3 { for x in cx ..< cx + 3 { for c in 0 ..< 3 { frames[s * camera.frameBytes + (y * side + x) * 3 + c] = 230 } } }
        }
        data.episodes[e].frames = [frames]
    }
    return try Demonstrations(observationSize: 2, actionSize: 3, episodes: data.episodes, cameras: [camera])
}

func pointMassCameraConfig() throws -> PolicyConfig {
    var config = try pointMassConfig(kind: .diffusion, sampler: .ddim(steps: 10, eta: 0))
    config.observationSize = 2
    config.normalization = .init(observation: .identity(size: 2), action: .identity(size: 3))
    config.network.hiddenSizes = [128, 128]
    config.cameras = [PolicyCamera(name: "front", encoder: ConvEncoderConfig(imageHeight: 16, imageWidth: 16,
                                                                             channels: [8, 16], keypoints: 8, features: 16))]
    return config
}

@Suite(.serialized) struct CameraPolicyTests {
    /// One step trains the encoder and the denoiser together: the loss falls, the encoder's weights move, the step
    /// allocates nothing after warm-up.
    @Test func trainingStepTrainsTheEncoderAndAllocatesNothing() throws {
        let data = try pointMassCameraDemonstrations(episodes: 20, seed: 5)
        let training = TrainingConfig(steps: 400, batchSize: 32, learningRate: 1e-3, warmupSteps: 20, emaDecay: 0.99, seed: 2)
        let trainer = try PolicyTrainer(config: try pointMassCameraConfig(), data: data, training: training)
        #expect(trainer.config.denoiserConditionSize == 2 * 2 + 16)
        let initial = trainer.encoders[0].parameters.scalars
        var first: Float = 0, last: Float = 0
        for _ in 0 ..< 3 { first += trainer.trainStep() / 3 }
        let before = rx_thread_allocation_count()
        for _ in 0 ..< 20 { trainer.trainStep() }
        let allocations = rx_thread_allocation_count() - before
        #expect(allocations == 0, "\(allocations) allocations in 20 camera-policy training steps")
        while trainer.step < training.steps - 20 { trainer.trainStep() }
        for _ in 0 ..< 20 { last += trainer.trainStep() / 20 }
        #expect(last < 0.5 * first, "loss \(first) → \(last)")
        let moved = zip(initial, trainer.encoders[0].parameters.scalars).contains { $0 != $1 }
        #expect(moved, "the encoder's weights did not change")
    }

    /// The directory keeps the cameras (policy.yaml) and the encoder (model.safetensors under encoders.front.):
    /// the loaded policy samples the same chunk as the trainer's for the same seed, frame and state; other frames
    /// give other chunks; the state loader refuses it with the reason; a missing encoder tensor is named.
    @Test func directoryRoundTripsTheEncoder() throws {
        let data = try pointMassCameraDemonstrations(episodes: 6, seed: 9)
        let training = TrainingConfig(steps: 30, batchSize: 8, learningRate: 1e-3, warmupSteps: 5, emaDecay: 0.9, seed: 4)
        let trainer = try PolicyTrainer(config: try pointMassCameraConfig(), data: data, training: training)
        for _ in 0 ..< training.steps { trainer.trainStep() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("camera-policy-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try trainer.save(to: dir)
        let yaml = try readTextFile(dir + "/policy.yaml")
        #expect(yaml.contains("cameras:") && yaml.contains("image_height: 16"))
        let file = try SafetensorsFile(path: dir + "/model.safetensors")
        #expect(file.contains("encoders.front.convs.0.weight") && file.contains("network.layers.0.weight"))

        let loaded = try PolicyDirectory.loadCameraPolicy(dir)
        let fresh = try #require(try trainer.policy() as? CameraDiffusionPolicy)
        func chunk(_ p: CameraDiffusionPolicy, frameOf step: Int) -> [Float] {
            data.withFrame(episode: 0, index: step, camera: 0) { p.setFrame(camera: 0, frame: $0) }
            var out = [Float](repeating: 0, count: 8 * 3), gen = RandomGenerator(seed: 11)
            let history: [Float] = [0.1, -0.2, 0.1, -0.2]
            p.reset()
            _ = p.predictChunk(history: history, stepsExecuted: 0, output: &out, generator: &gen)
            return out
        }
        let a = chunk(loaded, frameOf: 0), b = chunk(fresh, frameOf: 0)
        #expect(a.allSatisfy { $0.isFinite })
        #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 }, "\(a.prefix(6)) vs \(b.prefix(6))")
        let otherEpisode = data.episodes.firstIndex { $0.frames[0].prefix(data.cameras[0].frameBytes) != data.episodes[0].frames[0].prefix(data.cameras[0].frameBytes) }
        if let e = otherEpisode {
            data.withFrame(episode: e, index: 0, camera: 0) { loaded.setFrame(camera: 0, frame: $0) }
            var out = [Float](repeating: 0, count: 8 * 3), gen = RandomGenerator(seed: 11)
            loaded.reset()
            _ = loaded.predictChunk(history: [0.1, -0.2, 0.1, -0.2], stepsExecuted: 0, output: &out, generator: &gen)
            #expect(out != a, "the frame does not reach the chunk")
        }

        #expect(throws: ReflexError.self) { try PolicyDirectory.load(dir) }
        // A PPM of the wrong size is refused with its shape.
        let ppm = dir + "/small.ppm"
        let gray = [UInt8](repeating: 9, count: 8 * 8 * 3)
        try writeFileAtomically(gray.withUnsafeBufferPointer { PortablePixmap.encodeP6(width: 8, height: 8, rgb: $0) }, to: ppm)
        #expect(throws: ReflexError.self) { try PolicyPrediction.rgbFrame(ppm: ppm, height: 16, width: 16) }
        // Weights without the encoder.
        try writeSafetensors(trainer.deployedNetwork.namedParameters(prefix: "network."), to: dir + "/model.safetensors")
        let error = try #require(throws: ReflexError.self) { try PolicyDirectory.loadCameraPolicy(dir) }
        #expect(error.message.contains("encoders.front."))
    }

    /// Bad set-ups are refused with the reason: a camera the data lacks, frames of another size, a BC camera policy,
    /// frames of the wrong byte count.
    @Test func badCameraInputsAreRefused() throws {
        let data = try pointMassCameraDemonstrations(episodes: 3, seed: 1)
        let training = TrainingConfig(steps: 10, batchSize: 4)
        var config = try pointMassCameraConfig()
        config.cameras?[0].name = "wrist"
        #expect(throws: ReflexError.self) { try PolicyTrainer(config: config, data: data, training: training) }
        config = try pointMassCameraConfig()
        config.cameras?[0].encoder.imageWidth = 24
        #expect(throws: ReflexError.self) { try PolicyTrainer(config: config, data: data, training: training) }
        config = try pointMassCameraConfig()
        config.kind = .bc
        #expect(throws: ReflexError.self) { try config.validate() }
        var episodes = data.episodes
        episodes[0].frames[0].removeLast()
        #expect(throws: ReflexError.self) {
            try Demonstrations(observationSize: 2, actionSize: 3, episodes: episodes, cameras: data.cameras)
        }
    }
}
