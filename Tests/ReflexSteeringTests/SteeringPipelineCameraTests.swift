import Foundation
import ReflexCore
import ReflexNN
import ReflexPolicy
import ReflexSteering
import Testing

/// A Reflex camera policy through the pipeline: a sampler applies, and it loads only for a caller that feeds frames
/// (`acceptingFrames`). DSRL and V-GPS on it are CameraSteeringTests'.
@Suite struct SteeringPipelineCameraTests {
    func savedCameraPolicy() throws -> String {
        var config = PolicyConfig(kind: .diffusion, observationSize: 2, actionSize: 1, nObsSteps: 1, horizon: 4, nActionSteps: 2,
                                  normalization: .init(observation: .identity(size: 2), action: .identity(size: 1)),
                                  network: .init(hiddenSizes: [16]), scheduler: NoiseScheduler.Config(), sampler: .ddim(steps: 5, eta: 0))
        let camera = PolicyCamera(name: "front", encoder: ConvEncoderConfig(imageHeight: 8, imageWidth: 8, channels: [4], keypoints: 4, features: 8))
        config.cameras = [camera]
        var gen = RandomGenerator(seed: 2)
        let network = MLP(config: PolicyDirectory.networkConfig(for: config), generator: &gen)
        let dir = NSTemporaryDirectory() + "camera-pipeline-\(UUID().uuidString)"
        try PolicyDirectory.save(config: config, network: network, encoders: [try ConvEncoder(config: camera.encoder, generator: &gen)], to: dir)
        return dir
    }

    @Test func cameraPolicyTakesASamplerOnlyAndLoadsForCallersThatFeedFrames() throws {
        let dir = try savedCameraPolicy()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pipeline = try SteeringPipeline(directory: dir, sampler: .ddim(steps: 2, eta: 0))
        #expect(pipeline.cameras == ["front"])
        // Without frames it would run blind: refused unless the caller sets them.
        #expect(throws: ReflexError.self) { try pipeline.makePolicy() }
        let policy = try #require(try pipeline.makePolicy(acceptingFrames: true) as? CameraDiffusionPolicy)
        #expect(policy.diffusion.sampler == .ddim(steps: 2, eta: 0))
    }
}
