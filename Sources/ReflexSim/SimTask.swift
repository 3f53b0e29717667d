import ReflexCore
import ReflexRobot

/// Builds simulated tasks by name, for the CLI and other modules (`reflex eval`, `reflex finetune`, `collect`).
public enum SimTask {
    /// Splits `robot:task` (e.g. `so101:lift`).
    public static func parse(_ spec: String) throws -> (robot: String, task: TaskKind) {
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let task = TaskKind(rawValue: parts[1]) else {
            throw ReflexError(.invalidArgument, "'\(spec)' is not robot:task with task one of \(TaskKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return (parts[0], task)
    }

    /// A task environment for `robot` (sparse or dense reward; control rate and episode length from `TaskConfig`).
    public static func make(robot: RobotDescription, task: String, sparseReward: Bool = false,
                            controlHz: Int? = nil, maxEpisodeSteps: Int? = nil) throws -> ArmTaskEnvironment {
        guard let kind = TaskKind(rawValue: task) else {
            throw ReflexError(.invalidArgument, "unknown task '\(task)' (\(TaskKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        var config = TaskConfig(kind: kind)
        config.sparseReward = sparseReward
        if let controlHz {
            guard controlHz > 0, 240 % controlHz == 0 else {
                throw ReflexError(.invalidArgument, "control rate \(controlHz) Hz must divide the 240 Hz physics rate")
            }
            config.controlHz = controlHz
        }
        if let maxEpisodeSteps { config.maxEpisodeSteps = maxEpisodeSteps }
        return try ArmTaskEnvironment(robot: robot, config: config)
    }

    /// `make` from a `robot:task` spec, the robot found by `RobotDescription.named`.
    public static func make(_ spec: String, sparseReward: Bool = false) throws -> ArmTaskEnvironment {
        let (robot, task) = try parse(spec)
        return try make(robot: try RobotDescription.named(robot), task: task.rawValue, sparseReward: sparseReward)
    }

    /// The scripted expert for an environment made here.
    public static func expert(for environment: ArmTaskEnvironment) throws -> ScriptedExpert {
        try ScriptedExpert(environment: environment)
    }
}
