import Foundation
import ReflexCore
import ReflexRobot
import ReflexRuntime
import ReflexSim
import Synchronization

/// The task scene around a `SimulatedRobot` for `reflex run --sim`: the arm and the cube start where the task's
/// own `reset(seed:)` puts them (joint noise, cube placement and yaw), so `run --sim --seed S` is episode seed S
/// of `reflex eval`; the task features the policies were trained on — end-effector pose, cube pose, goal — are read
/// from the simulator each tick, as a camera's estimate would come in on a real arm.
/// It also keeps the lift success predicate (cube ≥ 5 cm up and in the gripper for 5 consecutive ticks).
final class RunScene: @unchecked Sendable {
    let kind: TaskKind
    let featureCount: Int
    private let world: BulletWorld
    private let armBody: Int
    private let eeLink: Int
    private let cube: Int
    private let goal: Vector3
    private let cubeStart: Vector3
    private let pose: UnsafeMutablePointer<Double>
    private var heldTicks = 0
    private let maxLift = Atomic<Int>(0) // µm above the start
    private let succeeded = Atomic<Bool>(false)
    private let halfExtent = 0.015

    /// Where an episode starts: the task's own `reset(seed:)` decides, so there is one copy of the workspace and
    /// its draws. Computed before the simulated arm is configured, so the arm can be placed and activated at once
    /// (a configured, inactive simulated arm has no torque and sags while time passes).
    struct Layout {
        var joints: [Double] // by URDF joint index
        var cubeStart: Vector3
        var cubeYaw: Double
        var cubeMass: Double
        var goal: Vector3

        init(description: RobotDescription, task: TaskKind, seed: UInt64) throws {
            guard task == .lift else {
                throw ReflexError(.invalidArgument, "reflex run --sim sets up the lift task only for now, not '\(task.rawValue)'")
            }
            let env = try SimTask.make(robot: description, task: task.rawValue)
            var observation = [Float](repeating: 0, count: env.observationSpace.size)
            env.reset(seed: seed, observation: &observation)
            var q = [Double](repeating: 0, count: description.model.joints.count)
            q.withUnsafeMutableBufferPointer { env.world.jointState(body: env.arm, positions: $0.baseAddress!, velocities: nil) }
            var p = [Double](repeating: 0, count: 7)
            p.withUnsafeMutableBufferPointer { env.world.objectPose(env.cubeBody, position: $0.baseAddress!, quaternion: $0.baseAddress! + 3) }
            joints = q
            cubeStart = Vector3(p[0], p[1], p[2])
            cubeYaw = 2 * atan2(p[5], p[6]) // the cube rests flat: a rotation about z only
            cubeMass = env.config.cubeMass
            goal = env.goal
        }
    }

    /// Builds the scene of `seed` in `robot`'s world (after `configure`).
    convenience init(robot: SimulatedRobot, task: TaskKind, seed: UInt64) throws {
        try self.init(robot: robot, task: task, layout: try Layout(description: robot.description, task: task, seed: seed))
    }

    /// Builds the scene in `robot`'s world (after `configure`) and puts the arm at the layout's start.
    init(robot: SimulatedRobot, task: TaskKind, layout: Layout) throws {
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
        self.kind = task
        armBody = 0
        eeLink = ee - 1
        pose = .allocate(capacity: 14)
        pose.initialize(repeating: 0, count: 14)
        guard task == .lift else {
            throw ReflexError(.invalidArgument, "reflex run --sim sets up the lift task only for now, not '\(task.rawValue)'")
        }
        world.resetJoints(body: armBody, positions: layout.joints)
        self.layout = layout
        cubeStart = layout.cubeStart
        cube = world.addBox(halfExtents: Vector3(halfExtent, halfExtent, halfExtent), mass: layout.cubeMass, friction: 1.0,
                            position: cubeStart, yaw: layout.cubeYaw)
        goal = layout.goal
        // end-effector pose (7) + cube pose (7) + goal (3)
        featureCount = 17
    }

    deinit { pose.deallocate() }

    /// The episode's start, kept for `reset()`.
    private let layout: Layout

    /// Puts the arm (at rest) and the cube back where the episode starts, and forgets the success and lift records:
    /// `reflex serve` does this before each episode on a simulated arm, as `reflex eval` resets its environment
    /// (an inactive simulated arm sags while the daemon waits, and would otherwise start from wherever it fell).
    /// - Warning: Not real-time safe; only with no loop running and the arm inactive.
    func reset() {
        world.resetJoints(body: armBody, positions: layout.joints)
        world.setObjectPose(cube, position: layout.cubeStart, yaw: layout.cubeYaw)
        heldTicks = 0
        maxLift.store(0, ordering: .relaxed)
        succeeded.store(false, ordering: .relaxed)
    }

    /// The feature provider for the observation builder.
    /// - Note: Real-time safe.
    func features(_ out: UnsafeMutableBufferPointer<Float>) -> Bool {
        world.linkPose(body: armBody, link: eeLink, position: pose, quaternion: pose + 3)
        world.objectPose(cube, position: pose + 7, quaternion: pose + 10)
        for i in 0 ..< 14 { out[i] = Float(pose[i]) }
        out[14] = Float(goal.x)
        out[15] = Float(goal.y)
        out[16] = Float(goal.z)
        // The lift predicate, as the task's.
        let dx = pose[0] - pose[7], dy = pose[1] - pose[8], dz = pose[2] - pose[9]
        let held = (dx * dx + dy * dy + dz * dz).squareRoot() < 0.03
        let lifted = pose[9] - halfExtent >= 0.05 - 0.005
        heldTicks = lifted && held ? heldTicks + 1 : 0
        if heldTicks >= 5 { succeeded.store(true, ordering: .relaxed) }
        let up = Int((pose[9] - cubeStart.z) * 1e6)
        if up > maxLift.load(ordering: .relaxed) { maxLift.store(up, ordering: .relaxed) }
        return true
    }

    var success: Bool { succeeded.load(ordering: .relaxed) }
    /// Highest the cube got above its start (m).
    var highestLift: Double { Double(maxLift.load(ordering: .relaxed)) * 1e-6 }
}
