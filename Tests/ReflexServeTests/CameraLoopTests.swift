import DeploymentTestSupport
import Foundation
import ReflexCore
import ReflexDeployment
import ReflexHardware
import ReflexNN
import ReflexPolicy
import ReflexRobot
import ReflexSim
import Testing

@testable import ReflexServe

/// A Reflex camera policy for the SO-101 lift task (random weights: the full task observation, 6 joints × 2 + 17
/// scene features; one 16×16 'front' camera), saved under `root/name`.
func makeLiftCameraPolicyDirectory(_ root: String, _ name: String = "camera_lift", observationSize: Int = 29) throws -> String {
    var config = PolicyConfig(kind: .diffusion, observationSize: observationSize, actionSize: 6, nObsSteps: 2, horizon: 8, nActionSteps: 4,
                              normalization: .init(observation: .identity(size: observationSize), action: .identity(size: 6)),
                              network: .init(hiddenSizes: [32, 32]), scheduler: NoiseScheduler.Config(),
                              sampler: .ddim(steps: 4, eta: 0))
    config.cameras = [PolicyCamera(name: "front", encoder: ConvEncoderConfig(imageHeight: 16, imageWidth: 16, channels: [8, 16],
                                                                             keypoints: 8, features: 16))]
    var gen = RandomGenerator(seed: 23)
    let mlp = MLP(config: config.network.mlp(horizon: 8, actionSize: 6, conditionSize: config.denoiserConditionSize), generator: &gen)
    let encoder = try ConvEncoder(config: config.cameras![0].encoder, generator: &gen)
    let dir = root + "/" + name
    try PolicyDirectory.save(config: config, network: mlp, encoders: [encoder], to: dir)
    return dir
}

/// A lift policy without cameras (same observation), for switching.
func makeLiftPolicyDirectory(_ root: String, _ name: String = "plain_lift") throws -> String {
    let config = PolicyConfig(kind: .diffusion, observationSize: 29, actionSize: 6, nObsSteps: 2, horizon: 8, nActionSteps: 4,
                              normalization: .init(observation: .identity(size: 29), action: .identity(size: 6)),
                              network: .init(hiddenSizes: [32, 32]), scheduler: NoiseScheduler.Config(),
                              sampler: .ddim(steps: 4, eta: 0))
    var gen = RandomGenerator(seed: 29)
    let mlp = MLP(config: config.network.mlp(horizon: 8, actionSize: 6, conditionSize: config.conditionSize), generator: &gen)
    let dir = root + "/" + name
    try PolicyDirectory.save(config: config, network: mlp, to: dir)
    return dir
}

/// Camera policies in the daemon's real-time loop, over HTTP: on a simulated arm its scene is rendered in process
/// each tick and handed to the policy before each chunk (as `reflex run --sim` does), the frame report in
/// `/v1/status` and `/metrics`; an arm without frames (a bus arm with no camera channel) refuses with the config
/// that would give them.
@Suite(.serialized) struct CameraLoopTests {
    @Test func simArmRunsACameraPolicyInTheLoop() async throws {
        let d = try await LiveDaemon(arm: ArmConfig(robot: "so101", sim: "lift"), rate: 30)
        let cam = try makeLiftCameraPolicyDirectory(d.root), plain = try makeLiftPolicyDirectory(d.root)
        var r = try await d.post("/v1/policies", ["name": "cam", "directory": cam])
        #expect(r.status == 201, "\(r.text)")
        r = try await d.post("/v1/policies", ["name": "plain", "directory": plain])
        #expect(r.status == 201, "\(r.text)")
        // A camera policy for another arm (3 actions) stays served by /v1/predict; the loop says why it cannot run it.
        r = try await d.post("/v1/policies", ["name": "other", "directory": try makeCameraPolicyDirectory(d.root)])
        #expect(r.status == 201, "\(r.text)")
        try expectRefusal(try await d.post("/v1/episode/start", ["policy": "other"]), 422 ... 422, mentions: "acts on 3 values")
        r = try await d.post("/v1/episode/start", ["policy": "cam"])
        #expect(r.status == 200, "\(r.text)")

        // Wait (not a timing assertion: up to 30 s on a loaded machine) for a few chunks' frames.
        var frames: [String: Any] = [:]
        for _ in 0 ..< 300 {
            r = try await d.get("/v1/status")
            frames = try r.json()["frames"] as? [String: Any] ?? [:]
            if (frames["frames_used"] as? Int ?? 0) >= 4 { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        #expect((frames["frames_used"] as? Int ?? 0) >= 4, "\(frames)")
        #expect(frames["stale"] as? Int == 0 && frames["torn"] as? Int == 0 && frames["missing"] as? Int == 0, "\(frames)")
        #expect(frames["held_chunks"] as? Int == 0, "\(frames)")
        let median = try #require(frames["age_median_milliseconds"] as? Double), max = try #require(frames["age_max_milliseconds"] as? Double)
        #expect(median >= 0 && median <= max && max <= 250, "ages within camera_max_age: \(frames)")
        let controller = try #require(try r.json()["controller"] as? [String: Any])
        #expect(controller["running"] as? Bool == true && controller["active_policy"] as? String == "cam", "\(controller)")

        r = try await d.get("/metrics")
        #expect(r.text.contains("reflex_camera_frames_total{outcome=\"used\"}"), "\(r.text.suffix(800))")
        #expect(r.text.contains("reflex_camera_frames_total{outcome=\"stale\"} 0"))

        // Its frames are set up at the episode's start: no switching to or from it mid-episode.
        try expectRefusal(try await d.post("/v1/policy/switch", ["policy": "plain"]), 422 ... 422, mentions: "start one with 'plain'")
        r = try await d.post("/v1/episode/stop")
        #expect(r.status == 200, "\(r.text)")
        // A policy without cameras next: no frame report, no frames checked.
        r = try await d.post("/v1/episode/start", ["policy": "plain"])
        #expect(r.status == 200, "\(r.text)")
        d.core.invalidateStatus()
        r = try await d.get("/v1/status")
        let status = try r.json()
        #expect(status["frames"] == nil || status["frames"] is NSNull, "\(r.text.prefix(400))")
        try expectRefusal(try await d.post("/v1/policy/switch", ["policy": "cam"]), 422 ... 422, mentions: "start one with 'cam'")
        r = try await d.post("/v1/episode/stop")
        #expect(r.status == 200, "\(r.text)")

        // A camera policy that observes the joints only (no task features): its frames are rendered all the same.
        let joints = try makeLiftCameraPolicyDirectory(d.root, "camera_joints", observationSize: 12)
        r = try await d.post("/v1/policies", ["name": "joints", "directory": joints])
        #expect(r.status == 201, "\(r.text)")
        r = try await d.post("/v1/episode/start", ["policy": "joints"])
        #expect(r.status == 200, "\(r.text)")
        frames = [:]
        for _ in 0 ..< 300 {
            r = try await d.get("/v1/status")
            frames = try r.json()["frames"] as? [String: Any] ?? [:]
            if (frames["frames_used"] as? Int ?? 0) >= 4 { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        #expect((frames["frames_used"] as? Int ?? 0) >= 4 && frames["stale"] as? Int == 0, "\(frames)")
        r = try await d.post("/v1/episode/stop")
        #expect(r.status == 200, "\(r.text)")
        try await d.shutdown()
    }

    /// Hardware in the loop: the emulated SO-101 bus with the lift scene's camera channel, its front camera rendered
    /// into the frame ring beside it (`reflex emulate --sim lift --camera --frames`); the daemon's bus arm names the
    /// channel and ring, and its loop runs the camera policy on them.
    @Test func busArmWithACameraChannelRunsACameraPolicyOnItsRing() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("serve-camera-hil-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let o = try EmulatedLiftArm.options(in: dir, frames: "front:16x16")
        let emulation = try ArmEmulation(options: o).runInBackground()
        defer { emulation.stop() }
        let arm = EmulatedLiftArm.arm(for: o, cameraMaxAge: 0.5)
        let d = try await LiveDaemon(arm: arm, rate: 20)
        let cam = try makeLiftCameraPolicyDirectory(d.root)
        var r = try await d.post("/v1/policies", ["name": "cam", "directory": cam])
        #expect(r.status == 201, "\(r.text)")
        r = try await d.post("/v1/episode/start", ["policy": "cam"])
        #expect(r.status == 200, "\(r.text)")
        var frames: [String: Any] = [:]
        for _ in 0 ..< 300 {
            r = try await d.get("/v1/status")
            frames = try r.json()["frames"] as? [String: Any] ?? [:]
            if (frames["frames_used"] as? Int ?? 0) >= 4 { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        #expect((frames["frames_used"] as? Int ?? 0) >= 4 && frames["torn"] as? Int == 0, "\(frames)")
        #expect((frames["age_median_milliseconds"] as? Double).map { $0 < 500 } == true, "\(frames)")
        r = try await d.post("/v1/episode/stop")
        #expect(r.status == 200, "\(r.text)")
        try await d.shutdown()
    }

    @Test func busArmWithoutACameraChannelRefusesWithTheConfigThatGivesFrames() async throws {
        let desc = try RobotDescription.named("so101")
        let hw = try ArmBusConfiguration(description: desc)
        let emu = try ServoBusEmulator(servos: hw.servos.map { EmulatedServo(table: $0.controlTable, id: $0.id, position: Double($0.offset)) })
        let link = try EmulatorLink(emulator: emu)
        defer { link.stop() }
        let d = try await LiveDaemon(arm: ArmConfig(robot: "so101", port: link.path), rate: 30)
        let cam = try makeLiftCameraPolicyDirectory(d.root)
        var r = try await d.post("/v1/policies", ["name": "cam", "directory": cam])
        #expect(r.status == 201, "\(r.text)")
        r = try await d.post("/v1/episode/start", ["policy": "cam"])
        try expectRefusal(r, 422 ... 422, mentions: "camera: PATH")
        #expect(try r.json()["error"] as? String == "camera_policy", "\(r.text)")
        try await d.shutdown()
    }
}
