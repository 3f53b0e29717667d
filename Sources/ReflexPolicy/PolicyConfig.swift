import ReflexCore
import ReflexNN

/// A value written in files as the text its `init(parsing:)` reads and its `description` writes (a sampler,
/// an execution strategy): one Codable rule for all of them, with the parser's message on a bad value.
public protocol TextCodable: Codable, CustomStringConvertible {
    init(parsing text: String) throws
}

extension TextCodable {
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(parsing: text) } catch let e as ReflexError {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: e.message))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// How a policy turns noise into chunks at inference time, written as in `policy.yaml` and on the command line:
/// `ddpm` (all T steps), `ddpm:N`, `ddim:N` (η = 0), `ddim:N:ETA`, `rti:2,1,0` (RTI warm start over the
/// listed timesteps, the official form) or `rti-renoise:2,1,0` (the warm start re-noised to the first timestep).
/// An RTI sampler may name what its first chunk of an episode (the one without a warm start) runs after a slash:
/// `rti:2,1,0/ddpm` (the full chain, the official code and the default) or `rti:2,1,0/ddim:N`.
public enum SamplerSpec: Sendable, Equatable, TextCodable {
    case ddpm(steps: Int?)
    case ddim(steps: Int, eta: Float)
    case rti(schedule: [Int], variant: RTIVariant, first: RTIFirstChunk = .ddpm)

    public init(parsing text: String) throws {
        func bad(_ why: String) -> ReflexError {
            ReflexError(.invalidValue, "sampler '\(text)': \(why) (expected ddpm, ddpm:N, ddim:N, ddim:N:ETA, rti:2,1,0, rti-renoise:2,1,0, or an rti sampler with its first chunk: rti:2,1,0/ddim:N or rti:2,1,0/ddpm)")
        }
        let halves = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let parts = halves[0].split(separator: ":", maxSplits: 2).map(String.init)
        if halves.count == 2, parts.first != "rti" && parts.first != "rti-renoise" {
            throw bad("only an rti sampler takes a first-chunk sampler after '/'")
        }
        switch parts.first {
        case "ddpm":
            if parts.count == 1 { self = .ddpm(steps: nil); return }
            guard let n = Int(parts[1]), n >= 1 else { throw bad("step count must be a positive integer") }
            self = .ddpm(steps: n)
        case "ddim":
            guard parts.count >= 2, let n = Int(parts[1]), n >= 1 else { throw bad("ddim needs a step count") }
            var eta: Float = 0
            if parts.count == 3 {
                guard let e = Float(parts[2]), e >= 0 else { throw bad("eta must be a non-negative number") }
                eta = e
            }
            self = .ddim(steps: n, eta: eta)
        case "rti", "rti-renoise":
            guard parts.count == 2 else { throw bad("rti needs a timestep schedule") }
            let fields = parts[1].split(separator: ",").map { $0.filter { $0 != " " } }
            let schedule = fields.compactMap { Int($0) }
            guard !schedule.isEmpty, schedule.count == fields.count, schedule.allSatisfy({ $0 >= 0 }) else {
                throw bad("schedule must be integers >= 0")
            }
            guard zip(schedule, schedule.dropFirst()).allSatisfy({ $0 > $1 }) else { throw bad("schedule must be descending") }
            var first = RTIFirstChunk.ddpm
            if halves.count == 2 {
                switch halves[1].split(separator: ":").map(String.init) {
                case ["ddpm"]: first = .ddpm
                case let f where f.count == 2 && f[0] == "ddim":
                    guard let n = Int(f[1]), n >= 1 else { throw bad("the first chunk's ddim needs a positive step count") }
                    first = .ddim(steps: n)
                default: throw bad("the first chunk runs ddpm or ddim:N, not '\(halves[1])'")
                }
            }
            self = .rti(schedule: schedule, variant: parts[0] == "rti" ? .official : .renoise, first: first)
        default:
            throw bad("unknown sampler")
        }
    }

    public var description: String {
        switch self {
        case let .ddpm(steps): return steps.map { "ddpm:\($0)" } ?? "ddpm"
        case let .ddim(steps, eta): return eta == 0 ? "ddim:\(steps)" : "ddim:\(steps):\(eta)"
        case let .rti(schedule, variant, first):
            let base = (variant == .official ? "rti:" : "rti-renoise:") + schedule.map(String.init).joined(separator: ",")
            switch first {
            case .ddpm: return base
            case let .ddim(steps): return base + "/ddim:\(steps)"
            }
        }
    }

    /// Validates the schedule against the scheduler's T.
    public func validate(trainTimesteps: Int) throws {
        switch self {
        case let .ddpm(steps?) where steps > trainTimesteps, let .ddim(steps, _) where steps > trainTimesteps:
            throw ReflexError(.invalidValue, "sampler \(self) asks for more steps than num_train_timesteps (\(trainTimesteps))")
        case let .rti(schedule, _, _) where (schedule.first ?? 0) >= trainTimesteps:
            throw ReflexError(.invalidValue, "sampler \(self): timestep \(schedule[0]) is not below num_train_timesteps (\(trainTimesteps))")
        case let .rti(_, _, .ddim(steps)) where steps > trainTimesteps:
            throw ReflexError(.invalidValue, "sampler \(self): the first chunk asks for more steps than num_train_timesteps (\(trainTimesteps))")
        default: break
        }
    }
}

/// What an RTI sampler runs for a chunk without a warm start (the first of an episode). The official code runs the
/// full DDPM chain, which makes the first call of every episode 100 evaluations: that is RTI's worst-case latency and
/// most of its cost per control step over short episodes. DDIM over N steps (η = 0) bounds both.
public enum RTIFirstChunk: Codable, Sendable, Equatable {
    /// All T steps of DDPM (the official code; the default).
    case ddpm
    /// DDIM at η = 0 over N steps.
    case ddim(steps: Int)
}

/// The two RTI warm starts (Duan, Yin, Kragic 2025).
public enum RTIVariant: String, Codable, Sendable {
    /// As the official code: the shifted clean chunk is fed in directly as x at the first timestep k0.
    case official
    /// The shifted chunk is first re-noised to k0 through q(x_k0 | x₀), so the input has the noise level the
    /// network was trained to see at k0.
    case renoise
}

/// How gripper dimensions are treated, for actions that are really discrete (open/close).
public struct GripperConfig: Codable, Sendable, Equatable {
    /// RTI's handling of discrete dimensions in the warm start.
    public enum Handling: String, Codable, Sendable {
        case none
        /// Snap the stored warm start's gripper values (normalized) to ±1/f.
        case clip
        /// Train and sample with normalized gripper values divided by f, so the warm start stays close.
        case scale
    }

    /// Action dimensions that are grippers.
    public var dims: [Int]
    public var handling: Handling
    /// The factor f (10 in the paper).
    public var factor: Float
    /// Execute sign(gripper) (mapped back to the gripper's min/max) instead of the raw value.
    public var binarize: Bool

    public init(dims: [Int], handling: Handling = .none, factor: Float = 10, binarize: Bool = true) {
        self.dims = dims
        self.handling = handling
        self.factor = factor
        self.binarize = binarize
    }
}

/// Network shape of a policy (the MLP denoiser's, or the BC MLP's; the time embedding is unused by BC).
public typealias NetworkConfig = MLPDenoiserConfig

/// A camera a policy sees through (`cameras:` in policy.yaml): its name (the demonstrations' camera, e.g. `front`)
/// and the `ConvEncoder` that turns its newest frame (encoder.image_height × image_width RGB, uint8 scaled to
/// [0, 1]) into features appended to the denoiser's condition. Weights: `encoders.<name>.` in model.safetensors.
public struct PolicyCamera: Codable, Sendable, Equatable {
    public var name: String
    public var encoder: ConvEncoderConfig

    public init(name: String, encoder: ConvEncoderConfig) {
        self.name = name
        self.encoder = encoder
    }
}

/// Everything in `policy.yaml`: what the policy is, its horizons, normalization, network and sampler.
public struct PolicyConfig: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// Denoising diffusion over action chunks (ε-prediction).
        case diffusion
        /// Behaviour cloning: an MLP that outputs the chunk directly.
        case bc
    }

    public struct Normalization: Codable, Sendable, Equatable {
        public var observation: Normalizer
        public var action: Normalizer
        public init(observation: Normalizer, action: Normalizer) {
            self.observation = observation
            self.action = action
        }
    }

    public var kind: Kind
    public var observationSize: Int
    public var actionSize: Int
    /// Observations the policy sees per inference (the newest last).
    public var nObsSteps: Int
    /// Actions per predicted chunk (H).
    public var horizon: Int
    /// Actions executed from each chunk before the next inference.
    public var nActionSteps: Int
    public var normalization: Normalization
    public var network: NetworkConfig
    public var gripper: GripperConfig?
    /// Diffusion only.
    public var scheduler: NoiseScheduler.Config?
    /// Diffusion only: the default sampler.
    public var sampler: SamplerSpec?
    /// Diffusion only: inference-time steering switched on by default (`steering:` in policy.yaml); command-line
    /// options override it field by field.
    public var steering: SteeringDefaults?
    /// How chunks are executed while the next is inferred, by default (`execution:` in policy.yaml, e.g. `rtc`);
    /// `--execution` overrides it. Absent: `naive` under a delay, else `sync`.
    public var execution: ExecutionStrategy?
    /// Where the policy came from (task, robot, demonstrations), for people reading the file.
    public var notes: [String: String]?
    /// Cameras whose newest frames condition the denoiser (a camera policy; diffusion only). Absent: state only.
    public var cameras: [PolicyCamera]?

    public init(kind: Kind, observationSize: Int, actionSize: Int, nObsSteps: Int, horizon: Int, nActionSteps: Int,
                normalization: Normalization, network: NetworkConfig, gripper: GripperConfig? = nil,
                scheduler: NoiseScheduler.Config? = nil, sampler: SamplerSpec? = nil, notes: [String: String]? = nil) {
        self.kind = kind
        self.observationSize = observationSize
        self.actionSize = actionSize
        self.nObsSteps = nObsSteps
        self.horizon = horizon
        self.nActionSteps = nActionSteps
        self.normalization = normalization
        self.network = network
        self.gripper = gripper
        self.scheduler = scheduler
        self.sampler = sampler
        self.notes = notes
    }

    /// Length of the conditioning vector (the flattened observation history).
    public var conditionSize: Int { nObsSteps * observationSize }

    /// Features the cameras' encoders add to the denoiser's condition (0 for a state policy).
    public var cameraFeatureSize: Int { (cameras ?? []).reduce(0) { $0 + $1.encoder.features } }

    /// The denoiser's condition: the normalized observation history, then each camera's features in order. DSRL's
    /// noise actor and V-GPS's critics condition on the same vector (`DiffusionPolicy.writeCondition`).
    public var denoiserConditionSize: Int { conditionSize + cameraFeatureSize }

    /// Checks every cross-field rule; the error names the key.
    public func validate() throws {
        func bad(_ key: String, _ message: String) -> ReflexError {
            ReflexError(.invalidValue, message, at: .init(keyPath: key))
        }
        guard observationSize > 0 else { throw bad("observation_size", "must be positive, got \(observationSize)") }
        guard actionSize > 0 else { throw bad("action_size", "must be positive, got \(actionSize)") }
        guard nObsSteps >= 1 else { throw bad("n_obs_steps", "must be at least 1, got \(nObsSteps)") }
        guard horizon >= 1 else { throw bad("horizon", "must be at least 1, got \(horizon)") }
        // LeRobot's rule: the executed actions start at n_obs_steps − 1 and must fit in the chunk.
        guard nActionSteps >= 1, nActionSteps <= horizon - nObsSteps + 1 else {
            throw bad("n_action_steps", "must be in 1...horizon − n_obs_steps + 1 = \(horizon - nObsSteps + 1), got \(nActionSteps)")
        }
        guard normalization.observation.size == observationSize || normalization.observation.mode == .identity else {
            throw bad("normalization.observation", "has \(normalization.observation.size) values, observation_size is \(observationSize)")
        }
        guard normalization.action.size == actionSize || normalization.action.mode == .identity else {
            throw bad("normalization.action", "has \(normalization.action.size) values, action_size is \(actionSize)")
        }
        try network.validate()
        if let g = gripper {
            guard g.dims.allSatisfy({ $0 >= 0 && $0 < actionSize }) else {
                throw bad("gripper.dims", "must be action indices below \(actionSize), got \(g.dims)")
            }
            guard g.factor > 0 else { throw bad("gripper.factor", "must be positive, got \(g.factor)") }
        }
        try steering?.validate(for: kind)
        if let cameras {
            guard kind == .diffusion else { throw bad("cameras", "camera inputs are supported by diffusion policies only") }
            guard !cameras.isEmpty else { throw bad("cameras", "is empty (omit it for a state policy)") }
            for (i, c) in cameras.enumerated() {
                guard !c.name.isEmpty, cameras[..<i].allSatisfy({ $0.name != c.name }) else {
                    throw bad("cameras[\(i)].name", "must be a distinct, non-empty name, got '\(c.name)'")
                }
                guard c.encoder.inChannels == 3 else { throw bad("cameras[\(i)].encoder.in_channels", "must be 3 (RGB frames)") }
                do { try c.encoder.validate() } catch let e as ReflexError {
                    throw bad("cameras[\(i)].encoder", e.message)
                }
            }
            guard steering == nil else { throw bad("steering", "steering of camera policies is not supported yet") }
        }
        if kind == .diffusion {
            guard let s = scheduler else { throw bad("scheduler", "a diffusion policy needs a scheduler") }
            try s.validate()
            try sampler?.validate(trainTimesteps: s.trainTimesteps)
        }
    }
}

/// The `steering:` section of policy.yaml: which steering a deployment of this policy switches on unless told
/// otherwise. Paths are relative to the policy directory (or absolute).
public struct SteeringDefaults: Codable, Sendable, Equatable {
    /// V-GPS value-function directory (`reflex train-value`).
    public var value: String?
    /// V-GPS candidates per call (K; default 10 when `value` is set).
    public var k: Int?
    /// How V-GPS picks among its scored candidates; nil: softmax when `beta` is given, else argmax.
    public var selection: Selection?
    /// V-GPS softmax temperature β (> 0; default 1, the paper's); the argmax has none.
    public var beta: Float?
    /// DSRL run directory (`reflex finetune --dsrl`) whose noise actor supplies the initial noise.
    public var dsrlActor: String?
    /// Sample the DSRL actor instead of acting with tanh(μ).
    public var dsrlStochastic: Bool?

    public init(value: String? = nil, k: Int? = nil, selection: Selection? = nil, beta: Float? = nil, dsrlActor: String? = nil,
                dsrlStochastic: Bool? = nil) {
        self.value = value
        self.k = k
        self.selection = selection
        self.beta = beta
        self.dsrlActor = dsrlActor
        self.dsrlStochastic = dsrlStochastic
    }
}

extension SteeringDefaults {
    /// V-GPS's two ways to pick among scored candidates (Nakamoto et al. 2024, §4): execute the highest Q, or draw
    /// from softmax(Q/β) as the paper's experiments and its released code do.
    public enum Selection: String, Codable, Sendable, CaseIterable {
        case argmax, softmax
    }

    /// The paper's temperature and its released code's default (`action_temp` 1.0).
    public static let defaultBeta: Float = 1

    /// Candidates per inference call: K (default 10) with a value function, else 1.
    public var candidates: Int { value == nil ? 1 : (k ?? 10) }

    /// The selection in force: the one given, else softmax when β is given, else argmax.
    public var resolvedSelection: Selection { selection ?? (beta == nil ? .argmax : .softmax) }

    /// The softmax temperature in force, nil for the argmax.
    public var softmaxTemperature: Float? { resolvedSelection == .softmax ? (beta ?? Self.defaultBeta) : nil }

    /// The one check of a steering setting, wherever it comes from (policy.yaml's section, the command line's
    /// overrides merged onto it, the daemon's `POST /v1/steering`): ranges, and options that mean nothing in their
    /// combination are refused with the reason rather than dropped. `maxCandidates` bounds K where a deployment loads
    /// its policies for a fixed largest K (the daemon's `max_candidates`).
    public func validate(for kind: PolicyConfig.Kind, maxCandidates: Int? = nil, keyPrefix: String = "steering") throws {
        func bad(_ key: String, _ message: String) -> ReflexError {
            ReflexError(.invalidValue, message, at: .init(keyPath: keyPrefix + "." + key))
        }
        let any = value != nil || k != nil || selection != nil || beta != nil || dsrlActor != nil || dsrlStochastic != nil
        if any, kind != .diffusion {
            throw ReflexError(.invalidValue, "V-GPS and DSRL steer diffusion policies; this one is \(kind.rawValue)",
                              at: .init(keyPath: keyPrefix))
        }
        if let k {
            guard value != nil else { throw bad("k", "K picks among candidates scored by a value function; give a value function too") }
            guard k >= 1 else { throw bad("k", "must be at least 1, got \(k)") }
            if let maxCandidates, k > maxCandidates {
                throw bad("k", "must be at most \(maxCandidates) (max_candidates, the largest K policies are loaded for), got \(k)")
            }
        }
        if let maxCandidates, value != nil, k == nil, candidates > maxCandidates {
            throw bad("k", "the default K = \(candidates) exceeds max_candidates (\(maxCandidates)); give k")
        }
        if selection != nil, value == nil {
            throw bad("selection", "picks among candidates scored by a value function; give a value function too")
        }
        if let beta {
            guard value != nil else { throw bad("beta", "β is V-GPS's softmax temperature over scored candidates; give a value function too") }
            guard selection != .argmax else {
                throw bad("beta", "β is the softmax's temperature; the argmax has none (drop β, or choose selection softmax)")
            }
            guard beta > 0, beta.isFinite else {
                throw bad("beta", "must be a finite number > 0 (softmax(Q/β)'s temperature; for the argmax choose selection argmax), got \(beta)")
            }
        }
        if dsrlStochastic == true, dsrlActor == nil {
            throw bad("dsrl_stochastic", "samples a DSRL noise actor; give dsrl_actor too")
        }
    }
}
