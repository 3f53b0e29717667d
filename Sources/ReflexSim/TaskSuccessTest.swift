import ReflexRobot

/// The success test and dense reward of a task, from the end effector's and the cube's positions once per control
/// period. Its one home: the task environments step it after each action, and a real-time scene (`reflex run
/// --sim`, the daemon, hardware in the loop) steps it once per loop tick, so every way of running a task judges
/// success by the same numbers (`TaskConfig`'s tolerances, lift height and hold time).
public struct TaskSuccessTest: Sendable {
    public let config: TaskConfig
    /// Where the cube started this episode (lift measures its height from there).
    public private(set) var cubeStart = Vector3.zero
    /// The goal point of this episode.
    public private(set) var goal = Vector3.zero
    /// Consecutive control periods the lift condition has held.
    public private(set) var heldSteps = 0

    public init(config: TaskConfig) {
        self.config = config
    }

    /// Starts an episode.
    public mutating func reset(cubeStart: Vector3, goal: Vector3) {
        self.cubeStart = cubeStart
        self.goal = goal
        heldSteps = 0
    }

    /// One control period's verdict.
    public struct Verdict: Sendable, Equatable {
        public var success: Bool
        /// The task's shaped reward (higher is better).
        public var denseReward: Double
    }

    /// Judges one control period (lift counts the periods its condition holds in a row).
    /// - Note: Real-time safe.
    public mutating func update(endEffector ee: Vector3, cube c: Vector3) -> Verdict {
        switch config.kind {
        case .reach:
            let d = (ee - goal).norm
            return Verdict(success: d < config.reachTolerance, denseReward: -d)
        case .push:
            let dx = c.x - goal.x, dy = c.y - goal.y
            let d = (dx * dx + dy * dy).squareRoot()
            return Verdict(success: d < config.pushTolerance, denseReward: -d - 0.5 * (ee - c).norm)
        case .lift:
            // Up by the lift height (5 mm of slack for the cube settling in the fingers) and between the fingers.
            let lifted = c.z - config.cubeHalfExtent >= config.liftHeight - 0.005
            let held = (ee - c).norm < config.graspTolerance
            heldSteps = lifted && held ? heldSteps + 1 : 0
            let dense = -(ee - c).norm + 2 * min(max((c.z - cubeStart.z) / config.liftHeight, 0), 1)
            return Verdict(success: heldSteps >= config.liftHoldSteps, denseReward: dense)
        }
    }
}

extension TaskKind {
    /// Whether the scene has a cube (push, lift).
    public var hasCube: Bool { self != .reach }

    /// Names of the task features that follow the joint positions and velocities in the observation: the end
    /// effector's pose, the cube's pose (push, lift) and the goal point. Quaternions are (x, y, z, w).
    public var featureNames: [String] {
        var names = ["ee.x", "ee.y", "ee.z", "ee.qx", "ee.qy", "ee.qz", "ee.qw"]
        if hasCube { names += ["cube.x", "cube.y", "cube.z", "cube.qx", "cube.qy", "cube.qz", "cube.qw"] }
        return names + ["goal.x", "goal.y", "goal.z"]
    }

    /// How many task features the observation carries (17 for push and lift, 10 for reach).
    public var featureCount: Int { hasCube ? 17 : 10 }
}
