import DeploymentTestSupport
import Foundation
import Testing
import ReflexCore
import ReflexDeployment
import ReflexPolicy
import ReflexRobot
import ReflexRuntime
import ReflexSim

/// `reflex train --camera front --exclude-features cube` on rendered lift demonstrations: a tiny run end to end.
@Suite struct CameraPolicyTrainingTests {
    /// Three lift episodes at 32×32, 300 steps: the loss falls, the cube's pose is not among the inputs, the
    /// directory gives the trainer's chunk back for the same seed and frame, and `reflex predict`'s path (a PPM
    /// frame) gives it too; a missing frame and an unknown camera are refused.
    @Test func tinyLiftRunLearnsAndRoundTrips() throws {
        let env = try SimTask.make(robot: try RobotDescription.named("so101"), task: "lift")
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("camera-train-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let demos = root + "/demos", out = root + "/policy"
        try CameraLiftFixture.writeDemonstrations(episodes: 3, to: demos)
        var options = CameraLiftFixture.trainingOptions(steps: 300, batchSize: 16, hidden: [128, 128], exclude: ["cube"])
        options.sampler = .ddim(steps: 8, eta: 0)
        let session = try PolicyTrainingSession(options: options, demonstrations: demos, directory: out, resume: false, trainedWith: "test")
        let names = session.trainer.config.notes?["observation_names"] ?? ""
        #expect(!names.contains("cube") && names.contains("ee.x"), "\(names)")
        #expect(session.trainer.config.observationSize == env.observationSpace.size - 7)
        try session.run()
        let first = try #require(session.losses.first?.y), last = try #require(session.losses.last?.y)
        #expect(last < 0.5 * first, "loss \(first) → \(last)")

        // Same chunk from the trainer's policy and from the directory, for the same state, frame and seed.
        let (data, _) = try options.selectingInputs(try Demonstrations.load(directory: demos).demonstrations,
                                                    try Demonstrations.load(directory: demos).metadata)
        let c = session.trainer.config
        let state = Array(data.episodes[1].observations.prefix(c.observationSize))
        let frame = data.episodes[1].frames[0].prefix(data.cameras[0].frameBytes).map { $0 }
        func chunk(_ p: CameraDiffusionPolicy) -> [Float] {
            frame.withUnsafeBufferPointer { p.setFrame(camera: 0, frame: $0.baseAddress!) }
            var out = [Float](repeating: 0, count: c.horizon * c.actionSize), gen = RandomGenerator(seed: 3)
            p.reset()
            _ = p.predictChunk(history: state + state, stepsExecuted: 0, output: &out, generator: &gen)
            return out
        }
        let trained = try #require(try session.trainer.policy() as? CameraDiffusionPolicy)
        let loaded = try PolicyDirectory.loadCameraPolicy(out)
        let a = chunk(trained), b = chunk(loaded)
        #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 } && a.allSatisfy { $0.isFinite }, "\(a.prefix(6)) vs \(b.prefix(6))")

        // reflex predict's path: state in a safetensors file, the frame as a PPM.
        let ppm = root + "/front.ppm", inputs = root + "/inputs.safetensors"
        try writeFileAtomically(frame.withUnsafeBufferPointer { PortablePixmap.encodeP6(width: 32, height: 32, rgb: $0) }, to: ppm)
        try writeSafetensors([("observation", Tensor(state))], to: inputs)
        let input = try SafetensorsFile(path: inputs)
        let predicted = try PolicyPrediction.predict(policy: loaded, inputs: input, images: [("front", ppm)], seed: 3)
        let action = try #require(predicted.first { $0.0 == "action" }?.1)
        #expect(zip(action.scalars, a).allSatisfy { abs($0 - $1) <= 1e-5 })
        #expect(throws: ReflexError.self) { try PolicyPrediction.predict(policy: loaded, inputs: input, images: [], seed: 3) }
        #expect(throws: ReflexError.self) {
            try PolicyPrediction.predict(policy: loaded, inputs: input, images: [("front", ppm), ("wrist", ppm)], seed: 3)
        }

        // reflex eval: each worker's task narrowed to the policy's observations, its front camera rendered per chunk.
        let seen = try CameraTaskEnvironment(robot: "so101", task: "lift", config: c)
        let seenNames = seen.observationSpace.names ?? []
        #expect(seen.observationSpace.size == c.observationSize)
        #expect(!seenNames.contains(where: { $0.hasPrefix("cube") }), "\(seenNames)")
        let run = try EvalRun(policy: out, robot: "so101", task: "lift", seed: 100, episodes: 2)
        let report = try run.run(workers: 2)
        #expect(report.episodes == 2 && report.evaluationsPerCall == 8 && report.meanSteps > 0)
        // Episode results depend on their seeds only, not on the worker that ran them.
        let again = try run.run(workers: 1)
        #expect(again.episodeResults.map(\.steps) == report.episodeResults.map(\.steps))

        // The blind control (no camera, no cube pose) evaluates on the narrowed task too.
        options.cameras = []
        options.steps = 50
        let blind = try PolicyTrainingSession(options: options, demonstrations: demos, directory: root + "/blind", resume: false, trainedWith: "test")
        try blind.run()
        let blindRun = try EvalRun(policy: root + "/blind", robot: "so101", task: "lift", seed: 100, episodes: 1)
        #expect(try blindRun.run(workers: 1).episodes == 1)
    }
}
