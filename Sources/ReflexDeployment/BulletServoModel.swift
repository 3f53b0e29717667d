import ReflexCore
import ReflexHardware
import ReflexRobot
import ReflexSim

/// Hardware in the loop: the emulated servos move as the Bullet arm of a simulated task does. Goal ticks become
/// joint targets for pybullet-style position control (the description's gains), the world steps at its physics rate
/// for the time that passed, and the joints' angles and speeds go back out as present ticks. The task's objects (the
/// cube of `lift`) live in the same world, so a runner can take their poses from `environment` as a camera's
/// estimate would be taken on a real arm, while the joints are only seen through the bus.
public final class BulletServoModel: ServoModel {
    public let environment: ArmTaskEnvironment
    private let slot: [Int]                       // servo id -> description joint index (-1 if none)
    private let offset: [Double], direction: [Double], ticksPerRadian: [Double]
    private let control: PositionControl
    private let q, qd: UnsafeMutablePointer<Double>
    private var holdAngle: [Double]
    private var wasEnabled: [Bool]
    private let count: Int
    private let linkCount: Int
    private let physicsStep: Double
    private var pending = 0.0
    private let substeps: Int
    private var phase = 0
    private let objectPose: UnsafeMutablePointer<Double>
    /// Whether the task's success test passed at some control period of this episode (the scorer's verdict; it
    /// is checked every `physicsHz / controlHz` physics steps, where `reflex eval` checks it after each action).
    public private(set) var success = false
    /// The episode number the runner gave with its last reset request (0 before any).
    public private(set) var episode: UInt32 = 0

    /// The arm of `task` (reach, push, lift) for `description`, reset with `seed`.
    public init(description: RobotDescription, hardware: ArmBusConfiguration, task: String, seed: UInt64) throws {
        environment = try SimTask.make(robot: description, task: task)
        var observation = [Float](repeating: 0, count: environment.observationSpace.size)
        environment.reset(seed: seed, observation: &observation)
        count = description.joints.count
        linkCount = description.model.joints.count
        var slot = [Int](repeating: -1, count: 256)
        var offset = [Double](repeating: 0, count: count), direction = [Double](repeating: 1, count: count)
        var tpr = [Double](repeating: 1, count: count)
        for (k, j) in description.joints.enumerated() {
            guard let s = hardware.servos.first(where: { $0.joint == j.name }) else {
                throw ReflexError(.invalidArgument, "joint \(j.name) has no servo in the hardware: section")
            }
            slot[Int(s.id)] = k
            offset[k] = Double(s.offset)
            direction[k] = Double(s.direction)
            tpr[k] = Double(s.controlTable.resolution) / (2 * Double.pi)
        }
        self.slot = slot
        self.offset = offset
        self.direction = direction
        ticksPerRadian = tpr
        control = PositionControl(description: description)
        q = .allocate(capacity: max(linkCount, 1))
        q.initialize(repeating: 0, count: max(linkCount, 1))
        qd = .allocate(capacity: max(linkCount, 1))
        qd.initialize(repeating: 0, count: max(linkCount, 1))
        physicsStep = 1 / Double(environment.config.physicsHz)
        substeps = environment.config.substeps
        objectPose = .allocate(capacity: 7)
        objectPose.initialize(repeating: 0, count: 7)
        environment.world.jointState(body: environment.arm, positions: q, velocities: qd)
        let (qs, c) = (q, control)
        holdAngle = (0 ..< description.joints.count).map { k in qs[c.urdfIndex(k)] }
        wasEnabled = [Bool](repeating: false, count: count)
    }

    deinit {
        for p in [q, qd, objectPose] { p.deallocate() }
    }

    /// Starts episode `episode` of the task from `seed` — the same start `reflex eval` gives episode seed `seed`
    /// (joint noise, cube placement) — and puts the emulated servos there, holding.
    public func reset(seed: UInt64, episode: UInt32, servos: [EmulatedServo]) {
        var observation = [Float](repeating: 0, count: environment.observationSpace.size)
        environment.reset(seed: seed, observation: &observation)
        environment.world.jointState(body: environment.arm, positions: q, velocities: qd)
        for k in 0 ..< count {
            holdAngle[k] = q[control.urdfIndex(k)]
            wasEnabled[k] = false
        }
        pending = 0
        phase = 0
        success = false
        self.episode = episode
        for s in servos { s.place(at: initialTicks(id: s.id)) }
    }

    /// The camera's view of the scene now: the cube's pose, the goal, and the scorer's verdict so far.
    public func estimate(sequence: UInt64, time: UInt64) -> CameraEstimate {
        let world = environment.world
        world.objectPose(environment.cubeBody, position: objectPose, quaternion: objectPose + 3)
        let p = objectPose
        return CameraEstimate(episode: episode, sequence: sequence, captureTime: time,
                              position: Vector3(p[0], p[1], p[2]), orientation: SIMD4(p[3], p[4], p[5], p[6]),
                              goal: environment.goal, success: success)
    }

    /// The ticks the servos start at: the simulated arm's pose after the reset.
    public func initialTicks(id: UInt8) -> Double {
        let k = slot[Int(id)]
        guard k >= 0 else { return 2048 }
        return offset[k] + direction[k] * q[control.urdfIndex(k)] * ticksPerRadian[k]
    }

    public func advance(_ servos: inout [ServoMotionState], dt: Double) {
        pending += dt
        let steps = min(Int(pending / physicsStep), 240) // at most a second of physics per call
        pending -= Double(steps) * physicsStep
        if pending > 1 { pending = 0 }
        for s in servos {
            let k = slot[Int(s.id)]
            guard k >= 0 else { continue }
            // Torque off: the STS3215's 1:345 gearbox holds the joint where it was (the SO-101 does not fall when
            // its torque goes off), modelled as holding that angle.
            if wasEnabled[k] && !s.torqueEnabled { holdAngle[k] = q[control.urdfIndex(k)] }
            wasEnabled[k] = s.torqueEnabled
            control.targets[k] = s.torqueEnabled ? direction[k] * (s.goal - offset[k]) / ticksPerRadian[k] : holdAngle[k]
        }
        if steps > 0 {
            control.apply(to: environment.world, body: environment.arm, dt: physicsStep)
            // Step to each control-period boundary and score there, as the task's own step would.
            var left = steps
            while left > 0 {
                let n = min(left, substeps - phase)
                environment.world.step(dt: physicsStep, count: n)
                left -= n
                phase += n
                if phase == substeps {
                    phase = 0
                    if environment.observe().success { success = true }
                }
            }
            environment.world.jointState(body: environment.arm, positions: q, velocities: qd)
        }
        for i in servos.indices {
            let k = slot[Int(servos[i].id)]
            guard k >= 0 else { continue }
            let u = control.urdfIndex(k)
            servos[i].position = offset[k] + direction[k] * q[u] * ticksPerRadian[k]
            servos[i].velocity = direction[k] * qd[u] * ticksPerRadian[k]
            servos[i].load = 0
        }
    }
}
