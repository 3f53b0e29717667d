import ReflexCore
import ReflexPolicy

/// `POST /v1/predict`'s request: a raw observation history in, one action chunk out — what LeRobot's async
/// inference server does with pickled tensors, here as JSON (or safetensors bytes) any language can write.
public struct PredictRequest: Sendable, Codable, Equatable {
    /// A loaded policy's name.
    public var policy: String
    /// n_obs_steps × observation_size raw values (SI units, the robot's joint order), oldest first, flat.
    public var observation: [Float]
    /// Actions of the previous chunk executed since it came back (RTI shifts its warm start by this).
    public var stepsExecuted: Int
    /// Forget the warm start (a new episode on the client).
    public var episodeStart: Bool
    /// Seed for this call's noise (nil: continue the predictor's stream).
    public var seed: UInt64?
    /// Control steps since the previous request's observation (nil: `stepsExecuted`): where this chunk starts in the
    /// previous one, for RTC and RTI with the delay.
    public var stepsSinceObservation: Int?
    /// Actions of this chunk, from its observation's tick on, that the client will have executed from the previous
    /// chunk by the time this one arrives (the delay D RTC freezes).
    public var committed: Int
    /// How the chunk joins the previous one (docs/delay.md; nil: policy.yaml's `execution:`, else naive).
    public var execution: ExecutionStrategy?
    /// Named inputs instead of `observation` (the safetensors body only): `observation.state`,
    /// `observation.environment_state` and each camera's `observation.images.<camera>` (`ObservationFeatures`).
    public var features: [String: FeatureTensor] = [:]

    public init(policy: String, observation: [Float], stepsExecuted: Int = 0, episodeStart: Bool = false, seed: UInt64? = nil,
                stepsSinceObservation: Int? = nil, committed: Int = 0, execution: ExecutionStrategy? = nil) {
        self.policy = policy
        self.observation = observation
        self.stepsExecuted = stepsExecuted
        self.episodeStart = episodeStart
        self.seed = seed
        self.stepsSinceObservation = stepsSinceObservation
        self.committed = committed
        self.execution = execution
    }

    enum CodingKeys: String, CodingKey {
        case policy, observation, seed, committed, execution
        case stepsExecuted = "steps_executed", episodeStart = "episode_start", stepsSinceObservation = "steps_since_observation"
    }

    /// Accepts the observation flat or as rows (`[[...], [...]]`, one per observation step).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        policy = try c.decode(String.self, forKey: .policy)
        // Decoded as Double so that an out-of-range value is reported as such (not as a type mismatch).
        let values: [Double]
        if let flat = try? c.decode([Double].self, forKey: .observation) {
            values = flat
        } else if let rows = try? c.decode([[Double]].self, forKey: .observation) {
            values = rows.flatMap { $0 }
        } else {
            throw DecodingError.typeMismatch([Double].self, .init(codingPath: [CodingKeys.observation],
                debugDescription: "observation must be an array of numbers, or an array of rows of numbers"))
        }
        guard values.allSatisfy({ $0.isFinite && abs($0) <= Double(Float.greatestFiniteMagnitude) }) else {
            throw DecodingError.dataCorrupted(.init(codingPath: [CodingKeys.observation],
                debugDescription: "observation values must be finite and within single precision (±3.4e38)"))
        }
        observation = values.map { Float($0) }
        stepsExecuted = try c.decodeIfPresent(Int.self, forKey: .stepsExecuted) ?? 0
        episodeStart = try c.decodeIfPresent(Bool.self, forKey: .episodeStart) ?? false
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
        stepsSinceObservation = try c.decodeIfPresent(Int.self, forKey: .stepsSinceObservation)
        committed = try c.decodeIfPresent(Int.self, forKey: .committed) ?? 0
        execution = try c.decodeIfPresent(ExecutionStrategy.self, forKey: .execution)
    }
}

public struct PredictResponse: Sendable, Codable, Equatable {
    public var policy: String
    /// horizon rows of action_size raw actions; row `n_obs_steps − 1` is for the observation's own tick.
    public var actions: [[Float]]
    public var horizon: Int
    public var actionSize: Int
    public var nObsSteps: Int
    public var nActionSteps: Int
    public var networkEvaluations: Int
    public var warmStarted: Bool
    public var inferenceMicroseconds: Double

    enum CodingKeys: String, CodingKey {
        case policy, actions, horizon
        case actionSize = "action_size", nObsSteps = "n_obs_steps", nActionSteps = "n_action_steps"
        case networkEvaluations = "network_evaluations", warmStarted = "warm_started"
        case inferenceMicroseconds = "inference_us"
    }
}

/// A policy instance of its own for remote inference (the loop's instance belongs to the loop's worker thread).
/// Used on the daemon's inference queue only. Its `ObservationFeatures` hold the decoded history and frames, made once:
/// decoding a request's tensors into them and encoding the frames allocate nothing after the first call.
final class Predictor: @unchecked Sendable {
    let policy: Policy
    let inputs: ObservationFeatures
    private let output: UnsafeMutablePointer<Float>
    private var generator = RandomGenerator(seed: 0)

    init(policy: Policy) {
        self.policy = policy
        let c = policy.config
        inputs = ObservationFeatures(policy: policy)
        output = .allocate(capacity: c.horizon * c.actionSize)
        output.initialize(repeating: 0, count: c.horizon * c.actionSize)
    }

    deinit {
        output.deallocate()
    }

    /// The request's scalar fields were validated by the caller; its inputs are checked here (a refusal changes
    /// nothing: no reset, no draw).
    func predict(_ r: PredictRequest) throws -> PredictResponse {
        let c = policy.config
        if r.features.isEmpty {
            guard inputs.cameras.isEmpty || inputs.cameras.allSatisfy({ $0.rowOffset != nil }) else {
                throw APIError(.unprocessableContent, "missing_image",
                               "policy '\(r.policy)' sees cameras \(inputs.cameras.map(\.name).joined(separator: ", ")): send the safetensors body with observation.state and each camera's image (docs/daemon.md)")
            }
            r.observation.withUnsafeBufferPointer { if let b = $0.baseAddress { inputs.history.update(from: b, count: $0.count) } }
        } else {
            do {
                try inputs.fill(r.features)
            } catch let e as ReflexError {
                throw APIError(e.code == .shapeMismatch ? .unprocessableContent : .badRequest,
                               e.code == .shapeMismatch ? "shape_mismatch" : "invalid_input", e.message)
            }
        }
        let t0 = monotonicNanoseconds()
        if r.episodeStart { policy.reset() }
        if let seed = r.seed { generator = RandomGenerator(seed: seed) }
        // A Reflex camera policy's encoders run here, once per request (after the reset, which forgets frames).
        if !r.features.isEmpty { try inputs.apply(to: policy) }
        let history = inputs.history
        let context = ChunkContext(stepsExecuted: r.stepsExecuted, stepsSinceObservation: r.stepsSinceObservation ?? r.stepsExecuted,
                                   delay: r.committed, strategy: r.execution ?? c.execution ?? .naive)
        let info = policy.predictChunk(history: history, context: context, output: output, generator: &generator)
        let t1 = monotonicNanoseconds()
        let rows = (0 ..< c.horizon).map { h in Array(UnsafeBufferPointer(start: output + h * c.actionSize, count: c.actionSize)) }
        return PredictResponse(policy: r.policy, actions: rows, horizon: c.horizon, actionSize: c.actionSize,
                               nObsSteps: c.nObsSteps, nActionSteps: c.nActionSteps,
                               networkEvaluations: info.networkEvaluations, warmStarted: info.warmStarted,
                               inferenceMicroseconds: Double(t1 - t0) / 1000)
    }
}
