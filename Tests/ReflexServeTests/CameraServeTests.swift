import Foundation
import ReflexCore
import ReflexNN
import ReflexPolicy
import Testing
import TestSupport

@testable import ReflexServe

/// A safetensors body with tensors of any dtype (`safetensorsBytes` writes floats only): name, dtype, shape, bytes.
func rawSafetensors(_ tensors: [(name: String, dtype: String, shape: [Int], bytes: [UInt8])], metadata: [String: String] = [:]) -> [UInt8] {
    var members: [(key: String, value: JSONValue)] = []
    if !metadata.isEmpty {
        members.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })))
    }
    var offset = 0
    for t in tensors {
        members.append((t.name, .object([
            ("dtype", .string(t.dtype)), ("shape", .array(t.shape.map { .number(Double($0)) })),
            ("data_offsets", .array([.number(Double(offset)), .number(Double(offset + t.bytes.count))])),
        ])))
        offset += t.bytes.count
    }
    var header = Array(JSONValue.object(members).serialized.utf8)
    while header.count % 8 != 0 { header.append(0x20) }
    var out: [UInt8] = []
    withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
    out += header
    for t in tensors { out += t.bytes }
    return out
}

func f32(_ name: String, _ shape: [Int], _ values: [Float]) -> (name: String, dtype: String, shape: [Int], bytes: [UInt8]) {
    (name, "F32", shape, values.withUnsafeBytes { Array($0) })
}

func u8(_ name: String, _ shape: [Int], _ values: [UInt8]) -> (name: String, dtype: String, shape: [Int], bytes: [UInt8]) {
    (name, "U8", shape, values)
}

/// The `action` tensor of a safetensors answer.
func actionOf(_ r: RawHTTPClient.Response) throws -> [Float] {
    try SafetensorsFile(bytes: r.body, name: "answer").tensor("action").scalars
}

func largestDifference(_ a: [Float], _ b: [Float]) -> Float {
    a.count == b.count ? zip(a, b).map { abs($0 - $1) }.max() ?? 0 : .infinity
}

func expectRefusal(_ r: RawHTTPClient.Response, _ statuses: ClosedRange<Int>, mentions: String,
                   sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(statuses.contains(r.status), "\(r.status): \(r.text)", sourceLocation: sourceLocation)
    let reason = try r.json()["reason"] as? String ?? ""
    #expect(reason.contains(mentions), "reason '\(reason)' does not mention '\(mentions)'", sourceLocation: sourceLocation)
}

/// A Reflex camera policy (random weights, one 16×16 camera 'front', state of 2, history of 2) saved under `root`.
func makeCameraPolicyDirectory(_ root: String) throws -> String {
    var config = PolicyConfig(kind: .diffusion, observationSize: 2, actionSize: 3, nObsSteps: 2, horizon: 8, nActionSteps: 4,
                              normalization: .init(observation: .identity(size: 2), action: .identity(size: 3)),
                              network: .init(hiddenSizes: [32, 32]), scheduler: NoiseScheduler.Config(),
                              sampler: .ddim(steps: 4, eta: 0))
    config.cameras = [PolicyCamera(name: "front", encoder: ConvEncoderConfig(imageHeight: 16, imageWidth: 16, channels: [8, 16],
                                                                             keypoints: 8, features: 16))]
    var gen = RandomGenerator(seed: 21)
    let mlp = MLP(config: config.network.mlp(horizon: 8, actionSize: 3, conditionSize: config.denoiserConditionSize), generator: &gen)
    let encoder = try ConvEncoder(config: config.cameras![0].encoder, generator: &gen)
    let dir = root + "/camera_policy"
    try PolicyDirectory.save(config: config, network: mlp, encoders: [encoder], to: dir)
    return dir
}

/// Camera policies served by the daemon with their images in the safetensors body: a Reflex camera policy and a
/// LeRobot ACT checkpoint (Tests/ReflexPolicyTests/Fixtures/lerobot_act_camera, from make_lerobot_act_fixture.py).
/// Each chunk over HTTP equals the one the direct path gives for the same frames (`reflex predict --image`'s code);
/// every bad image is refused with the reason.
@Suite(.serialized) struct CameraServeTests {
    @Test func reflexCameraPolicyIsServedWithImages() async throws {
        let d = try await LiveDaemon()
        let dir = try makeCameraPolicyDirectory(d.root)
        var r = try await d.post("/v1/policies", ["name": "cam", "directory": dir])
        #expect(r.status == 201, "\(r.text)")
        // The answer lists what the body may name.
        let inputs = try #require(try r.json()["inputs"] as? [[String: Any]])
        #expect(inputs.map { $0["name"] as? String } == ["observation.state", "observation.images.front"])
        #expect(inputs.map { $0["shape"] as? [Int] } == [[2], [16, 16, 3]] && inputs.last?["dtype"] as? String == "U8")

        let frame: [UInt8] = (0 ..< 768).map { (i: Int) -> UInt8 in UInt8((i * 37 + 11) % 256) }
        let state: [Float] = [0.25, -0.5, 0.3, -0.4]  // 2 steps × 2
        let path = "/v1/predict?policy=cam&seed=5&episode_start=true"
        r = try await d.postRaw(path, rawSafetensors([f32("observation.state", [2, 2], state), u8("observation.images.front", [16, 16, 3], frame)]),
                                contentType: "application/octet-stream")
        #expect(r.status == 200, "\(r.text)")
        let served = try actionOf(r)

        // reflex predict --image front=frame.ppm on the same state and frame, same seed.
        let ppm = d.root + "/frame.ppm"
        try writeFileAtomically(frame.withUnsafeBufferPointer { PortablePixmap.encodeP6(width: 16, height: 16, rgb: $0) }, to: ppm)
        try writeSafetensors([("observation", Tensor(shape: [2, 2], values: state))], to: d.root + "/inputs.safetensors")
        let direct = try PolicyPrediction.predict(policy: try PolicyDirectory.loadCameraPolicy(dir),
                                                  inputs: try SafetensorsFile(path: d.root + "/inputs.safetensors"),
                                                  images: [("front", ppm)], seed: 5)[0].1.scalars
        #expect(served.count == 8 * 3)
        #expect(largestDifference(served, direct) == 0, "HTTP vs reflex predict: \(largestDifference(served, direct))")  // 0 reached

        // The same frame as LeRobot's float [3, H, W] in [0, 1], and as [1, H, W, 3]: the same chunk.
        var chw = [Float](repeating: 0, count: 3 * 256)
        for p in 0 ..< 256 { for c in 0 ..< 3 { chw[c * 256 + p] = Float(frame[p * 3 + c]) / 255 } }
        r = try await d.postRaw(path, rawSafetensors([f32("observation.state", [2, 2], state), f32("observation.images.front", [3, 16, 16], chw)]),
                                contentType: "application/octet-stream")
        #expect(r.status == 200, "\(r.text)")
        let fromFloat = try actionOf(r)
        #expect(largestDifference(fromFloat, direct) == 0)
        r = try await d.postRaw(path, rawSafetensors([f32("observation.state", [2], [0.3, -0.4]), u8("observation.images.front", [1, 16, 16, 3], frame)]),
                                contentType: "application/octet-stream")
        #expect(r.status == 200, "\(r.text)")

        // Refusals, each with its reason.
        let st = f32("observation.state", [2, 2], state)
        func post(_ t: [(name: String, dtype: String, shape: [Int], bytes: [UInt8])]) async throws -> RawHTTPClient.Response {
            try await d.postRaw(path, rawSafetensors(t), contentType: "application/octet-stream")
        }
        try expectRefusal(try await post([st]), 400 ... 499, mentions: "observation.images.front")
        try expectRefusal(try await post([st, u8("observation.images.front", [16, 16, 3], frame), u8("observation.images.back", [16, 16, 3], frame)]),
                          400 ... 499, mentions: "observation.images.back")
        try expectRefusal(try await post([st, u8("observation.images.front", [16, 15, 3], Array(frame[..<720]))]), 400 ... 499, mentions: "[16, 16, 3]")
        try expectRefusal(try await post([st, u8("observation.images.front", [3, 16, 16], frame)]), 400 ... 499, mentions: "[16, 16, 3]")
        try expectRefusal(try await post([st, f32("observation.images.front", [16, 16, 3], chw)]), 400 ... 499, mentions: "[3, 16, 16]")
        try expectRefusal(try await post([st, ("observation.images.front", "I32", [16, 16, 3], [UInt8](repeating: 0, count: 768 * 4))]),
                          400 ... 499, mentions: "I32")
        var nan = chw
        nan[5] = .nan
        try expectRefusal(try await post([st, f32("observation.images.front", [3, 16, 16], nan)]), 400 ... 499, mentions: "NaN")
        var big = chw
        big[7] = 200
        try expectRefusal(try await post([st, f32("observation.images.front", [3, 16, 16], big)]), 400 ... 499, mentions: "[0, 1]")
        try expectRefusal(try await post([f32("observation.state", [3], [1, 2, 3]), u8("observation.images.front", [16, 16, 3], frame)]),
                          400 ... 499, mentions: "observation.state")
        try expectRefusal(try await post([f32("observation", [4], state), u8("observation.images.front", [16, 16, 3], frame)]),
                          400 ... 499, mentions: "either")
        try expectRefusal(try await post([]), 400 ... 499, mentions: "observation")
        r = try await d.post("/v1/predict", ["policy": "cam", "observation": state.map(Double.init)])
        try expectRefusal(r, 400 ... 499, mentions: "observation.images.front")
        // The loop has no frames for it: remote inference only.
        try expectRefusal(try await d.post("/v1/episode/start", ["policy": "cam"]), 400 ... 499, mentions: "camera")
        try expectRefusal(try await d.post("/v1/steering", ["policy": "cam", "value": dir, "k": 2]), 400 ... 499, mentions: "camera")
        // Still served after every refusal.
        r = try await post([st, u8("observation.images.front", [16, 16, 3], frame)])
        #expect(r.status == 200, "\(r.text)")
        let again = try actionOf(r)
        #expect(largestDifference(again, direct) == 0)
        try await d.shutdown()
    }

    @Test func actCheckpointIsServedWithImages() async throws {
        let d = try await LiveDaemon(maxBodyBytes: 1 << 20)
        let fixture = try materializeLeRobotFixture(at: TestPeers.repositoryRoot + "/Tests/ReflexPolicyTests/Fixtures/lerobot_act_camera")
        defer { try? FileManager.default.removeItem(atPath: fixture) }
        let dir = d.root + "/act"
        try FileManager.default.copyItem(atPath: fixture, toPath: dir)
        var r = try await d.post("/v1/policies", ["name": "act", "directory": dir])
        #expect(r.status == 201, "\(r.text)")
        #expect(try r.json()["horizon"] as? Int == 10)

        let expected = try SafetensorsFile(path: dir + "/expected.safetensors")
        let state = Array(try expected.tensor("episode.state").scalars.prefix(3))
        let image = DeterministicWeights.tensor("episode.0.0.image", shape: [3, 96, 128]).scalars
        // The direct path: reflex predict's LeRobotPrediction.selectAction, the chunk of the first observation.
        func direct(_ image: [Float]) throws -> [Float] {
            let bytes = try safetensorsBytes([("observation.state", Tensor(shape: [3], values: state)),
                                              ("observation.images.top", Tensor(shape: [3, 96, 128], values: image))])
            let outputs = try LeRobotPrediction.selectAction(checkpoint: try LeRobotACTCheckpoint(directory: dir),
                                                             inputs: try SafetensorsFile(bytes: bytes))
            return try #require(outputs.first { $0.0 == "action" }).1.scalars
        }
        let floatChunk = try direct(image)
        // LeRobot's own chunk for this observation (the fixture), as a sanity check of the direct path: 2.7e-7 relative.
        #expect(largestDifference(floatChunk, try expected.tensor("chunk.action").scalars) < 1e-4)

        let path = "/v1/predict?policy=act&episode_start=true"
        r = try await d.postRaw(path, rawSafetensors([f32("observation.state", [3], state), f32("observation.images.top", [3, 96, 128], image)]),
                                contentType: "application/octet-stream")
        #expect(r.status == 200, "\(r.text)")
        #expect(try SafetensorsFile(bytes: r.body).metadata["n_action_steps"] == "3")
        let servedFloat = try actionOf(r)
        #expect(largestDifference(servedFloat, floatChunk) == 0, "\(largestDifference(servedFloat, floatChunk))")  // 0 reached

        // U8 [H, W, 3]: the same chunk as the float image those bytes stand for (x / 255).
        var hwc = [UInt8](repeating: 0, count: image.count)
        let pixels = 96 * 128
        for p in 0 ..< pixels { for c in 0 ..< 3 { hwc[p * 3 + c] = PolicyPrediction.quantize(image[c * pixels + p]) } }
        var back = [Float](repeating: 0, count: image.count)
        for p in 0 ..< pixels { for c in 0 ..< 3 { back[c * pixels + p] = Float(hwc[p * 3 + c]) / 255 } }
        let u8Chunk = try direct(back)
        r = try await d.postRaw(path, rawSafetensors([f32("observation.state", [3], state), u8("observation.images.top", [96, 128, 3], hwc)]),
                                contentType: "application/octet-stream")
        #expect(r.status == 200, "\(r.text)")
        let servedU8 = try actionOf(r)
        #expect(largestDifference(servedU8, u8Chunk) == 0, "\(largestDifference(servedU8, u8Chunk))")

        // Today's raw-row form still works: [state, image C × H × W].
        r = try await d.postRaw(path, rawSafetensors([f32("observation", [3 + image.count], state + image)]), contentType: "application/octet-stream")
        #expect(r.status == 200, "\(r.text)")
        let servedRow = try actionOf(r)
        #expect(largestDifference(servedRow, floatChunk) == 0)

        // Refusals.
        let st = f32("observation.state", [3], state)
        func post(_ t: [(name: String, dtype: String, shape: [Int], bytes: [UInt8])]) async throws -> RawHTTPClient.Response {
            try await d.postRaw(path, rawSafetensors(t), contentType: "application/octet-stream")
        }
        try expectRefusal(try await post([st]), 400 ... 499, mentions: "observation.images.top")
        try expectRefusal(try await post([st, u8("observation.images.top", [96, 96, 3], Array(hwc[..<(96 * 96 * 3)]))]), 400 ... 499, mentions: "[96, 128, 3]")
        try expectRefusal(try await post([st, u8("observation.images.top", [2, 96, 128, 3], hwc + hwc)]), 400 ... 499, mentions: "[96, 128, 3]")
        try expectRefusal(try await post([st, u8("observation.images.wrist", [96, 128, 3], hwc), u8("observation.images.top", [96, 128, 3], hwc)]),
                          400 ... 499, mentions: "wrist")
        try expectRefusal(try await d.post("/v1/steering", ["policy": "act", "sampler": "ddim:2"]), 400 ... 499, mentions: "ACT")
        try expectRefusal(try await d.post("/v1/episode/start", ["policy": "act"]), 400 ... 499, mentions: "camera")
        try await d.shutdown()
    }

    /// A LeRobot image diffusion checkpoint (lerobot_image_1cam: `observation.image` 3×64×64, two observation steps):
    /// the named inputs with a U8 frame per step give the chunk of today's raw row holding those frames as floats.
    @Test func leRobotImageDiffusionTakesNamedInputs() async throws {
        let d = try await LiveDaemon(maxBodyBytes: 1 << 20)
        let fixture = try materializeLeRobotFixture(at: TestPeers.repositoryRoot + "/Tests/ReflexPolicyTests/Fixtures/lerobot_image_1cam")
        defer { try? FileManager.default.removeItem(atPath: fixture) }
        let dir = d.root + "/image"
        try FileManager.default.copyItem(atPath: fixture, toPath: dir)
        var r = try await d.post("/v1/policies", ["name": "img", "directory": dir])
        #expect(r.status == 201, "\(r.text)")
        let pixels = 64 * 64
        let frames: [[UInt8]] = (0 ..< 2).map { t in (0 ..< pixels * 3).map { UInt8(($0 * 29 + 7 * t) % 256) } }
        let state: [Float] = [0.1, 0.2, -0.3, 0.15, 0.25, -0.35]
        var row: [Float] = []
        for t in 0 ..< 2 {
            row += state[(t * 3) ..< (t * 3 + 3)]
            var chw = [Float](repeating: 0, count: pixels * 3)
            for p in 0 ..< pixels { for c in 0 ..< 3 { chw[c * pixels + p] = Float(frames[t][p * 3 + c]) / 255 } }
            row += chw
        }
        let path = "/v1/predict?policy=img&seed=3&episode_start=true"
        r = try await d.postRaw(path, rawSafetensors([f32("observation", [2, row.count / 2], row)]), contentType: "application/octet-stream")
        #expect(r.status == 200, "\(r.text)")
        let fromRow = try actionOf(r)
        r = try await d.postRaw(path, rawSafetensors([f32("observation.state", [2, 3], state),
                                                      u8("observation.image", [2, 64, 64, 3], frames[0] + frames[1])]),
                                contentType: "application/octet-stream")
        #expect(r.status == 200, "\(r.text)")
        let named = try actionOf(r)
        #expect(named.count == 16 * 2 && largestDifference(named, fromRow) == 0, "\(largestDifference(named, fromRow))")
        // Three frames for two observation steps: refused.
        r = try await d.postRaw(path, rawSafetensors([f32("observation.state", [2, 3], state),
                                                      u8("observation.image", [3, 64, 64, 3], frames[0] + frames[1] + frames[0])]),
                                contentType: "application/octet-stream")
        try expectRefusal(r, 400 ... 499, mentions: "[2, 64, 64, 3]")
        try await d.shutdown()
    }

}
