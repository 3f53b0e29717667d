import AllocationCounter
import Foundation
import ReflexCore
import ReflexNN
import Testing
import TestSupport

@testable import ReflexPolicy

/// `ObservationFeatures`: a request's named tensors decoded into buffers made once. After the first call, decoding a
/// request, encoding its frames and sampling the chunk allocate nothing, for a Reflex camera policy and for ACT.
@Suite struct ObservationFeaturesTests {
    @Test func decodingEncodingAndSamplingAllocateNothingAfterTheFirstCall() throws {
        var config = try pointMassCameraConfig()
        config.nObsSteps = 2
        var gen = RandomGenerator(seed: 3)
        let mlp = MLP(config: config.network.mlp(horizon: config.horizon, actionSize: config.actionSize,
                                                 conditionSize: config.denoiserConditionSize), generator: &gen)
        let camera = try #require(config.cameras?.first)
        let policy = try CameraDiffusionPolicy(config: config, network: mlp,
                                               encoders: [try ConvEncoder(config: camera.encoder, generator: &gen)])
        let inputs = ObservationFeatures(policy: policy)
        #expect(inputs.cameras.map(\.name) == ["observation.images.front"] && inputs.stateSize == 2)
        let request: [String: FeatureTensor] = [
            "observation.state": FeatureTensor(shape: [2, 2], values: .float([0.1, -0.2, 0.15, -0.25])),
            "observation.images.front": FeatureTensor(shape: [16, 16, 3], values: .uint8((0 ..< 768).map { UInt8($0 % 251) })),
        ]
        let chunk = Tensor(zeros: [config.horizon, config.actionSize])
        func once() throws {
            try inputs.fill(request)
            policy.reset()
            try inputs.apply(to: policy)
            var g = RandomGenerator(seed: 5)
            _ = policy.predictChunk(history: inputs.history, stepsExecuted: 0, output: chunk.data, generator: &g)
        }
        try once()
        let first = chunk.scalars
        let before = rx_thread_allocation_count()
        for _ in 0 ..< 10 { try once() }
        let allocations = rx_thread_allocation_count() - before
        #expect(allocations == 0, "\(allocations) allocations in 10 decode + encode + sample calls")
        #expect(chunk.scalars == first)

        // The same frame as floats [3, H, W] = byte / 255 gives the same chunk (float → uint8 rounds back exactly).
        var chw = [Float](repeating: 0, count: 768)
        for p in 0 ..< 256 { for c in 0 ..< 3 { chw[c * 256 + p] = Float((p * 3 + c) % 251) / 255 } }
        var floats = request
        floats["observation.images.front"] = FeatureTensor(shape: [3, 16, 16], values: .float(chw))
        try inputs.fill(floats)
        policy.reset()
        try inputs.apply(to: policy)
        var g = RandomGenerator(seed: 5)
        _ = policy.predictChunk(history: inputs.history, stepsExecuted: 0, output: chunk.data, generator: &g)
        #expect(chunk.scalars == first)

        // A refused request names what is wrong.
        var bad = request
        bad["observation.images.front"] = nil
        #expect(throws: ReflexError.self) { try inputs.fill(bad) }
        bad = request
        bad["observation.state"] = FeatureTensor(shape: [2], values: .float([.nan, 0]))
        #expect(throws: ReflexError.self) { try inputs.fill(bad) }
    }

    @Test func actDecodingAndInferenceAllocateNothingAfterTheFirstCall() throws {
        let dir = try materializeImageFixture("lerobot_act_camera")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let policy = try LeRobotACTPolicy(directory: dir)
        let inputs = ObservationFeatures(policy: policy)
        #expect(inputs.cameras.map(\.name) == ["observation.images.top"] && inputs.cameras[0].rowOffset == 3)
        let request: [String: FeatureTensor] = [
            "observation.state": FeatureTensor(shape: [3], values: .float([0.1, -0.2, 0.3])),
            "observation.images.top": FeatureTensor(shape: [96, 128, 3], values: .uint8((0 ..< 96 * 128 * 3).map { UInt8($0 % 253) })),
        ]
        let chunk = Tensor(zeros: [policy.config.horizon, policy.config.actionSize])
        var g = RandomGenerator(seed: 0)
        func once() throws {
            try inputs.fill(request)
            try inputs.apply(to: policy)
            _ = policy.predictChunk(history: inputs.history, stepsExecuted: 0, output: chunk.data, generator: &g)
        }
        try once()
        let before = rx_thread_allocation_count()
        for _ in 0 ..< 3 { try once() }
        let allocations = rx_thread_allocation_count() - before
        #expect(allocations == 0, "\(allocations) allocations in 3 ACT decode + inference calls")
    }
}
