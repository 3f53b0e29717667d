import ReflexCore
import ReflexRuntime

/// Resolves `--robot`/`--task` to simulated environments for the commands that run episodes.
enum SimTasks {
    static func environmentFactory(robot: String, task: String) throws -> Evaluator.EnvironmentFactory {
        throw ReflexError(.invalidArgument, "simulated tasks are not part of this build yet (robot \(robot), task \(task))")
    }
}
