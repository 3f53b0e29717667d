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

/// DSRL and V-GPS on a camera policy: both condition on the denoiser's whole condition (the normalized state history,
/// then the encoder's features of the newest frame). DSRL's latent-noise task renders the frames after every chunk, a
/// run finishes and deploys through `reflex eval --dsrl`, and the deployed actor's noise is the one computed from those
/// features; V-GPS's value data encodes the frames recorded with demonstrations and rollouts, and its critics rank the
/// candidates in `reflex eval --value`.
@Suite(.serialized) struct CameraSteeringTests {
    /// Two rendered lift demonstrations (front 32×32) and a tiny camera policy trained on them without the cube's pose
    /// and the goal: made once per test process.
    static let fixture: Result<(root: String, demos: String, policy: String), Error> = Result {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("camera-steering-\(UUID().uuidString)").path
        let demos = root + "/demos", policy = root + "/policy"
        try CameraLiftFixture.writeDemonstrations(episodes: 2, to: demos)
        let options = CameraLiftFixture.trainingOptions(steps: 40, batchSize: 8, hidden: [32], exclude: ["cube", "goal"])
        try PolicyTrainingSession(options: options, demonstrations: demos, directory: policy, resume: false, trainedWith: "test").run()
        return (root, demos, policy)
    }

    @Test func dsrlSteersACameraPolicyFromItsFrames() throws {
        // The session sizes the process-wide kernel pool to its run's threads: hold the pool as other tests expect it.
        try KernelThreads.with(1) { try dsrlOnCameraPolicy() }
    }

    func dsrlOnCameraPolicy() throws {
        let (root, _, policyDir) = try Self.fixture.get()
        let runDir = root + "/dsrl"
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

    @Test func vgpsRanksACameraPolicysCandidatesOnItsFrames() throws {
        try KernelThreads.with(1) { try vgpsOnCameraPolicy() }
    }

    func vgpsOnCameraPolicy() throws {
        let (root, demos, policyDir) = try Self.fixture.get()
        let config = try PolicyDirectory.readConfig(policyDir)
        // Rollouts recorded with their frames (reflex eval --record): the first frame is the scene at the episode's start.
        let run = try EvalRun(policy: policyDir, robot: "so101", task: "lift", seed: 200, episodes: 2)
        let report = try run.run(workers: 1, record: true)
        let env = try #require(try run.makeEnvironment() as? CameraTaskEnvironment)
        let rollouts = try Demonstrations(observationSize: env.observationSpace.size, actionSize: env.actionSpace.size,
                                          episodes: report.episodeResults.compactMap(\.trajectory), cameras: env.recordedCameras)
        let bytes = 32 * 32 * 3
        #expect(rollouts.cameras.map(\.name) == ["front"] && rollouts.episodes.allSatisfy { $0.frames[0].count == $0.length * bytes })
        var state = [Float](repeating: 0, count: env.observationSpace.size)
        env.reset(seed: 200, observation: &state)
        env.rig.render()
        #expect(Array(rollouts.episodes[0].frames[0].prefix(bytes)) == Array(env.rig.images[0].rgb))
        let recorded = root + "/rollouts"
        try rollouts.save(to: recorded, metadata: .init(robot: "so101", task: "lift", controlHz: 0,
                                                        observationNames: env.observationSpace.names ?? [],
                                                        actionNames: env.actionSpace.names ?? []))
        let reloaded = try Demonstrations.load(directory: recorded).demonstrations
        #expect(reloaded.cameras == rollouts.cameras && reloaded.episodes.map(\.frames) == rollouts.episodes.map(\.frames))

        // Value data: the demonstrations narrowed to the policy's observations; each state's camera part is the
        // encoder's features of the frame recorded at that step.
        let (all, meta) = try Demonstrations.load(directory: demos)
        let narrowed = try ValueData.inputs(of: all, names: meta.observationNames, for: config)
        #expect(all.observationSize > config.observationSize && narrowed.observationSize == config.observationSize)
        let encoders = try PolicyDirectory.readEncoders(policyDir, config: config)
        let data = try ValueData.transitions(from: [narrowed], policy: config, encoders: encoders, gamma: 0.98)
        #expect(data.stateSize == config.denoiserConditionSize && data.count == narrowed.stepCount)
        let tape = ConvEncoderTape(config: encoders[0].config, maxBatch: 1), image = Tensor(zeros: [encoders[0].imageCount])
        for step in [0, 5] {
            narrowed.withFrame(episode: 0, index: step, camera: 0) { encoders[0].loadFrame($0, into: image.data) }
            let f = encoders[0].forward(image.data, batch: 1, tape: tape)
            let stored = Array(data.state(step)[config.conditionSize...])
            #expect(stored == Array(UnsafeBufferPointer(start: f, count: encoders[0].featureCount)), "step \(step)")
        }
        // A set without the policy's camera is refused with the camera named.
        let blind = try Demonstrations(observationSize: narrowed.observationSize, actionSize: narrowed.actionSize,
                                       episodes: narrowed.episodes.map { var e = $0; e.frames = []; return e })
        do {
            _ = try ValueData.transitions(from: [blind], policy: config, encoders: encoders, gamma: 0.98)
            Issue.record("value data without frames was accepted for a camera policy")
        } catch let e as ReflexError {
            #expect(e.message.contains("camera 'front'"), "\(e.message)")
        }

        // Critics from demonstrations and rollouts, then K = 2 candidates ranked in reflex eval --value.
        var training = ValueTraining()
        (training.steps, training.batchSize, training.hiddenSizes, training.gamma) = (50, 16, [16], 0.98)
        let outcome = try training.run(policyDirectory: policyDir, dataDirectories: [demos, recorded], out: root + "/value")
        #expect(outcome.stateSize == config.denoiserConditionSize && outcome.episodes == 4)
        let steered = try EvalRun(policy: policyDir, robot: "so101", task: "lift", steering: SteeringDefaults(value: root + "/value", k: 2),
                                  seed: 100, episodes: 2)
        #expect(steered.identity.value == root + "/value" && steered.identity.k == 2 && steered.identity.sampler.hasSuffix("+vgps2"),
                "\(steered.identity.sampler)")
        let ranked = try steered.run(workers: 1)
        #expect(ranked.episodes == 2 && ranked.meanSteps > 0)
        let pipeline = try SteeringPipeline(directory: policyDir, overrides: SteeringDefaults(value: root + "/value", k: 2))
        let policy = try #require(try pipeline.makePolicy(acceptingFrames: true) as? CameraDiffusionPolicy)
        #expect((policy.chunker as? SteeredPolicy)?.candidates == 2)
    }
}
