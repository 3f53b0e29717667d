import ReflexCore
import ReflexPolicy
import ReflexSteering

/// The inference-time steering of one loaded policy, as `POST /v1/steering` sets it. Each field left out keeps
/// its current value; `null`-like resets are spelled out (`sampler: "default"`, `value: ""`).
public struct SteeringOptions: Sendable, Codable, Equatable {
    /// Sampler (`ddpm`, `ddim:N`, `rti:2,1,0`, `rti-renoise:2,1,0`); nil: policy.yaml's.
    public var sampler: String?
    /// V-GPS value-function directory (`reflex train-value`); nil: no re-ranking.
    public var value: String?
    /// V-GPS candidates per call (K).
    public var k: Int?
    /// How V-GPS picks among its candidates; nil: softmax when `beta` is given, else argmax.
    public var selection: SteeringDefaults.Selection?
    /// V-GPS softmax temperature β (> 0; default 1); the argmax has none.
    public var beta: Float?
    /// DSRL run directory (`reflex finetune --dsrl`) whose noise actor supplies the initial noise.
    public var dsrlActor: String?

    public init(sampler: String? = nil, value: String? = nil, k: Int? = nil, selection: SteeringDefaults.Selection? = nil,
                beta: Float? = nil, dsrlActor: String? = nil) {
        self.sampler = sampler
        self.value = value
        self.k = k
        self.selection = selection
        self.beta = beta
        self.dsrlActor = dsrlActor
    }

    enum CodingKeys: String, CodingKey {
        case sampler, value, k, selection, beta
        case dsrlActor = "dsrl_actor"
    }

    /// The same setting as policy.yaml's `steering:` overrides (the pipeline merges them onto the file's section).
    var overrides: SteeringDefaults { SteeringDefaults(value: value, k: k, selection: selection, beta: beta, dsrlActor: dsrlActor) }
}

/// Builds policy instances from a directory and steering options: the loop's instance, and a separate one per
/// remote-inference predictor (a policy instance serves one thread).
enum PolicyFactory {
    /// The pipeline for `options` (the same as `reflex eval`'s: policy.yaml's steering section overridden by these
    /// options, checked as a whole by `SteeringDefaults.validate`, K bounded by `maxCandidates`).
    static func pipeline(directory: String, options: SteeringOptions, maxCandidates: Int) throws -> SteeringPipeline {
        try SteeringPipeline(directory: directory, sampler: try options.sampler.map(SamplerSpec.init(parsing:)),
                             overrides: options.overrides, maxCandidates: maxCandidates)
    }

    /// A fresh instance of the policy in `directory` with `options` applied.
    static func make(directory: String, options: SteeringOptions, maxCandidates: Int) throws -> Policy {
        try pipeline(directory: directory, options: options, maxCandidates: maxCandidates).makePolicy()
    }
}
