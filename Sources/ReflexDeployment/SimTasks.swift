import ReflexCore
import ReflexRobot
import ReflexRuntime
import ReflexSim

/// Resolves a robot and a task name to simulated environments for the runs that step episodes (`reflex eval`,
/// sharded evaluations, embedders).
public enum SimTasks {
    /// A factory of fresh task environments (one per worker); the first is built here so a bad robot or task name
    /// fails before any episode runs.
    public static func environmentFactory(robot: String, task: String, sparseReward: Bool = false) throws -> Evaluator.EnvironmentFactory {
        let description = try RobotDescription.named(robot)
        _ = try SimTask.make(robot: description, task: task, sparseReward: sparseReward)
        return { try SimTask.make(robot: description, task: task, sparseReward: sparseReward) }
    }
}
