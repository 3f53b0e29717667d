import Foundation
import ReflexCore
import ReflexNN
import ReflexPolicy
import Testing
import TestSupport

/// Camera k's frame in the examples (examples/c/reflex_example.c, examples/python/reflex.py): byte i is
/// (i · 37 + 11 + 13 k) mod 256, H × W × 3.
func exampleFrame(camera k: Int, height: Int, width: Int) -> [UInt8] {
    (0 ..< height * width * 3).map { UInt8(($0 * 37 + 11 + 13 * k) % 256) }
}

/// The C host and Python over ctypes drive policies that look through cameras (reflex_policy_set_image, then
/// reflex_policy_predict_images): a Reflex camera policy gives `reflex predict --image`'s chunk, a LeRobot ACT
/// checkpoint the chunk of `reflex predict`'s LeRobot path, for the same frames, state and seed.
@Suite(.serialized) struct CameraEmbeddingTests {
    static let seed: UInt64 = 7

    /// A Reflex camera policy with random weights: one 16×16 camera 'front', state of 2, history of 2.
    static func cameraPolicy() throws -> String {
        var config = PolicyConfig(kind: .diffusion, observationSize: 2, actionSize: 3, nObsSteps: 2, horizon: 8, nActionSteps: 4,
                                  normalization: .init(observation: .identity(size: 2), action: .identity(size: 3)),
                                  network: .init(hiddenSizes: [32, 32]), scheduler: NoiseScheduler.Config(),
                                  sampler: .ddim(steps: 4, eta: 0))
        let camera = PolicyCamera(name: "front", encoder: ConvEncoderConfig(imageHeight: 16, imageWidth: 16, channels: [8, 16],
                                                                            keypoints: 8, features: 16))
        config.cameras = [camera]
        var gen = RandomGenerator(seed: 21)
        let mlp = MLP(config: config.network.mlp(horizon: 8, actionSize: 3, conditionSize: config.denoiserConditionSize), generator: &gen)
        let dir = NSTemporaryDirectory() + "camera-embed-\(UUID().uuidString)"
        try PolicyDirectory.save(config: config, network: mlp, encoders: [try ConvEncoder(config: camera.encoder, generator: &gen)], to: dir)
        return dir
    }

    /// `reflex predict DIR --image front=frame.ppm --seed 7` (the CLI itself) on the examples' frame and state.
    func reflexPredict(_ dir: String) throws -> [Float] {
        let ppm = dir + "/frame.ppm"
        let frame = exampleFrame(camera: 0, height: 16, width: 16)
        try writeFileAtomically(frame.withUnsafeBufferPointer { PortablePixmap.encodeP6(width: 16, height: 16, rgb: $0) }, to: ppm)
        let inputs = dir + "/inputs.safetensors"
        try writeSafetensors([("observation", Tensor(shape: [2, 2], values: (0 ..< 4).map { Float($0 % 7) * 0.05 }))], to: inputs)
        let r = try runProcess(Checkout.buildDirectory + "/reflex", ["predict", dir, "--inputs", inputs, "--out", inputs + ".out",
                                                                   "--image", "front=" + ppm, "--seed", "\(Self.seed)", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        return try #require(try JSONDecoder().decode([String: [Float]].self, from: Data(r.stdout.utf8))["action"])
    }

    func cExample() throws -> String? {
        let binary = NSTemporaryDirectory() + "reflex-c-example-\(UUID().uuidString)"
        let build = Checkout.buildDirectory
        let cc = try runProcess("/usr/bin/env", ["cc", "-std=c11", "-Wall", "-Werror", "-I", "Sources/ReflexC/include",
                                                  "examples/c/reflex_example.c", "-L", build, "-lReflexC", "-Wl,-rpath," + build,
                                                  "-o", binary])
        #expect(cc.status == 0, "the C example does not compile: \(cc.stderr)")
        return cc.status == 0 ? binary : nil
    }

    @Test func aReflexCameraPolicyThroughCAndPythonGivesReflexPredictsChunk() throws {
        let dir = try Self.cameraPolicy()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let expected = try reflexPredict(dir)
        #expect(expected.count == 8 * 3)
        if let binary = try cExample() {
            let r = try runProcess(binary, [dir, "\(Self.seed)"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try chunkLine(r.stdout) == expected)  // bit for bit
            #expect(r.stdout.contains("wrong size: 4 ("))  // REFLEX_ERROR_SHAPE
            #expect(r.stdout.contains("no frames: 5 ("))   // REFLEX_ERROR_STATE
        }
        let py = try runProcess("/usr/bin/env", ["python3", "examples/python/reflex.py", dir, "\(Self.seed)"],
                                environment: ["REFLEX_LIB": Checkout.buildDirectory + "/libReflexC.so"])
        #expect(py.status == 0, "\(py.stderr)")
        #expect(try chunkLine(py.stdout) == expected)
        #expect(py.stdout.contains("wrong size: 4 ("))
    }

    @Test func aLeRobotACTCheckpointThroughCAndPythonGivesReflexPredictsChunk() throws {
        let dir = try materializeLeRobotFixture(at: Checkout.root + "/Tests/ReflexPolicyTests/Fixtures/lerobot_act_camera")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // reflex predict's LeRobot path on the frame as LeRobot takes it: C × H × W floats, byte / 255.
        let (h, w) = (96, 128)
        let frame = exampleFrame(camera: 0, height: h, width: w)
        let image = Tensor(zeros: [3, h, w])
        for p in 0 ..< h * w { for c in 0 ..< 3 { image.data[c * h * w + p] = Float(frame[p * 3 + c]) / 255 } }
        let bytes = try safetensorsBytes([("observation.state", Tensor(shape: [3], values: (0 ..< 3).map { Float($0 % 7) * 0.05 })),
                                          ("observation.images.top", image)])
        let outputs = try LeRobotPrediction.selectAction(checkpoint: try LeRobotACTCheckpoint(directory: dir),
                                                         inputs: try SafetensorsFile(bytes: bytes))
        let expected = try #require(outputs.first { $0.0 == "action" }).1.scalars
        #expect(expected.count == 10 * 2)
        if let binary = try cExample() {
            let r = try runProcess(binary, [dir, "\(Self.seed)"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try chunkLine(r.stdout) == expected)
        }
        let py = try runProcess("/usr/bin/env", ["python3", "examples/python/reflex.py", dir, "\(Self.seed)"],
                                environment: ["REFLEX_LIB": Checkout.buildDirectory + "/libReflexC.so"])
        #expect(py.status == 0, "\(py.stderr)")
        #expect(try chunkLine(py.stdout) == expected)
    }
}
