import Foundation
import ReflexCore
import ReflexRobot
import ReflexSim
import Synchronization

/// A task's scene around a `SimulatedRobot`, for real-time runs (`reflex run --sim`, the daemon's sim arm): the arm
/// and the cube start where the task environment's own `reset(seed:)` puts them (joint noise, cube placement and
/// yaw), so a run from seed S starts as episode seed S of `reflex eval`; the task features the policies were trained
/// on — end-effector pose, cube pose, goal — are read from the simulator each tick, as a camera's estimate would
/// come in on a real arm; success is the task's own `TaskSuccessTest`, judged once per tick.
public final class SimScene: @unchecked Sendable {
    public let kind: TaskKind
    /// Task features per observation (`TaskKind.featureCount`).
    public var featureCount: Int { kind.featureCount }
    private let world: BulletWorld
    private let armBody: Int
    private let eeLink: Int
    private let cube: Int
    private let pose: UnsafeMutablePointer<Double>
    private var successTest: TaskSuccessTest
    private let maxLift = Atomic<Int>(0) // µm above the start
    private let succeeded = Atomic<Bool>(false)
    /// The episode's start, kept for `reset()`.
    private let layout: Layout

    /// Where an episode starts: the task environment's `reset(seed:)` decides, so there is one copy of the workspace
    /// and its draws. Computed before the simulated arm is configured, so the arm can be placed and activated at
    /// once (a configured, inactive simulated arm has no torque and sags while time passes).
    public struct Layout: Sendable {
        public var task: TaskConfig
        /// Start angles by URDF joint index.
        public var joints: [Double]
        public var cubeStart: Vector3
        public var cubeYaw: Double
        public var goal: Vector3

        public init(description: RobotDescription, task: TaskKind, seed: UInt64) throws {
            let env = try SimTask.make(robot: description, task: task.rawValue)
            var observation = [Float](repeating: 0, count: env.observationSpace.size)
            env.reset(seed: seed, observation: &observation)
            var q = [Double](repeating: 0, count: description.model.joints.count)
            q.withUnsafeMutableBufferPointer { env.world.jointState(body: env.arm, positions: $0.baseAddress!, velocities: nil) }
            self.task = env.config
            joints = q
            cubeStart = env.cubePosition
            // The cube rests flat: a rotation about z only.
            let r = env.cubeOrientation
            cubeYaw = 2 * atan2(r.z, r.w)
            goal = env.goal
        }
    }

    /// Builds the scene of `seed` in `robot`'s world (after `configure`).
    public convenience init(robot: SimulatedRobot, task: TaskKind, seed: UInt64) throws {
        try self.init(robot: robot, layout: try Layout(description: robot.description, task: task, seed: seed))
    }

    /// Builds the scene in `robot`'s world (after `configure`) and puts the arm at the layout's start.
    public init(robot: SimulatedRobot, layout: Layout) throws {
        guard let world = robot.simulation else { throw ReflexError(.device, "the simulated arm is not configured") }
        let model = robot.description.model
        // The arm is the first body the simulated robot adds to its world.
        guard world.linkCount(body: 0) == model.joints.count else {
            throw ReflexError(.device, "cannot find the arm in the simulated world")
        }
        guard let ee = model.linkIndex(robot.description.endEffectorLink), ee > 0 else {
            throw ReflexError(.invalidArgument, "the end-effector link must not be the root", at: .init(element: robot.description.endEffectorLink))
        }
        self.world = world
        kind = layout.task.kind
        armBody = 0
        eeLink = ee - 1
        pose = .allocate(capacity: 14)
        pose.initialize(repeating: 0, count: 14)
        self.layout = layout
        successTest = TaskSuccessTest(config: layout.task)
        successTest.reset(cubeStart: layout.cubeStart, goal: layout.goal)
        world.resetJoints(body: armBody, positions: layout.joints)
        if kind.hasCube {
            let h = layout.task.cubeHalfExtent
            cube = world.addBox(halfExtents: Vector3(h, h, h), mass: layout.task.cubeMass, friction: 1.0,
                                position: layout.cubeStart, yaw: layout.cubeYaw)
        } else {
            cube = -1
        }
    }

    deinit { pose.deallocate() }

    /// Puts the arm (at rest) and the cube back where the episode starts, and forgets the success and lift records:
    /// the daemon does this before each episode on a simulated arm, as `reflex eval` resets its environment (an
    /// inactive simulated arm sags while the daemon waits, and would otherwise start from wherever it fell).
    /// - Warning: Not real-time safe; only with no loop running and the arm inactive.
    public func reset() {
        world.resetJoints(body: armBody, positions: layout.joints)
        if cube >= 0 { world.setObjectPose(cube, position: layout.cubeStart, yaw: layout.cubeYaw) }
        successTest.reset(cubeStart: layout.cubeStart, goal: layout.goal)
        maxLift.store(0, ordering: .relaxed)
        succeeded.store(false, ordering: .relaxed)
    }

    /// The feature provider for the observation builder; it also judges success, once per call (one loop tick).
    /// - Note: Real-time safe.
    public func features(_ out: UnsafeMutableBufferPointer<Float>) -> Bool {
        world.linkPose(body: armBody, link: eeLink, position: pose, quaternion: pose + 3)
        var k = 7
        if cube >= 0 {
            world.objectPose(cube, position: pose + 7, quaternion: pose + 10)
            k = 14
        }
        for i in 0 ..< k { out[i] = Float(pose[i]) }
        let goal = layout.goal
        out[k] = Float(goal.x)
        out[k + 1] = Float(goal.y)
        out[k + 2] = Float(goal.z)
        let ee = Vector3(pose[0], pose[1], pose[2])
        let c = cube >= 0 ? Vector3(pose[7], pose[8], pose[9]) : .zero
        if successTest.update(endEffector: ee, cube: c).success { succeeded.store(true, ordering: .relaxed) }
        if cube >= 0 {
            let up = Int((c.z - layout.cubeStart.z) * 1e6)
            if up > maxLift.load(ordering: .relaxed) { maxLift.store(up, ordering: .relaxed) }
        }
        return true
    }

    /// The cube's body in the world (-1: the task has none), for a renderer.
    public var cubeBody: Int { cube }
    /// Half the cube's side (m).
    public var cubeHalfExtent: Double { layout.task.cubeHalfExtent }

    /// The task's success test has held at some tick since the start (or the last `reset`).
    public var success: Bool { succeeded.load(ordering: .relaxed) }
    /// Highest the cube got above its start (m).
    public var highestLift: Double { Double(maxLift.load(ordering: .relaxed)) * 1e-6 }
}
