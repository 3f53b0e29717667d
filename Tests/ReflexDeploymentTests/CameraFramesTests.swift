import AllocationCounter
import DeploymentTestSupport
import Foundation
import Testing
import ReflexCore
import ReflexHardware
import ReflexPolicy
import ReflexRobot
import ReflexRuntime
import ReflexSim
@testable import ReflexDeployment

/// A camera policy in the real-time loop: frames from a frame ring handed to the policy before each chunk, their age
/// checked; stale, torn and missing frames hold (NaN chunk → the safety layer's no move) and are counted; the whole
/// path over the bus in hardware in the loop (`reflex emulate --sim lift --camera --frames` ↔ `reflex run --port
/// --camera`) and in process (`reflex run --sim`).
@Suite(.serialized) struct CameraFramesTests {
    /// A tiny camera policy (front camera 32×32, no cube pose in its inputs), trained for a few steps on two
    /// rendered lift demonstrations: valid, not good. Made once per test process.
    static let policyDirectory: Result<String, Error> = Result {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("camera-frames-\(UUID().uuidString)").path
        let demos = root + "/demos", out = root + "/policy"
        try CameraLiftFixture.writeDemonstrations(episodes: 2, to: demos)
        let options = CameraLiftFixture.trainingOptions(steps: 20, batchSize: 8, hidden: [32, 32], exclude: ["cube"])
        let session = try PolicyTrainingSession(options: options, demonstrations: demos, directory: out, resume: false, trainedWith: "test")
        try session.run()
        return out
    }

    static func policy() throws -> CameraFramePolicy {
        CameraFramePolicy(policy: try PolicyDirectory.loadCameraPolicy(try policyDirectory.get()))
    }

    static func chunk(_ p: CameraFramePolicy) -> [Float] {
        let c = p.config
        let state = [Float](repeating: 0.1, count: c.observationSize * c.nObsSteps)
        var out = [Float](repeating: 0, count: c.horizon * c.actionSize), gen = RandomGenerator(seed: 3)
        _ = p.predictChunk(history: state, stepsExecuted: 0, output: &out, generator: &gen)
        return out
    }

    @Test func staleTornAndMissingFramesHoldAndAreCounted() throws {
        let p = try Self.policy()
        #expect(Self.chunk(p).allSatisfy { $0.isNaN }, "no feed: held")
        let c = try FrameRingCamera(name: "front", width: 32, height: 32)
        let writer = try FrameRingWriter(path: nil, cameras: [c], slots: 1)
        let feed = try CameraFrameFeed(reader: FrameRingReader(sharing: writer), config: p.config, maxAge: 0.05)
        p.feed = feed
        p.resetReport()
        #expect(Self.chunk(p).allSatisfy { $0.isNaN }, "nothing published yet: held")
        let pixels = [UInt8](repeating: 120, count: c.frameBytes)
        let now = monotonicNanoseconds()
        pixels.withUnsafeBytes { writer.publish(camera: 0, pixels: $0.baseAddress!, captureTime: now - 1_000_000_000) }
        #expect(Self.chunk(p).allSatisfy { $0.isNaN }, "a frame a second old: held")
        #expect(!feed.fresh(now: monotonicNanoseconds()), "the loop holds on it too")
        pixels.withUnsafeBytes { writer.publish(camera: 0, pixels: $0.baseAddress!, captureTime: monotonicNanoseconds()) }
        #expect(feed.fresh(now: monotonicNanoseconds()))
        #expect(Self.chunk(p).allSatisfy { $0.isFinite }, "a fresh frame: a chunk")
        // The publisher vanishes: no new frame, and the last one ages past the limit.
        #expect(!feed.fresh(now: monotonicNanoseconds() + 100_000_000))
        _ = writer.beginFrame(camera: 0) // the publisher stopped mid-frame in the only slot
        #expect(Self.chunk(p).allSatisfy { $0.isNaN }, "a torn frame: held")
        let r = p.report()
        #expect(r.missing == 1 && r.stale == 1 && r.torn == 1 && r.framesUsed == 1 && r.heldChunks == 3, "\(r)")
        #expect(r.ageMedianMilliseconds.map { $0 >= 0 && $0 < 50 } == true, "\(r)")
    }

    /// A frame through the ring reaches the policy byte for byte: the chunk equals the one from handing the same
    /// frame to `CameraDiffusionPolicy.setFrame` directly, for the same state and seed (exactly: same arithmetic).
    @Test func aFrameThroughTheRingGivesTheChunkOfTheFrameItself() throws {
        let p = try Self.policy()
        let direct = try PolicyDirectory.loadCameraPolicy(try Self.policyDirectory.get())
        let c = try FrameRingCamera(name: "front", width: 32, height: 32)
        let writer = try FrameRingWriter(path: nil, cameras: [c], slots: 2)
        p.feed = try CameraFrameFeed(reader: FrameRingReader(sharing: writer), config: p.config, maxAge: 5)
        let pixels = (0 ..< c.frameBytes).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        pixels.withUnsafeBytes { writer.publish(camera: 0, pixels: $0.baseAddress!, captureTime: monotonicNanoseconds()) }
        let viaRing = Self.chunk(p)
        pixels.withUnsafeBufferPointer { direct.setFrame(camera: 0, frame: $0.baseAddress!) }
        let cfg = direct.config
        let state = [Float](repeating: 0.1, count: cfg.observationSize * cfg.nObsSteps)
        var out = [Float](repeating: 0, count: cfg.horizon * cfg.actionSize), gen = RandomGenerator(seed: 3)
        _ = direct.predictChunk(history: state, stepsExecuted: 0, output: &out, generator: &gen)
        #expect(viaRing == out && out.allSatisfy { $0.isFinite })
    }

    @Test func aRingOfAnotherSizeOrWithoutThePolicysCameraIsRefused() throws {
        let p = try Self.policy()
        let small = try FrameRingWriter(path: nil, cameras: [try FrameRingCamera(name: "front", width: 16, height: 16)])
        let e = #expect(throws: ReflexError.self) {
            try CameraFrameFeed(reader: FrameRingReader(sharing: small), config: p.config, maxAge: 0.1)
        }
        #expect(e?.description.contains("16×16 frames, the policy needs 32×32") == true, "\(String(describing: e))")
        let wrist = try FrameRingWriter(path: nil, cameras: [try FrameRingCamera(name: "wrist", width: 32, height: 32)])
        let f = #expect(throws: ReflexError.self) {
            try CameraFrameFeed(reader: FrameRingReader(sharing: wrist), config: p.config, maxAge: 0.1)
        }
        #expect(f?.description.contains("no camera 'front'") == true, "\(String(describing: f))")
    }

    @Test func aChunkWithAFrameReadAllocatesNothing() throws {
        let p = try Self.policy()
        let c = try FrameRingCamera(name: "front", width: 32, height: 32)
        let writer = try FrameRingWriter(path: nil, cameras: [c], slots: 2)
        p.feed = try CameraFrameFeed(reader: FrameRingReader(sharing: writer), config: p.config, maxAge: 5)
        let pixels = [UInt8](repeating: 80, count: c.frameBytes)
        let cfg = p.config
        let state = [Float](repeating: 0.1, count: cfg.observationSize * cfg.nObsSteps)
        var out = [Float](repeating: 0, count: cfg.horizon * cfg.actionSize), gen = RandomGenerator(seed: 3)
        var total: UInt64 = 0
        for k in 0 ..< 12 {
            pixels.withUnsafeBytes { writer.publish(camera: 0, pixels: $0.baseAddress!, captureTime: monotonicNanoseconds()) }
            let before = rx_thread_allocation_count()
            _ = state.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { o in
                    p.predictChunk(history: s.baseAddress!, stepsExecuted: 0, output: o.baseAddress!, generator: &gen)
                }
            }
            if k >= 2 { total += rx_thread_allocation_count() - before } // the first calls size scratch
        }
        #expect(total == 0, "\(total) allocations in 10 chunks with a frame read")
        #expect(p.report().framesUsed == 12)
    }

    /// The same camera policy over the bus (frames rendered by the emulator into the ring beside the camera channel)
    /// and in process (`--sim`): both run their episodes on frames, with the frames' ages reported.
    @Test func aCameraPolicyRunsEpisodesOverTheBusAndInProcess() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("camera-hil-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let o = try EmulatedLiftArm.options(in: dir, frames: "front:32x32")
        let emulation = try ArmEmulation(options: o).runInBackground()
        defer { emulation.stop() }
        let arm = EmulatedLiftArm.arm(for: o, cameraMaxAge: 0.5)
        let loaded = try PolicyLoader.loadForLoop(directory: try Self.policyDirectory.get())
        let policy = try #require(loaded as? CameraFramePolicy)
        // Two-second episodes: each must see a frame, and with two fuzzers and the suite beside it a one-second
        // episode once used none (the emulator renders each episode's frames after its scene reset).
        let bus = try EpisodeRunner(arm: arm, rate: 20, priority: nil, episodeSeconds: 2.0)
            .run(count: 2, firstSeed: 100, policy: policy, policyName: "camera")
        #expect(bus.episodes == 2 && bus.episodeResults.allSatisfy { $0.startRefused == nil && $0.ticks > 0 })
        #expect(bus.episodeResults.allSatisfy { $0.commandsOutsideLimits == 0 })
        let busFrames = try #require(bus.frames)
        #expect(busFrames.framesUsed >= 4, "\(busFrames)")
        #expect(busFrames.ageMedianMilliseconds.map { $0 < 500 } == true, "\(busFrames)")
        #expect(bus.episodeResults.allSatisfy { ($0.frames?.framesUsed ?? 0) > 0 })

        let sim = try EpisodeRunner(arm: ArmConfig(robot: "so101", sim: "lift"), rate: 20, priority: nil, episodeSeconds: 1.0)
            .run(count: 2, firstSeed: 100, policy: policy, policyName: "camera")
        let simFrames = try #require(sim.frames)
        #expect(sim.episodes == 2 && simFrames.framesUsed >= 4 && simFrames.stale == 0 && simFrames.torn == 0, "\(simFrames)")
        #expect(sim.episodeResults.allSatisfy { $0.commandsOutsideLimits == 0 })
    }

    @Test func aBusArmWithoutAFrameRingIsRefusedWithThePath() throws {
        // No publisher: the ring file is not there.
        let p = try Self.policy()
        let dir = FileManager.default.temporaryDirectory.path
        let e = #expect(throws: FrameRingError.self) { try FrameRingReader(path: dir + "/no-such.frames") }
        #expect(e?.description.contains("reflex emulate --sim lift --camera") == true)
        _ = p
    }
}
