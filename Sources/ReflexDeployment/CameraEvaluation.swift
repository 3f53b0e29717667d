import ReflexCore
import ReflexPolicy
import ReflexRobot
import ReflexRuntime
import ReflexSim
import ReflexSteering

/// A sim task as a camera policy sees it: the task's observation narrowed to the observations the policy was trained
/// on (`notes.observation_names`; `reflex train --exclude-features cube` drops the cube's pose), and the task's
/// cameras (`TaskCameraRig`) at the policy's frame sizes, rendered when the policy asks.
public final class CameraTaskEnvironment: Environment, FrameRecordingEnvironment, @unchecked Sendable {
    public let task: ArmTaskEnvironment
    public let rig: TaskCameraRig
    public let observationSpace: BoxSpace
    /// Task observation index of each policy observation.
    public let kept: [Int]
    private var full: [Float]

    /// `sparseReward`: the task's success-only reward, as DSRL's sparse mode trains on.
    public init(robot: String, task: String, config: PolicyConfig, sparseReward: Bool = false) throws {
        let env = try SimTask.make(robot: try RobotDescription.named(robot), task: task, sparseReward: sparseReward)
        let names = env.observationSpace.names ?? []
        let wanted = config.notes?["observation_names"].map { $0.split(separator: ",").map(String.init) } ?? names
        let kept = try wanted.map { name -> Int in
            guard let i = names.firstIndex(of: name) else {
                throw ReflexError(.shapeMismatch, "the policy observes '\(name)', which \(robot):\(task) does not have")
            }
            return i
        }
        guard kept.count == config.observationSize, config.actionSize == env.actionSpace.size else {
            throw ReflexError(.shapeMismatch, "the policy takes \(config.observationSize) observations (\(kept.count) named) and gives \(config.actionSize) actions; \(robot):\(task) has \(env.observationSpace.size) and \(env.actionSpace.size)")
        }
        let specs = try (config.cameras ?? []).map { c -> TaskCameraSpec in
            guard let placement = TaskCameraSpec.Placement(rawValue: c.name) else {
                throw ReflexError(.invalidArgument, "the policy's camera '\(c.name)' is not one the sim tasks render (\(TaskCameraSpec.Placement.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return try TaskCameraSpec(placement: placement, width: c.encoder.imageWidth, height: c.encoder.imageHeight)
        }
        self.task = env
        rig = try TaskCameraRig(environment: env, specs: specs)
        self.kept = kept
        observationSpace = BoxSpace(unbounded: kept.count, names: kept.map { names[$0] })
        full = [Float](repeating: 0, count: env.observationSpace.size)
    }

    public var actionSpace: BoxSpace { task.actionSpace }
    public var maxEpisodeSteps: Int { task.maxEpisodeSteps }

    public func reset(seed: UInt64, observation: inout [Float]) {
        task.reset(seed: seed, observation: &full)
        narrow(&observation)
    }

    public func step(_ action: [Float], observation: inout [Float]) -> StepOutcome {
        let out = task.step(action, observation: &full)
        narrow(&observation)
        return out
    }

    public var recordedCameras: [Demonstrations.Camera] {
        rig.specs.map { Demonstrations.Camera(name: $0.placement.rawValue, tensor: $0.tensorName, height: $0.height, width: $0.width) }
    }

    public func appendFrames(to frames: inout [[UInt8]]) {
        rig.render()
        for (k, image) in rig.images.enumerated() { frames[k].append(contentsOf: UnsafeBufferPointer(image.rgb)) }
    }

    private func narrow(_ observation: inout [Float]) {
        for (j, i) in kept.enumerated() { observation[j] = full[i] }
    }
}

/// A camera policy bound to one `CameraTaskEnvironment`: before each chunk it renders the environment's cameras as
/// the world is now (the state of the newest observation) and feeds the frames. DSRL's latent-noise task feeds them
/// through it too (`CameraFeed`).
public final class CameraTaskPolicy: Policy, CameraFeed {
    public let policy: CameraDiffusionPolicy
    public let environment: CameraTaskEnvironment
    public var config: PolicyConfig { policy.config }

    public init(policy: CameraDiffusionPolicy, environment: CameraTaskEnvironment) {
        self.policy = policy
        self.environment = environment
    }

    public func reset() { policy.reset() }

    public func feedFrames() {
        environment.rig.render()
        for (k, image) in environment.rig.images.enumerated() { policy.setFrame(camera: k, frame: UnsafePointer(image.rgb.baseAddress!)) }
    }

    public func predictChunk(history: UnsafePointer<Float>, stepsExecuted: Int, output: UnsafeMutablePointer<Float>,
                             generator: inout RandomGenerator) -> InferenceInfo {
        feedFrames()
        return policy.predictChunk(history: history, stepsExecuted: stepsExecuted, output: output, generator: &generator)
    }

    public func predictChunk(history: UnsafePointer<Float>, context: ChunkContext, output: UnsafeMutablePointer<Float>,
                             generator: inout RandomGenerator) -> InferenceInfo {
        feedFrames()
        return policy.predictChunk(history: history, context: context, output: output, generator: &generator)
    }
}
