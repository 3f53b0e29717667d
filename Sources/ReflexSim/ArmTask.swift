import Foundation
import ReflexCore
import ReflexRobot

/// The tasks Reflex's simulated arms know.
public enum TaskKind: String, Sendable, CaseIterable, Codable {
    /// Bring the end effector within 2 cm of a target point.
    case reach
    /// Push a cube on the table to within 3 cm of a goal point.
    case push
    /// Grasp a cube and hold it 5 cm above the table.
    case lift
}

/// Settings of a simulated arm task; the defaults are the benchmark's.
public struct TaskConfig: Sendable, Equatable {
    public var kind: TaskKind
    /// Policy (control) rate; the physics runs at `physicsHz`, `physicsHz / controlHz` substeps per action.
    public var controlHz: Int = 20
    public var physicsHz: Int = 240
    /// Control steps before truncation.
    public var maxEpisodeSteps: Int
    /// Dense (shaped) or sparse (1 on success, else 0) reward.
    public var sparseReward = false
    /// Half-width of the uniform noise added to the home pose at reset (rad).
    public var initialJointNoise = 0.05
    public var cubeHalfExtent = 0.015
    public var cubeMass = 0.03
    /// Distances that count as success (m).
    public var reachTolerance = 0.02
    public var pushTolerance = 0.03
    public var liftHeight = 0.05
    /// Largest distance between the grasp centre and the cube that counts as holding it (lift).
    public var graspTolerance = 0.03
    /// Control steps the lifted cube must stay up before `lift` succeeds.
    public var liftHoldSteps = 5

    public init(kind: TaskKind) {
        self.kind = kind
        switch kind {
        case .reach: maxEpisodeSteps = 60
        case .push: maxEpisodeSteps = 120
        case .lift: maxEpisodeSteps = 120
        }
    }

    public var substeps: Int { max(1, physicsHz / max(1, controlHz)) }
}

/// Where the task puts things (metres, in the arm's base frame, table top at z = 0).
struct Workspace {
    /// Cubes start at this distance from the base axis and bearing (the SO-101 reaches the table top-down from
    /// about 0.155 m to 0.245 m).
    static let cubeRadius = 0.175 ... 0.225
    static let cubeBearing = -0.45 ... 0.45
    /// Where the grasp centre of a pushing gripper and the push goal may be.
    static let pushRadius = 0.165 ... 0.24
    static let reachX = 0.12 ... 0.26
    static let reachY = -0.12 ... 0.12
    static let reachZ = 0.04 ... 0.20
}

/// A simulated arm on a table doing one of `TaskKind`'s tasks: an `Environment` over a Bullet world.
///
/// Actions are absolute joint position targets in the robot description's order (arm joints, then the gripper),
/// clamped to the joint limits and tracked by pybullet-style position control. Observations are listed by name
/// in `observationSpace.names`: joint positions and velocities, end-effector position and quaternion (x, y, z,
/// w), the cube's position and quaternion (push, lift) and the goal point. `step` allocates nothing.
public final class ArmTaskEnvironment: Environment, @unchecked Sendable {
    public let robot: RobotDescription
    public let config: TaskConfig
    public let observationSpace: BoxSpace
    public let actionSpace: BoxSpace
    public var maxEpisodeSteps: Int { config.maxEpisodeSteps }

    /// The live world; rebuilt at every reset so an episode depends on its seed only.
    public private(set) var world: BulletWorld
    public private(set) var arm = 0
    private var cube = -1
    private let jointCount: Int
    private let linkCount: Int
    private let endEffectorLink: Int
    private let hasCube: Bool

    // Buffers made once (the step allocates nothing).
    private let control: PositionControl
    private let q: UnsafeMutablePointer<Double>
    private let qd: UnsafeMutablePointer<Double>
    private let pose: UnsafeMutablePointer<Double> // ee pos 3, ee quat 4, cube pos 3, cube quat 4

    /// Goal point (reach target, push goal, or the lift height above the cube's start).
    public private(set) var goal = Vector3.zero
    private var cubeStart = Vector3.zero
    private var steps = 0
    private var successTest: TaskSuccessTest

    public init(robot: RobotDescription, config: TaskConfig) throws {
        self.robot = robot
        self.config = config
        jointCount = robot.joints.count
        guard let ee = robot.model.linkIndex(robot.endEffectorLink), ee > 0 else {
            throw ReflexError(.invalidArgument, "the end-effector link must not be the root", at: .init(element: robot.endEffectorLink))
        }
        endEffectorLink = ee - 1
        hasCube = config.kind.hasCube
        world = BulletWorld()
        linkCount = robot.model.joints.count
        control = PositionControl(description: robot)
        successTest = TaskSuccessTest(config: config)
        q = .allocate(capacity: linkCount)
        qd = .allocate(capacity: linkCount)
        pose = .allocate(capacity: 14)
        pose.initialize(repeating: 0, count: 14)
        q.initialize(repeating: 0, count: linkCount)
        qd.initialize(repeating: 0, count: linkCount)
        let names = robot.jointNames
        let obsNames = names.map { "\($0).pos" } + names.map { "\($0).vel" } + config.kind.featureNames
        observationSpace = BoxSpace(unbounded: obsNames.count, names: obsNames)
        actionSpace = BoxSpace(low: robot.lowerLimits.map { Float($0) }, high: robot.upperLimits.map { Float($0) },
                               names: names.map { "\($0).pos" })
        try build()
    }

    deinit {
        for p in [q, qd, pose] { p.deallocate() }
    }

    private func build() throws {
        world = BulletWorld()
        arm = try world.addMultiBody(robot.model, fixedBase: true)
        world.addPlane(height: 0, friction: 0.5)
        if hasCube {
            let h = config.cubeHalfExtent
            cube = world.addBox(halfExtents: Vector3(h, h, h), mass: config.cubeMass, friction: 1.0, position: Vector3(0.2, 0, h))
        }
    }

    /// Index into the observation of the named value.
    public func observationIndex(_ name: String) -> Int? { observationSpace.names?.firstIndex(of: name) }

    public func reset(seed: UInt64, observation: inout [Float]) {
        // Building the same bodies in the same order cannot fail once `init` succeeded.
        try? build()
        var gen = RandomGenerator(seed: seed)
        var start = [Double](repeating: 0, count: linkCount)
        for (i, j) in robot.joints.enumerated() {
            let noise = i < robot.armJointCount ? gen.uniform(-config.initialJointNoise, config.initialJointNoise) : 0
            let v = min(max(robot.home[i] + noise, j.lower), j.upper)
            start[j.urdfIndex] = v
            control.targets[i] = v
        }
        world.resetJoints(body: arm, positions: start)
        let h = config.cubeHalfExtent
        switch config.kind {
        case .reach:
            goal = Vector3(gen.uniform(Workspace.reachX.lowerBound, Workspace.reachX.upperBound),
                           gen.uniform(Workspace.reachY.lowerBound, Workspace.reachY.upperBound),
                           gen.uniform(Workspace.reachZ.lowerBound, Workspace.reachZ.upperBound))
        case .push, .lift:
            let r = gen.uniform(Workspace.cubeRadius.lowerBound, Workspace.cubeRadius.upperBound)
            let bearing = gen.uniform(Workspace.cubeBearing.lowerBound, Workspace.cubeBearing.upperBound)
            cubeStart = Vector3(r * cos(bearing), r * sin(bearing), h)
            let yaw = gen.uniform(-Double.pi / 4, Double.pi / 4)
            world.setObjectPose(cube, position: cubeStart, yaw: yaw)
            if config.kind == .lift {
                goal = cubeStart + Vector3(0, 0, config.liftHeight)
            } else {
                // A goal 6–9 cm away such that the goal and the pushing gripper behind the cube stay reachable.
                func radius(_ v: Vector3) -> Double { (v.x * v.x + v.y * v.y).squareRoot() }
                var pusher = Vector3.zero
                repeat {
                    let angle = gen.uniform(-Double.pi, Double.pi), distance = gen.uniform(0.06, 0.09)
                    goal = Vector3(cubeStart.x + distance * cos(angle), cubeStart.y + distance * sin(angle), h)
                    pusher = cubeStart - 0.05 * Vector3(cos(angle), sin(angle), 0)
                } while !Workspace.pushRadius.contains(radius(goal)) || !Workspace.pushRadius.contains(radius(pusher))
            }
        }
        steps = 0
        successTest.reset(cubeStart: cubeStart, goal: goal)
        applyTargets()
        writeObservation(&observation)
    }

    private func applyTargets() {
        control.apply(to: world, body: arm, dt: 1 / Double(config.physicsHz))
    }

    public func step(_ action: [Float], observation: inout [Float]) -> StepOutcome {
        let n = min(action.count, jointCount)
        for i in 0 ..< n {
            let a = Double(action[i])
            if a.isFinite { control.targets[i] = a }
        }
        applyTargets()
        world.step(dt: 1 / Double(config.physicsHz), count: config.substeps)
        steps += 1
        writeObservation(&observation)
        return outcome()
    }

    private func readState() {
        world.jointState(body: arm, positions: q, velocities: qd)
        world.linkPose(body: arm, link: endEffectorLink, position: pose, quaternion: pose + 3)
        if hasCube { world.objectPose(cube, position: pose + 7, quaternion: pose + 10) }
    }

    private func writeObservation(_ obs: inout [Float]) {
        readState()
        var k = 0
        for i in 0 ..< jointCount { obs[k] = Float(q[control.urdfIndex(i)]); k += 1 }
        for i in 0 ..< jointCount { obs[k] = Float(qd[control.urdfIndex(i)]); k += 1 }
        let poseCount = hasCube ? 14 : 7
        for i in 0 ..< poseCount { obs[k] = Float(pose[i]); k += 1 }
        obs[k] = Float(goal.x)
        obs[k + 1] = Float(goal.y)
        obs[k + 2] = Float(goal.z)
    }

    /// Reads the scene and applies the task's success test without stepping: for a runner that steps the world
    /// itself (hardware in the loop steps it from the servo emulator). Call it once per control period, as `step`
    /// would be called, since `lift` counts control periods held.
    public func observe() -> StepOutcome {
        readState()
        return outcome()
    }

    /// Cube orientation (x, y, z, w) as of the last `step`, `reset` or `observe` (identity for `reach`).
    public var cubeOrientation: SIMD4<Double> { hasCube ? SIMD4(pose[10], pose[11], pose[12], pose[13]) : SIMD4(0, 0, 0, 1) }

    /// The cube's body in `world` (-1 for `reach`), e.g. to read its pose between steps.
    public var cubeBody: Int { hasCube ? cube : -1 }

    /// End-effector (grasp centre) position.
    public var endEffectorPosition: Vector3 { Vector3(pose[0], pose[1], pose[2]) }
    /// Cube position (zero for `reach`).
    public var cubePosition: Vector3 { hasCube ? Vector3(pose[7], pose[8], pose[9]) : .zero }

    private func outcome() -> StepOutcome {
        let verdict = successTest.update(endEffector: endEffectorPosition, cube: cubePosition)
        let reward = config.sparseReward ? (verdict.success ? 1 : 0) : verdict.denseReward
        return StepOutcome(reward: reward, terminated: verdict.success,
                           truncated: !verdict.success && steps >= config.maxEpisodeSteps, success: verdict.success)
    }
}
