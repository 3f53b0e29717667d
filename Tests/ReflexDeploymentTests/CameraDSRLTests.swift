import DeploymentTestSupport
import Foundation
import Testing
import ReflexCore
import ReflexDeployment
import ReflexNN
import ReflexPolicy
import ReflexRobot
import ReflexRuntime
import ReflexSim
import ReflexSteering
import TestSupport

/// DSRL on a camera policy: the latent-noise task's observation is the denoiser's whole condition (the normalized
/// state history, then the encoder's features of the frame rendered after every chunk); a run finishes and deploys
/// through `reflex eval --dsrl`; and the deployed actor's noise is the one computed from those features.
@Suite struct CameraDSRLTests {
    @Test func dsrlSteersACameraPolicyFromItsFrames() throws {
        // The session sizes the process-wide kernel pool to its run's threads: hold the pool as other tests expect it.
        try KernelThreads.with(1) { try dsrlOnCameraPolicy() }
    }

    func dsrlOnCameraPolicy() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("camera-dsrl-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let demos = root + "/demos", policyDir = root + "/policy", runDir = root + "/dsrl"
        try CameraLiftFixture.writeDemonstrations(episodes: 2, to: demos)
        let options = CameraLiftFixture.trainingOptions(steps: 40, batchSize: 8, hidden: [32], exclude: ["cube", "goal"])
        try PolicyTrainingSession(options: options, demonstrations: demos, directory: policyDir, resume: false, trainedWith: "test").run()
        let config = try PolicyDirectory.readConfig(policyDir)
        #expect(config.cameraFeatureSize > 0)

        // The latent task: its observation is the denoiser's condition, the camera part the features of the frame
        // rendered now, and it follows the arm after a chunk.
        let camera = try PolicyDirectory.loadCameraPolicy(policyDir)
        let env = try CameraTaskEnvironment(robot: "so101", task: "lift", config: config, sparseReward: true)
        var latent = try LatentNoiseEnvironment(base: env, policy: camera.diffusion, magnitude: 1.5, ddimSteps: 4,
                                                camera: CameraTaskPolicy(policy: camera, environment: env))
        #expect(latent.observationSpace.size == config.denoiserConditionSize)
        var observation = [Float](repeating: 0, count: latent.observationSpace.size)
        latent.reset(seed: 5, observation: &observation)
        let encoder = camera.encoders[0], tape = ConvEncoderTape(config: encoder.config, maxBatch: 1)
        let image = Tensor(zeros: [encoder.imageCount])
        func featuresOfTheFrameNow() -> [Float] {
            env.rig.render()
            encoder.loadFrame(UnsafePointer(env.rig.images[0].rgb.baseAddress!), into: image.data)
            let f = encoder.forward(image.data, batch: 1, tape: tape)
            return Array(UnsafeBufferPointer(start: f, count: encoder.featureCount))
        }
        let n = config.conditionSize
        let atReset = featuresOfTheFrameNow()
        #expect(Array(observation[n...]) == atReset)
        let zero = [Float](repeating: 0, count: latent.actionSpace.size)
        _ = latent.step(zero, observation: &observation)
        let afterChunk = featuresOfTheFrameNow()
        #expect(Array(observation[n...]) == afterChunk)
        #expect(afterChunk != atReset, "the frame did not change after a chunk moved the arm")

        // A short DSRL-SAC run on the camera task, then deployed as reflex eval --dsrl deploys it.
        var o = FinetuneOptions()
        o.env = "so101:lift"
        o.dsrlPolicy = policyDir
        o.dsrlDDIMSteps = 4
        o.hidden = [16]
        o.batch = 8
        o.steps = 30
        o.warmup = 10
        o.checkpointInterval = 10
        o.evaluationInterval = 0
        o.evaluationEpisodes = 1
        let outcome = try FinetuneSession.create(spec: try o.makeSpec(), path: runDir).run()
        #expect(outcome.steps == 30 && outcome.finalEvaluation != nil)
        let actor = try DSRLActorDirectory(path: runDir)
        #expect(actor.policy.observationSize == config.denoiserConditionSize)

        let run = try EvalRun(policy: policyDir, robot: "so101", task: "lift", steering: SteeringDefaults(dsrlActor: runDir),
                              seed: 100, episodes: 2)
        #expect(run.identity.dsrlActor == runDir && run.identity.sampler.hasSuffix("+dsrl"), "\(run.identity.sampler)")
        let report = try run.run(workers: 1)
        #expect(report.episodes == 2 && report.meanSteps > 0)

        // The deployed steered policy's chunk is the base policy's chunk from the actor's noise of the whole condition.
        let pipeline = try SteeringPipeline(directory: policyDir, overrides: SteeringDefaults(dsrlActor: runDir))
        let steered = try #require(try pipeline.makePolicy(acceptingFrames: true) as? CameraDiffusionPolicy)
        #expect(steered.chunker is SteeredPolicy)
        let plain = try PolicyDirectory.loadCameraPolicy(policyDir)
        plain.diffusion.sampler = actor.sampler
        let frame = UnsafePointer(env.rig.images[0].rgb.baseAddress!)
        steered.setFrame(camera: 0, frame: frame)
        plain.setFrame(camera: 0, frame: frame)
        var state = [Float](repeating: 0, count: env.observationSpace.size)
        env.reset(seed: 9, observation: &state)
        let history = [Float](repeating: 0, count: config.nObsSteps).indices.flatMap { _ in state }
        let h = config.horizon * config.actionSize
        var a = [Float](repeating: 0, count: h), b = a, gen = RandomGenerator(seed: 1)
        _ = steered.predictChunk(history: history, stepsExecuted: 0, output: &a, generator: &gen)
        let source = try actor.noiseSource(for: plain.diffusion, deterministic: true, maxBatch: 1)
        let condition = Tensor(zeros: [config.denoiserConditionSize]), noise = Tensor(zeros: [h])
        plain.diffusion.writeCondition(history: history, into: condition.data)
        source.noise(condition: condition.data, count: 1, output: noise.data, generator: &gen)
        _ = plain.diffusion.sampleCandidates(history: history, count: 1, initialNoise: noise.data, stepsExecuted: 0, generator: &gen)
        plain.diffusion.commit(candidate: 0, output: &b)
        #expect(a == b && a.allSatisfy(\.isFinite))
        // The actor reads the camera features: without them its noise differs.
        let blind = Tensor(zeros: [h])
        for i in n ..< config.denoiserConditionSize { condition.data[i] = 0 }
        source.noise(condition: condition.data, count: 1, output: blind.data, generator: &gen)
        #expect(blind.scalars != noise.scalars)
    }
}
