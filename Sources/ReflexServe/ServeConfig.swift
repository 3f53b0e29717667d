import ReflexCore
import ReflexRobot

/// The daemon's configuration file (`reflex serve --config FILE.yaml`): the arm, the policies it may run, where it
/// listens, the loop rate and the safety options. Keys are snake_case; unknown keys are errors.
public struct ServeConfig: Sendable, Codable, Equatable {
    /// Which arm the daemon owns: exactly one of `sim`, `port` or `fake`.
    public struct Arm: Sendable, Codable, Equatable {
        /// Robot description (a path, or a name under robots/).
        public var robot: String
        /// A Bullet-simulated arm running this task's scene (`lift`).
        public var sim: String?
        /// The serial device of a real arm's servo bus (or an emulator's link).
        public var port: String?
        /// A fake arm (first-order joints, no task features): a dry run.
        public var fake: Bool?
        /// Seed of the simulated scene.
        public var seed: UInt64?
        /// Calibration file for `port` (from `reflex calibrate`).
        public var calibration: String?
        /// Feed zeros for task features the arm cannot provide (a dry run of a task policy on a real arm).
        public var zeroFeatures: Bool?
        /// `port` arms: the camera channel of the scene (`reflex emulate --sim lift --camera PATH`): the cube's pose
        /// comes from there, the end effector from forward kinematics, and each episode resets the scene over it.
        public var camera: String?
        /// Oldest camera estimate the policy may act on (s); older counts as none and the loop holds.
        public var cameraMaxAge: Double?
        /// `port` arms on a Dynamixel X bus: the servos' Bus Watchdog (ms, 20 ms steps; 0 turns it off; default
        /// 100). If the daemon dies mid-episode the servos stop by themselves after this much bus silence.
        public var busWatchdogMs: Int?

        public init(robot: String = "so101", sim: String? = nil, port: String? = nil, fake: Bool? = nil) {
            self.robot = robot
            self.sim = sim
            self.port = port
            self.fake = fake
        }

        enum CodingKeys: String, CodingKey {
            case robot, sim, port, fake, seed, calibration
            case zeroFeatures = "zero_features", busWatchdogMs = "bus_watchdog_ms", camera
            case cameraMaxAge = "camera_max_age"
        }

        /// The chosen kind, checked to be exactly one.
        public func kind() throws -> ArmKind {
            var kinds: [ArmKind] = []
            if let sim { kinds.append(.sim(task: sim)) }
            if let port { kinds.append(.port(device: port)) }
            if fake == true { kinds.append(.fake) }
            guard kinds.count == 1 else {
                throw ReflexError(.invalidValue, "arm: give exactly one of sim: TASK, port: DEVICE or fake: true",
                                  at: .init(keyPath: "arm"))
            }
            return kinds[0]
        }
    }

    public enum ArmKind: Sendable, Equatable {
        case sim(task: String)
        case port(device: String)
        case fake
    }

    /// What SIGTERM/SIGINT does before the process exits: stop the loop (the arm holds its last command), wait
    /// `hold_seconds`, then torque off unless `torque_off` is false.
    public struct OnExit: Sendable, Codable, Equatable {
        public var holdSeconds: Double
        public var torqueOff: Bool

        public init(holdSeconds: Double = 0.5, torqueOff: Bool = true) {
            self.holdSeconds = holdSeconds
            self.torqueOff = torqueOff
        }

        enum CodingKeys: String, CodingKey {
            case holdSeconds = "hold_seconds", torqueOff = "torque_off"
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            holdSeconds = try c.decodeIfPresent(Double.self, forKey: .holdSeconds) ?? 0.5
            torqueOff = try c.decodeIfPresent(Bool.self, forKey: .torqueOff) ?? true
        }
    }

    public var arm: Arm
    /// Policies loaded at start-up, by name.
    public var policies: [String: String]
    /// Directories under which `POST /v1/policies` and steering may read (policy, value and actor directories).
    /// Default: the parents of the start-up policies' directories.
    public var policyRoots: [String]?
    /// `unix:PATH` (default `unix:/tmp/reflex.sock`) or `HOST:PORT`.
    public var listen: String
    /// File holding the bearer token (required on TCP; optional on the Unix socket). `REFLEX_TOKEN` also works.
    public var tokenFile: String?
    /// Control rate (Hz).
    public var rate: Double
    /// SCHED_FIFO priority for the loop thread (0: do not ask).
    public var priority: Int32
    public var safety: SafetyConfig
    public var onExit: OnExit
    /// Largest request body accepted (bytes).
    public var maxBodyBytes: Int
    /// Frames per second on `/v1/stream`.
    public var streamHz: Double
    /// Largest V-GPS K a policy is loaded for (steering can ask up to this many candidates).
    public var maxCandidates: Int

    public init(arm: Arm, policies: [String: String] = [:], listen: String = ServeConfig.defaultListen) {
        self.arm = arm
        self.policies = policies
        self.listen = listen
        rate = 100
        priority = 80
        safety = SafetyConfig()
        onExit = OnExit()
        maxBodyBytes = 1 << 20
        streamHz = 20
        maxCandidates = 16
    }

    public static let defaultListen = "unix:/tmp/reflex.sock"

    enum CodingKeys: String, CodingKey {
        case arm, policies, listen, rate, priority, safety
        case policyRoots = "policy_roots", tokenFile = "token_file", onExit = "on_exit"
        case maxBodyBytes = "max_body_bytes", streamHz = "stream_hz", maxCandidates = "max_candidates"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        arm = try c.decode(Arm.self, forKey: .arm)
        policies = try c.decodeIfPresent([String: String].self, forKey: .policies) ?? [:]
        policyRoots = try c.decodeIfPresent([String].self, forKey: .policyRoots)
        listen = try c.decodeIfPresent(String.self, forKey: .listen) ?? Self.defaultListen
        tokenFile = try c.decodeIfPresent(String.self, forKey: .tokenFile)
        rate = try c.decodeIfPresent(Double.self, forKey: .rate) ?? 100
        priority = try c.decodeIfPresent(Int32.self, forKey: .priority) ?? 80
        safety = try c.decodeIfPresent(SafetyConfig.self, forKey: .safety) ?? SafetyConfig()
        onExit = try c.decodeIfPresent(OnExit.self, forKey: .onExit) ?? OnExit()
        maxBodyBytes = try c.decodeIfPresent(Int.self, forKey: .maxBodyBytes) ?? 1 << 20
        streamHz = try c.decodeIfPresent(Double.self, forKey: .streamHz) ?? 20
        maxCandidates = try c.decodeIfPresent(Int.self, forKey: .maxCandidates) ?? 16
    }

    /// Reads and validates a config file.
    public static func read(_ path: String) throws -> ServeConfig {
        let config = try YAMLDecoder().decode(ServeConfig.self, fromFile: path)
        do { try config.validate() } catch let e as ReflexError { throw e.inFile(path) }
        return config
    }

    /// Checks every field; errors name the key.
    public func validate() throws {
        func bad(_ key: String, _ message: String) -> ReflexError {
            ReflexError(.invalidValue, message, at: .init(keyPath: key))
        }
        _ = try arm.kind()
        if arm.camera != nil, arm.port == nil { throw bad("arm.camera", "the camera channel goes with port: (a sim arm has its scene in the process)") }
        if let a = arm.cameraMaxAge, !(a > 0 && a <= 10) { throw bad("arm.camera_max_age", "must be in (0, 10] s, got \(a)") }
        if let w = arm.busWatchdogMs, !(0 ... 2540).contains(w) {
            throw bad("arm.bus_watchdog_ms", "must be in 0...2540 (0: off), got \(w)")
        }
        guard rate > 0, rate <= 1000 else { throw bad("rate", "must be in (0, 1000] Hz, got \(rate)") }
        guard (0 ... 99).contains(priority) else { throw bad("priority", "must be in 0...99, got \(priority)") }
        guard maxBodyBytes >= 1024, maxBodyBytes <= 64 << 20 else {
            throw bad("max_body_bytes", "must be in 1 KiB...64 MiB, got \(maxBodyBytes)")
        }
        guard streamHz > 0, streamHz <= 100 else { throw bad("stream_hz", "must be in (0, 100], got \(streamHz)") }
        guard (1 ... 256).contains(maxCandidates) else { throw bad("max_candidates", "must be in 1...256, got \(maxCandidates)") }
        guard onExit.holdSeconds >= 0, onExit.holdSeconds <= 60 else {
            throw bad("on_exit.hold_seconds", "must be in [0, 60], got \(onExit.holdSeconds)")
        }
        try safety.validate()
        _ = try ListenAddress(parsing: listen)
    }
}

/// Where the daemon listens.
public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: Int)

    /// `unix:PATH`, `HOST:PORT` or `[V6]:PORT`.
    public init(parsing text: String) throws {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty, path.utf8.count < 100 else {
                throw ReflexError(.invalidValue, "a Unix socket path must be 1–99 bytes, got '\(path)'", at: .init(keyPath: "listen"))
            }
            self = .unix(path: path)
            return
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0 ... 65535).contains(port) else {
            throw ReflexError(.invalidValue, "listen must be unix:PATH or HOST:PORT, got '\(text)'", at: .init(keyPath: "listen"))
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else {
            throw ReflexError(.invalidValue, "listen needs a host, got '\(text)'", at: .init(keyPath: "listen"))
        }
        self = .tcp(host: host, port: port)
    }

    /// Only this machine can connect: a Unix socket, or a TCP address in 127.0.0.0/8 or ::1.
    public var isLocal: Bool {
        switch self {
        case .unix: return true
        case let .tcp(host, _): return host == "localhost" || host == "::1" || host.hasPrefix("127.")
        }
    }

    public var description: String {
        switch self {
        case let .unix(path): return "unix:\(path)"
        case let .tcp(host, port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }
}
