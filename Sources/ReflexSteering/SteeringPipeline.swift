import ReflexCore
import ReflexPolicy

/// What steers one diffusion policy at inference: the sampler (RTI among them), a DSRL noise actor and V-GPS
/// re-ranking of K candidates. Any subset; nil fields keep the policy's own behaviour.
public struct SteeringSettings: Sendable, Equatable {
    public var sampler: SamplerSpec?
    /// V-GPS value-function directory.
    public var value: String?
    /// V-GPS candidates per call (default 10 with a value function).
    public var k: Int?
    public var beta: Float?
    /// DSRL run directory.
    public var dsrlActor: String?
    public var dsrlStochastic: Bool?

    public init(sampler: SamplerSpec? = nil, value: String? = nil, k: Int? = nil, beta: Float? = nil,
                dsrlActor: String? = nil, dsrlStochastic: Bool? = nil) {
        self.sampler = sampler
        self.value = value
        self.k = k
        self.beta = beta
        self.dsrlActor = dsrlActor
        self.dsrlStochastic = dsrlStochastic
    }

    /// policy.yaml's default sampler and `steering:` section, paths resolved against the policy directory.
    public static func defaults(of config: PolicyConfig, directory: String) -> SteeringSettings {
        func resolve(_ p: String?) -> String? { p.map { $0.hasPrefix("/") ? $0 : directory + "/" + $0 } }
        let s = config.steering
        return SteeringSettings(sampler: config.sampler, value: resolve(s?.value), k: s?.k, beta: s?.beta,
                                dsrlActor: resolve(s?.dsrlActor), dsrlStochastic: s?.dsrlStochastic)
    }

    /// Each field of `other` that is set replaces this one's.
    public func overridden(by other: SteeringSettings) -> SteeringSettings {
        SteeringSettings(sampler: other.sampler ?? sampler, value: other.value ?? value, k: other.k ?? k,
                         beta: other.beta ?? beta, dsrlActor: other.dsrlActor ?? dsrlActor,
                         dsrlStochastic: other.dsrlStochastic ?? dsrlStochastic)
    }

    /// Candidates per inference call: K with a value function, else 1.
    public var candidates: Int { value == nil ? 1 : (k ?? 10) }
}

/// One pipeline for every combination of steering: reads a policy directory and its steering once (the DSRL actor's
/// weights, the value function's checks), then builds as many policy instances as there are threads, each with its
/// own workspaces. DSRL's actor supplies the initial noise, the sampler (RTI) warm-starts, V-GPS picks among K.
public final class SteeringPipeline: @unchecked Sendable {
    public let directory: String
    public let config: PolicyConfig
    public let settings: SteeringSettings
    let actor: DSRLActorDirectory?

    /// `overrides` win over policy.yaml's `steering:` section and sampler, field by field.
    public init(directory: String, overrides: SteeringSettings = SteeringSettings()) throws {
        self.directory = directory
        config = try PolicyDirectory.readConfig(directory)
        let defaults = SteeringSettings.defaults(of: config, directory: directory)
        var s = defaults.overridden(by: overrides)
        let steered = s.value != nil || s.dsrlActor != nil
        if steered, config.kind != .diffusion {
            throw ReflexError(.invalidValue, "V-GPS and DSRL steer diffusion policies; \(directory) is \(config.kind.rawValue)")
        }
        if overrides.sampler != nil, config.kind != .diffusion {
            throw ReflexError(.invalidValue, "a sampler applies to diffusion policies; \(directory) is \(config.kind.rawValue)")
        }
        if let spec = s.sampler, let sched = config.scheduler { try spec.validate(trainTimesteps: sched.trainTimesteps) }
        guard s.candidates >= 1 else { throw ReflexError(.invalidValue, "k must be at least 1, got \(s.candidates)") }
        actor = try s.dsrlActor.map(DSRLActorDirectory.init(path:))
        // The actor was trained through DDIM at η = 0 with its run's step count: that map, unless a sampler was
        // asked for on top of it (overrides), since policy.yaml's default sampler knows nothing of the actor.
        if let actor, overrides.sampler == nil { s.sampler = actor.sampler }
        settings = s
    }

    /// K identical noises would give K identical candidates, so V-GPS over DSRL samples the actor.
    var stochasticActor: Bool { settings.dsrlStochastic ?? false || settings.candidates > 1 }

    /// A fresh policy instance (one per thread).
    public func makePolicy() throws -> Policy {
        let k = settings.candidates
        let policy = try PolicyDirectory.load(directory, maxCandidates: k)
        guard let d = policy as? DiffusionPolicy else { return policy }
        if let spec = settings.sampler { d.sampler = spec }
        if settings.value == nil && actor == nil { return d }
        let beta = settings.beta ?? 0
        let reranker = try settings.value.map {
            try ValueFunctionDirectory.load($0, maxCandidates: k, selection: beta > 0 ? .softmax(beta: beta) : .argmax)
        }
        let noise = try actor.map { try $0.noiseSource(for: d, deterministic: !stochasticActor, maxBatch: k) }
        return try SteeredPolicy(base: d, noiseSource: noise, reranker: reranker, candidates: k)
    }

    /// "ddim:10+dsrl+vgps10" and the like, for reports.
    public var label: String {
        var name = settings.sampler?.description ?? config.kind.rawValue
        if actor != nil { name += stochasticActor ? "+dsrl-sampled" : "+dsrl" }
        if settings.value != nil { name += "+vgps\(settings.candidates)" }
        return name
    }
}
