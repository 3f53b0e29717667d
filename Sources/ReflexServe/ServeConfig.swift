import ReflexCore
import ReflexDeployment
import ReflexRobot

/// The daemon's configuration file (`reflex serve --config FILE.yaml`): the arm, the policies it may run, where it
/// listens, the loop rate and the safety options. Keys are snake_case; unknown keys are errors.
public struct ServeConfig: Sendable, Codable, Equatable {
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

    /// The arm, the start-up policies, the loop's rate and priority and the safety settings.
    public var deployment: DeploymentConfig
    /// Which arm the daemon owns (exactly one of `sim`, `port` or `fake`) and where its task features come from.
    public var arm: ArmConfig {
        get { deployment.arm }
        set { deployment.arm = newValue }
    }
    /// Policies loaded at start-up, by name.
    public var policies: [String: String] {
        get { deployment.policies }
        set { deployment.policies = newValue }
    }
    /// Directories under which `POST /v1/policies` and steering may read (policy, value and actor directories).
    /// Default: the parents of the start-up policies' directories.
    public var policyRoots: [String]?
    /// `unix:PATH` (default `unix:/tmp/reflex.sock`) or `HOST:PORT`.
    public var listen: String
    /// File holding the bearer token (required on TCP; optional on the Unix socket). `REFLEX_TOKEN` also works.
    public var tokenFile: String?
    /// Control rate (Hz).
    public var rate: Double {
        get { deployment.rate }
        set { deployment.rate = newValue }
    }
    /// SCHED_FIFO priority for the loop thread (0: do not ask).
    public var priority: Int32 {
        get { deployment.priority }
        set { deployment.priority = newValue }
    }
    public var safety: SafetyConfig {
        get { deployment.safety }
        set { deployment.safety = newValue }
    }
    public var onExit: OnExit
    /// Largest request body accepted (bytes).
    public var maxBodyBytes: Int
    /// Frames per second on `/v1/stream`.
    public var streamHz: Double
    /// Largest V-GPS K a policy is loaded for (steering can ask up to this many candidates).
    public var maxCandidates: Int

    public init(arm: ArmConfig, policies: [String: String] = [:], listen: String = ServeConfig.defaultListen) {
        deployment = DeploymentConfig(arm: arm, policies: policies)
        self.listen = listen
        onExit = OnExit()
        maxBodyBytes = 1 << 20
        streamHz = 20
        maxCandidates = 16
    }

    public static let defaultListen = "unix:/tmp/reflex.sock"

    enum CodingKeys: String, CodingKey {
        case listen
        case policyRoots = "policy_roots", tokenFile = "token_file", onExit = "on_exit"
        case maxBodyBytes = "max_body_bytes", streamHz = "stream_hz", maxCandidates = "max_candidates"
    }

    // One flat mapping: the deployment's keys (arm, policies, rate, priority, safety) beside the server's.
    public init(from decoder: Decoder) throws {
        deployment = try DeploymentConfig(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        policyRoots = try c.decodeIfPresent([String].self, forKey: .policyRoots)
        listen = try c.decodeIfPresent(String.self, forKey: .listen) ?? Self.defaultListen
        tokenFile = try c.decodeIfPresent(String.self, forKey: .tokenFile)
        onExit = try c.decodeIfPresent(OnExit.self, forKey: .onExit) ?? OnExit()
        maxBodyBytes = try c.decodeIfPresent(Int.self, forKey: .maxBodyBytes) ?? 1 << 20
        streamHz = try c.decodeIfPresent(Double.self, forKey: .streamHz) ?? 20
        maxCandidates = try c.decodeIfPresent(Int.self, forKey: .maxCandidates) ?? 16
    }

    public func encode(to encoder: Encoder) throws {
        try deployment.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(policyRoots, forKey: .policyRoots)
        try c.encode(listen, forKey: .listen)
        try c.encodeIfPresent(tokenFile, forKey: .tokenFile)
        try c.encode(onExit, forKey: .onExit)
        try c.encode(maxBodyBytes, forKey: .maxBodyBytes)
        try c.encode(streamHz, forKey: .streamHz)
        try c.encode(maxCandidates, forKey: .maxCandidates)
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
        try deployment.validate()
        guard maxBodyBytes >= 1024, maxBodyBytes <= 64 << 20 else {
            throw bad("max_body_bytes", "must be in 1 KiB...64 MiB, got \(maxBodyBytes)")
        }
        guard streamHz > 0, streamHz <= 100 else { throw bad("stream_hz", "must be in (0, 100], got \(streamHz)") }
        guard (1 ... 256).contains(maxCandidates) else { throw bad("max_candidates", "must be in 1...256, got \(maxCandidates)") }
        guard onExit.holdSeconds >= 0, onExit.holdSeconds <= 60 else {
            throw bad("on_exit.hold_seconds", "must be in [0, 60], got \(onExit.holdSeconds)")
        }
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
