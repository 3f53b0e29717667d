import Foundation
import ReflexCore
import ReflexRobot

/// A scripted demonstrator for `ArmTaskEnvironment`'s tasks: Cartesian waypoints for the grasp centre, moved at
/// a bounded speed and turned into joint targets by damped-least-squares IK, plus gripper open/close.
///
/// It reads only the observation (cube pose, goal, joint positions), so it runs beside any environment with
/// the same observation names, and it is deterministic: the same observations give the same actions.
public final class ScriptedExpert: @unchecked Sendable {
    public let kind: TaskKind
    let chain: KinematicChain
    let robot: RobotDescription
    let armCount: Int
    let names: [String]
    let index: [String: Int]
    let controlHz: Double
    let cubeHalf: Double
    /// Grasp-centre speed limit (m/s).
    public var speed = 0.25

    enum Phase { case approach, descend, close, lift, push }
    private var phase = Phase.approach
    private var phaseSteps = 0
    private var commanded = Vector3.zero
    private var q: [Double] = []
    private var gripper = 0.0
    private var started = false
    private var graspXY = Vector3.zero
    private var graspYaw = 0.0
    private var pushBranch: Double?

    public init(environment env: ArmTaskEnvironment) throws {
        kind = env.config.kind
        robot = env.robot
        armCount = robot.armJointCount
        chain = try KinematicChain(robot: robot)
        names = env.observationSpace.names ?? []
        var index: [String: Int] = [:]
        for (i, n) in names.enumerated() { index[n] = i }
        self.index = index
        controlHz = Double(env.config.controlHz)
        cubeHalf = env.config.cubeHalfExtent
    }

    /// Forgets the previous episode.
    public func reset() {
        phase = .approach
        phaseSteps = 0
        started = false
        pushBranch = nil
    }

    private func value(_ obs: [Float], _ name: String) -> Double { Double(obs[index[name] ?? 0]) }
    private func vector(_ obs: [Float], _ prefix: String) -> Vector3 {
        Vector3(value(obs, prefix + ".x"), value(obs, prefix + ".y"), value(obs, prefix + ".z"))
    }

    /// Yaw of the cube about z, folded into [-π/4, π/4) (a cube looks the same every quarter turn).
    private func cubeYaw(_ obs: [Float]) -> Double {
        let x = value(obs, "cube.qx"), y = value(obs, "cube.qy"), z = value(obs, "cube.qz"), w = value(obs, "cube.qw")
        let yaw = atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
        return wrap(yaw, period: Double.pi / 2)
    }

    /// Gripper pointing down with its jaw-closing axis (tool y) at angle `alpha` in the table plane.
    static func downward(alpha: Double) -> Rotation3 {
        let y = Vector3(cos(alpha), sin(alpha), 0), z = Vector3(0, 0, -1)
        let x = y.cross(z)
        return Rotation3(x.x, y.x, z.x, x.y, y.y, z.y, x.z, y.z, z.z)
    }

    /// Of the angles `alpha + k·period`, the one nearest `reference`.
    static func nearest(_ alpha: Double, to reference: Double, period: Double) -> Double {
        alpha + (((reference - alpha) / period).rounded()) * period
    }

    private func wrap(_ a: Double, period: Double) -> Double {
        a - (a / period).rounded() * period
    }

    /// The action for this observation: arm joint targets from IK, then the gripper target.
    public func action(observation obs: [Float], into action: inout [Float]) {
        if !started {
            q = (0 ..< robot.joints.count).map { value(obs, robot.joints[$0].name + ".pos") }
            commanded = vector(obs, "ee")
            gripper = robot.gripper?.open ?? 0
            started = true
        }
        phaseSteps += 1
        let natural = atan2(commanded.y, commanded.x) + Double.pi / 2
        var target = commanded
        var alpha = natural
        var orientationWeight = 1.0
        let open = robot.gripper?.open ?? 0, closed = robot.gripper?.closed ?? 0
        let step = speed / controlHz
        func reached(_ p: Vector3, _ tol: Double = 0.004) -> Bool {
            (commanded - p).norm < 1e-6 && (vector(obs, "ee") - p).norm < tol
        }
        switch kind {
        case .reach:
            target = vector(obs, "goal")
            orientationWeight = 0
        case .lift:
            let cube = vector(obs, "cube")
            let graspZ = cubeHalf + 0.006
            switch phase {
            case .approach:
                graspXY = cube
                graspYaw = cubeYaw(obs)
                target = Vector3(cube.x, cube.y, graspZ + 0.06)
                gripper = open
                if reached(target, 0.01) || phaseSteps > 40 { phase = .descend; phaseSteps = 0 }
            case .descend:
                target = Vector3(graspXY.x, graspXY.y, graspZ)
                if reached(target) || phaseSteps > 30 { phase = .close; phaseSteps = 0 }
            case .close:
                target = Vector3(graspXY.x, graspXY.y, graspZ)
                gripper = closed
                if phaseSteps >= 6 { phase = .lift; phaseSteps = 0 }
            case .lift, .push:
                target = Vector3(graspXY.x, graspXY.y, graspZ + 0.07)
                gripper = closed
            }
            alpha = Self.nearest(graspYaw, to: natural, period: Double.pi / 2)
        case .push:
            let cube = vector(obs, "cube"), goal = vector(obs, "goal")
            var d = Vector3(goal.x - cube.x, goal.y - cube.y, 0)
            d = d.norm > 1e-6 ? d.normalized : Vector3(1, 0, 0)
            gripper = 0 // parallel jaws: either outer face pushes
            // Tool y along -d (or +d, the other jaw), whichever is nearer the arm's natural roll.
            let face = atan2(-d.y, -d.x)
            if pushBranch == nil { pushBranch = Self.nearest(face, to: natural, period: Double.pi) - face }
            alpha = face + (pushBranch ?? 0)
            let pushZ = 0.018
            switch phase {
            case .approach:
                let pre = cube - 0.05 * d
                target = Vector3(pre.x, pre.y, 0.07)
                if reached(target, 0.01) || phaseSteps > 40 { phase = .descend; phaseSteps = 0 }
            case .descend:
                let pre = cube - 0.05 * d
                target = Vector3(pre.x, pre.y, pushZ)
                if reached(target) || phaseSteps > 30 { phase = .push; phaseSteps = 0 }
            default:
                // Re-approach when the cube has slipped off the pushing face.
                let ee = vector(obs, "ee")
                let rel = Vector3(cube.x - ee.x, cube.y - ee.y, 0)
                if rel.norm > 0.06 || rel.normalized.dot(d) < cos(35 * Double.pi / 180) {
                    phase = .approach
                    phaseSteps = 0
                }
                let p = cube - 0.03 * d
                target = Vector3(p.x, p.y, pushZ)
            }
        }
        // Move the commanded grasp centre toward the target at the speed limit.
        let delta = target - commanded
        commanded = delta.norm <= step ? target : commanded + (step / delta.norm) * delta
        let pose = Transform3(rotation: Self.downward(alpha: alpha), translation: commanded)
        var activeMask = [Bool](repeating: false, count: q.count)
        for i in 0 ..< armCount { activeMask[i] = true }
        // Continue from the last solution; if that branch cannot reach the pose (a joint pinned at a limit), start
        // over from the home pose, which sits in the elbow-up branch the tasks are written for.
        var solution = chain.inverse(target: pose, seed: q, orientationWeight: orientationWeight, damping: 0.01,
                                     iterations: 60, tolerance: 1e-5, active: activeMask)
        if solution.positionError > 2e-3 || solution.orientationError > 2e-2 {
            var seed = robot.home
            if seed.count > armCount { seed[armCount] = q[armCount] }
            let retry = chain.inverse(target: pose, seed: seed, orientationWeight: orientationWeight, damping: 0.01,
                                      iterations: 150, tolerance: 1e-5, active: activeMask)
            if retry.positionError + 0.1 * retry.orientationError < solution.positionError + 0.1 * solution.orientationError {
                solution = retry
            }
        }
        q = solution.q
        for i in 0 ..< armCount { action[i] = Float(q[i]) }
        if q.count > armCount { action[armCount] = Float(gripper) }
    }
}
