import ReflexCore
import ReflexPolicy
import ReflexRuntime
import ReflexSteering

/// Loading a policy directory the way every entry point does: policy.yaml's sampler and `steering:` section (DSRL
/// actor, V-GPS value function, K, β), with explicit overrides on top, field by field (`SteeringPipeline`).
public enum PolicyLoader {
    /// A policy instance for one thread: `directory`'s policy with its steering, `sampler` and `steering` winning
    /// over policy.yaml's.
    /// - Warning: Not real-time safe.
    /// `acceptingFrames`: a Reflex camera policy loads too; the caller sets its frames before every chunk.
    public static func load(directory: String, sampler: SamplerSpec? = nil, steering: SteeringDefaults = SteeringDefaults(),
                            acceptingFrames: Bool = false) throws -> Policy {
        try SteeringPipeline(directory: directory, sampler: sampler, overrides: steering).makePolicy(acceptingFrames: acceptingFrames)
    }
}

extension RobotController {
    /// Loads `directory`'s policy with its steering (`PolicyLoader.load`) under `name`, replacing a policy of that
    /// name that is not running.
    /// - Warning: Not real-time safe.
    @discardableResult
    public func loadPolicy(name: String, directory: String, sampler: SamplerSpec? = nil,
                           steering: SteeringDefaults = SteeringDefaults()) throws -> PolicyConfig {
        let policy = try PolicyLoader.load(directory: directory, sampler: sampler, steering: steering)
        try addPolicy(name: name, policy)
        return policy.config
    }
}
