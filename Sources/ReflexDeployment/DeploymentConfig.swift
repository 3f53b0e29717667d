import ReflexCore
import ReflexRobot
import ReflexRuntime

/// A deployment as a file says it: the arm, the policies loaded at start-up, the loop's rate and priority, the
/// safety settings. The daemon's config (`reflex serve --config`) is this plus its server's keys; the C ABI and the
/// Swift front door read it on its own. Keys are snake_case; unknown keys are errors.
public struct DeploymentConfig: Sendable, Codable, Equatable {
    /// Which arm (exactly one of `sim`, `port` or `fake`) and where its task features come from.
    public var arm: ArmConfig
    /// Policies loaded at start-up, by name (directories, each with its policy.yaml's steering).
    public var policies: [String: String]
    /// Control rate (Hz).
    public var rate: Double
    /// SCHED_FIFO priority for the loop thread (0: do not ask).
    public var priority: Int32
    public var safety: SafetyConfig

    public init(arm: ArmConfig, policies: [String: String] = [:], rate: Double = 100, priority: Int32 = 80,
                safety: SafetyConfig = SafetyConfig()) {
        self.arm = arm
        self.policies = policies
        self.rate = rate
        self.priority = priority
        self.safety = safety
    }

    enum CodingKeys: String, CodingKey { case arm, policies, rate, priority, safety }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        arm = try c.decode(ArmConfig.self, forKey: .arm)
        policies = try c.decodeIfPresent([String: String].self, forKey: .policies) ?? [:]
        rate = try c.decodeIfPresent(Double.self, forKey: .rate) ?? 100
        priority = try c.decodeIfPresent(Int32.self, forKey: .priority) ?? 80
        safety = try c.decodeIfPresent(SafetyConfig.self, forKey: .safety) ?? SafetyConfig()
    }

    /// Checks every field; errors name the key.
    public func validate() throws {
        func bad(_ key: String, _ message: String) -> ReflexError {
            ReflexError(.invalidValue, message, at: .init(keyPath: key))
        }
        try arm.validate()
        guard rate > 0, rate <= 1000 else { throw bad("rate", "must be in (0, 1000] Hz, got \(rate)") }
        guard (0 ... 99).contains(priority) else { throw bad("priority", "must be in 0...99, got \(priority)") }
        try safety.validate()
    }

    /// Reads and validates a deployment config file. With `ignoringUnknownKeys` a larger file (the daemon's) is
    /// read for its deployment part only.
    public static func read(_ path: String, ignoringUnknownKeys: Bool = false) throws -> DeploymentConfig {
        let config = try YAMLDecoder(rejectUnknownKeys: !ignoringUnknownKeys).decode(DeploymentConfig.self, fromFile: path)
        do { try config.validate() } catch let e as ReflexError { throw e.inFile(path) }
        return config
    }

    /// Opens the arm and makes a controller over it with this config's loop and safety settings, its policies
    /// loaded (each with its steering). The arm is left configured and inactive only after `bringUp`.
    /// - Warning: Not real-time safe.
    public func makeController() throws -> (deployment: Deployment, controller: RobotController) {
        let deployment = try Deployment(config: arm)
        do {
            let controller = try deployment.makeController(rate: rate, safety: safety, priority: priority > 0 ? priority : nil)
            for (name, directory) in policies.sorted(by: { $0.key < $1.key }) {
                try controller.loadPolicy(name: name, directory: directory)
            }
            return (deployment, controller)
        } catch {
            deployment.robot.finalize()
            throw error
        }
    }
}
