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
    /// V-GPS softmax temperature β; 0 or nil executes the argmax.
    public var beta: Float?
    /// DSRL run directory (`reflex finetune --dsrl`) whose noise actor supplies the initial noise.
    public var dsrlActor: String?

    public init(sampler: String? = nil, value: String? = nil, k: Int? = nil, beta: Float? = nil, dsrlActor: String? = nil) {
        self.sampler = sampler
        self.value = value
        self.k = k
        self.beta = beta
        self.dsrlActor = dsrlActor
    }

    enum CodingKeys: String, CodingKey {
        case sampler, value, k, beta
        case dsrlActor = "dsrl_actor"
    }

    /// The candidates a policy instance must be loaded for.
    var candidates: Int { value == nil ? 1 : (k ?? 10) }
}

/// Builds policy instances from a directory and steering options: the loop's instance, and a separate one per
/// remote-inference predictor (a policy instance serves one thread).
enum PolicyFactory {
    /// Checks options against the policy's config before anything is loaded.
    static func validate(_ options: SteeringOptions, config: PolicyConfig, maxCandidates: Int) throws {
        if let s = options.sampler {
            guard config.kind == .diffusion else {
                throw APIError.conflict("sampler applies to diffusion policies; this one is \(config.kind.rawValue)")
            }
            let spec = try SamplerSpec(parsing: s)
            if let sched = config.scheduler { try spec.validate(trainTimesteps: sched.trainTimesteps) }
        }
        if options.value != nil {
            guard config.kind == .diffusion else { throw APIError.conflict("V-GPS re-ranks diffusion samples; this policy is \(config.kind.rawValue)") }
            let k = options.candidates
            guard k >= 1, k <= maxCandidates else {
                throw APIError.badRequest("k must be in 1...\(maxCandidates) (max_candidates), got \(k)")
            }
        }
        if let beta = options.beta, !(beta >= 0 && beta.isFinite) {
            throw APIError.badRequest("beta must be a finite number ≥ 0, got \(beta)")
        }
        if options.dsrlActor != nil, config.kind != .diffusion {
            throw APIError.conflict("a DSRL actor steers diffusion policies; this one is \(config.kind.rawValue)")
        }
    }

    /// A fresh instance of the policy in `directory` with `options` applied.
    static func make(directory: String, options: SteeringOptions) throws -> Policy {
        // The same pipeline as `reflex eval`: policy.yaml's steering section, overridden by these options.
        return try SteeringPipeline(directory: directory, sampler: try options.sampler.map(SamplerSpec.init(parsing:)),
                                    overrides: SteeringDefaults(value: options.value, k: options.value == nil ? nil : options.candidates,
                                                                beta: options.beta, dsrlActor: options.dsrlActor)).makePolicy()
    }
}
