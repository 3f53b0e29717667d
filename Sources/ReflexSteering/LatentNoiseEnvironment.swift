import ReflexCore
import ReflexPolicy

/// What hands a camera policy the frames of the world as it is now (rendered and encoded), so the next condition
/// holds their features. A simulated camera task implements it (`CameraTaskPolicy`).
public protocol CameraFeed: AnyObject {
    /// Renders every camera and sets its frame on the policy.
    func feedFrames()
}

/// DSRL's view of a task (Wagenmaker et al. 2025, §4): the frozen diffusion policy becomes part of the environment,
/// and the agent's action is the policy's initial noise w.
///
/// One step of this environment takes w (H × A values in [−magnitude, magnitude]), denoises it deterministically
/// (DDIM at η = 0, so w ↦ chunk is a fixed map), executes the chunk's `n_action_steps` actions in the base task and
/// returns one reward for the chunk. The observation is the denoiser's condition — the policy's normalized observation
/// history and, for a camera policy, its encoders' features of the newest frames (`camera`) — the same input
/// `LatentNoiseActor` gets at deployment. Any off-policy learner then runs DSRL-SAC unchanged: the diffusion weights
/// never change and each chunk is denoised once per step (the official code denoises it twice).
public struct LatentNoiseEnvironment<Base: Environment>: Environment {
    /// How the base task's rewards become DSRL's.
    public enum RewardMode: String, Sendable, Codable {
        /// The task's own (dense) reward, summed over the executed actions.
        case task
        /// The paper's sparse reward: −1 per chunk until the task succeeds, 0 on the chunk that succeeds, and the
        /// episode ends there. A living cost, not a success bonus: with SAC's entropy term added to every step, a
        /// 0/1 success bonus lets the soft value of merely surviving (−α log π per step) outweigh succeeding.
        case sparse
    }

    public private(set) var base: Base
    public let policy: DiffusionPolicy
    public let magnitude: Float
    public let rewardMode: RewardMode
    /// A camera policy's frames, fed after every reset and chunk (nil for a state policy).
    public let camera: CameraFeed?
    public let observationSpace: BoxSpace
    public let actionSpace: BoxSpace
    public let maxEpisodeSteps: Int
    private let history: ObservationHistory
    private let chunk: Tensor
    private var baseObservation: [Float]
    private var baseAction: [Float]
    private var baseSteps = 0
    private var scratch = RandomGenerator(seed: 0)

    /// `policy`'s sampler is set to DDIM with `ddimSteps` steps at η = 0 (deterministic). A camera policy needs
    /// `camera`, which renders `base`'s scene into `policy`'s features.
    public init(base: Base, policy: DiffusionPolicy, magnitude: Float = 1.5, ddimSteps: Int = 10,
                rewardMode: RewardMode = .sparse, camera: CameraFeed? = nil) throws {
        let c = policy.config
        guard (c.cameras != nil) == (camera != nil) else {
            throw ReflexError(.invalidArgument, c.cameras != nil
                ? "a camera policy's noise is learned from its frames: give the task's camera feed"
                : "a camera feed was given for a policy without cameras")
        }
        guard base.observationSpace.size == c.observationSize, base.actionSpace.size == c.actionSize else {
            throw ReflexError(.shapeMismatch,
                              "policy is \(c.observationSize)→\(c.actionSize), task \(base.observationSpace.size)→\(base.actionSpace.size)")
        }
        guard magnitude > 0 else { throw ReflexError(.invalidValue, "action magnitude must be positive") }
        policy.sampler = .ddim(steps: ddimSteps, eta: 0)
        self.base = base
        self.policy = policy
        self.magnitude = magnitude
        self.rewardMode = rewardMode
        self.camera = camera
        observationSpace = BoxSpace(unbounded: c.denoiserConditionSize)
        actionSpace = BoxSpace(symmetric: magnitude, size: c.horizon * c.actionSize)
        maxEpisodeSteps = (base.maxEpisodeSteps + c.nActionSteps - 1) / c.nActionSteps
        history = ObservationHistory(steps: c.nObsSteps, observationSize: c.observationSize)
        chunk = Tensor(zeros: [c.horizon, c.actionSize])
        baseObservation = [Float](repeating: 0, count: c.observationSize)
        baseAction = [Float](repeating: 0, count: c.actionSize)
    }

    public mutating func reset(seed: UInt64, observation: inout [Float]) {
        base.reset(seed: seed, observation: &baseObservation)
        baseSteps = 0
        baseObservation.withUnsafeBufferPointer { history.fill(with: $0.baseAddress!) }
        camera?.feedFrames()
        writeCondition(into: &observation)
    }

    /// - Note: Real-time safe.
    public mutating func step(_ action: [Float], observation: inout [Float]) -> StepOutcome {
        let c = policy.config, a = c.actionSize
        action.withUnsafeBufferPointer { w in
            _ = policy.sampleCandidates(history: history.data, count: 1, initialNoise: w.baseAddress!, stepsExecuted: 0,
                                    generator: &scratch)
        }
        policy.commit(candidate: 0, output: chunk.data)
        var outcome = StepOutcome(reward: 0, terminated: false, truncated: false)
        let executed = chunk.data + (c.nObsSteps - 1) * a
        for j in 0 ..< c.nActionSteps {
            for i in 0 ..< a { baseAction[i] = executed[j * a + i] }
            let out = base.step(baseAction, observation: &baseObservation)
            baseSteps += 1
            baseObservation.withUnsafeBufferPointer { history.push($0.baseAddress!) }
            if rewardMode == .task { outcome.reward += out.reward }
            if out.success { outcome.success = true }
            if out.terminated || (rewardMode == .sparse && out.success) { outcome.terminated = true; break }
            if out.truncated || baseSteps >= base.maxEpisodeSteps { outcome.truncated = true; break }
        }
        if rewardMode == .sparse { outcome.reward = outcome.success ? 0 : -1 }
        camera?.feedFrames()
        writeCondition(into: &observation)
        return outcome
    }

    private func writeCondition(into observation: inout [Float]) {
        observation.withUnsafeMutableBufferPointer { policy.writeCondition(history: history.data, into: $0.baseAddress!) }
    }
}
