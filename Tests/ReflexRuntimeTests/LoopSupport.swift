import ReflexCore
import ReflexNN
import ReflexPolicy
import ReflexRobot
import Synchronization

@testable import ReflexRuntime

let loopPeriodNs: UInt64 = 10_000_000 // 100 Hz
let loopStart: UInt64 = 1_000_000_000

/// The 100 Hz slot a manual-clock reading belongs to.
func slot(_ now: UInt64) -> Int { Int((now - loopStart) / loopPeriodNs) }

/// A policy whose chunk says, in joint 0, which slot each action is for: action h of a chunk conditioned on slot s
/// is `ramp · (s + h − (nObs − 1))`; the other joints get `rest`. The slot comes in as the observation's last
/// value (a task feature). A late or misaligned action is then visible as a wrong value.
final class RampPolicy: Policy {
    let config: PolicyConfig
    let ramp: Float
    let rest: Float
    let joints: Int
    /// stepsExecuted of every call, in order (set-up allocation only: reserved).
    var steps: [Int] = []
    var resets = 0
    /// Makes every action NaN while set.
    var emitNaN = false

    init(joints: Int, nObs: Int = 2, horizon: Int = 8, nActionSteps: Int = 4, ramp: Float = 0.001, rest: Float = 0) throws {
        let obs = joints + 1
        config = PolicyConfig(kind: .bc, observationSize: obs, actionSize: joints, nObsSteps: nObs, horizon: horizon,
                              nActionSteps: nActionSteps,
                              normalization: .init(observation: .identity(size: obs), action: .identity(size: joints)),
                              network: .init(hiddenSizes: [4]))
        try config.validate()
        self.ramp = ramp
        self.rest = rest
        self.joints = joints
        steps.reserveCapacity(100_000)
    }

    func reset() { resets += 1 }

    func predictChunk(history: UnsafePointer<Float>, stepsExecuted: Int, output: UnsafeMutablePointer<Float>,
                      generator: inout RandomGenerator) -> InferenceInfo {
        let c = config
        let s = Int(history[(c.nObsSteps - 1) * c.observationSize + joints])
        for h in 0 ..< c.horizon {
            for j in 0 ..< joints {
                output[h * joints + j] = emitNaN ? .nan : (j == 0 ? ramp * Float(s + h - (c.nObsSteps - 1)) : rest)
            }
        }
        if steps.count < steps.capacity { steps.append(stepsExecuted) }
        return InferenceInfo(networkEvaluations: 1, warmStarted: false)
    }
}

/// Observation builder: joint positions, then the slot of the clock (the RampPolicy's feature).
func slotObservation(joints: Int, clock: ManualClock) throws -> ObservationBuilder {
    try ObservationBuilder(jointCount: joints, featureCount: 1) { out in
        out[0] = Float(slot(clock.now()))
        return true
    }
}

/// Wraps a FakeRobot: records each write's (slot, joint 0 command) into storage made once, and can play a slow
/// bus by advancing the manual clock inside `read`.
final class RecordingRobot: Robot {
    let inner: FakeRobot
    let clock: ManualClock
    var name: String { inner.name }
    var jointNames: [String] { inner.jointNames }
    var limits: [JointLimits] { inner.limits }
    var lifecycle: LifecycleState { inner.lifecycle }
    let slots: UnsafeMutableBufferPointer<Int>
    let values: UnsafeMutableBufferPointer<Double>
    var count = 0
    /// Advance the clock by this much inside the read of the given read number.
    var slowRead: (index: Int, by: UInt64)?
    var reads = 0

    init(_ inner: FakeRobot, clock: ManualClock, capacity: Int = 100_000) {
        self.inner = inner
        self.clock = clock
        slots = .allocate(capacity: capacity)
        values = .allocate(capacity: capacity)
        slots.initialize(repeating: 0)
        values.initialize(repeating: 0)
    }

    deinit {
        slots.deallocate()
        values.deallocate()
    }

    func configure() throws { try inner.configure() }
    func activate() throws { try inner.activate() }
    func deactivate() throws { try inner.deactivate() }
    func finalize() { inner.finalize() }

    func read(into state: JointState) -> RobotStatus {
        reads += 1
        if let s = slowRead, s.index == reads { clock.advance(by: s.by) }
        return inner.read(into: state)
    }

    func write(_ command: JointCommand) -> RobotStatus {
        if count < slots.count {
            slots[count] = slot(clock.now())
            values[count] = command.position[0]
            count += 1
        }
        return inner.write(command)
    }
}

/// A six-joint fake on a manual clock, configured and active.
func activeFake(_ clock: ManualClock) throws -> FakeRobot {
    let robot = FakeRobot.sixJoint(now: clock.reading)
    try robot.configure()
    try robot.activate()
    return robot
}

/// A small randomly initialised diffusion policy (MLP denoiser) over `observation` values and `action` joints.
func smallDiffusionPolicy(observation: Int, action: Int, sampler: SamplerSpec = .ddim(steps: 4, eta: 0)) throws -> DiffusionPolicy {
    let config = PolicyConfig(kind: .diffusion, observationSize: observation, actionSize: action, nObsSteps: 2, horizon: 16,
                              nActionSteps: 8,
                              normalization: .init(observation: .identity(size: observation), action: .identity(size: action)),
                              network: .init(hiddenSizes: [64, 64]), scheduler: NoiseScheduler.Config(), sampler: sampler)
    var gen = RandomGenerator(seed: 3)
    let mlp = MLP(config: config.network.mlp(horizon: config.horizon, actionSize: action, conditionSize: config.conditionSize),
                  generator: &gen)
    let denoiser = MLPDenoiser(config: config.network, network: mlp, horizon: config.horizon, actionSize: action,
                               conditionSize: config.conditionSize, trainTimesteps: 100, maxBatch: 1)
    return try DiffusionPolicy(config: config, denoiser: denoiser)
}
