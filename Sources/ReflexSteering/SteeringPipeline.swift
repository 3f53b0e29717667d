import ReflexCore
import ReflexPolicy

extension SteeringDefaults {
    /// Relative paths resolved against the policy directory they were written in.
    public func resolved(against directory: String) -> SteeringDefaults {
        func resolve(_ p: String?) -> String? { p.map { $0.hasPrefix("/") ? $0 : directory + "/" + $0 } }
        return SteeringDefaults(value: resolve(value), k: k, selection: selection, beta: beta, dsrlActor: resolve(dsrlActor),
                                dsrlStochastic: dsrlStochastic)
    }

    /// Each field of `other` that is set replaces this one's; choosing the argmax drops the file's β (it has none).
    public func overridden(by other: SteeringDefaults) -> SteeringDefaults {
        let beta = other.selection == .argmax ? other.beta : other.beta ?? beta
        return SteeringDefaults(value: other.value ?? value, k: other.k ?? k, selection: other.selection ?? selection, beta: beta,
                                dsrlActor: other.dsrlActor ?? dsrlActor, dsrlStochastic: other.dsrlStochastic ?? dsrlStochastic)
    }

}

/// One pipeline for every combination of steering: reads a policy directory and its steering once (the DSRL actor's
/// weights, the value function's checks), then builds as many policy instances as there are threads, each with its
/// own workspaces. DSRL's actor supplies the initial noise, the sampler (RTI) warm-starts, V-GPS picks among K.
/// A LeRobot diffusion checkpoint (config.json, no policy.yaml) runs here too, with its own or an asked-for sampler;
/// its observation is LeRobotDiffusionPolicy's raw row (state, each camera's C × H × W image, environment state).
/// So does a LeRobot ACT checkpoint (the same raw row; deterministic, no sampler); V-GPS and DSRL are refused for both,
/// with the reason. A Reflex camera policy (policy.yaml with `cameras:`; its frames are set before each chunk, see
/// `makePolicy(acceptingFrames:)`) takes all three: DSRL's actor and V-GPS's critics condition on the denoiser's whole
/// condition, the encoders' features included, and the K candidates share one encoding of the frames.
public final class SteeringPipeline: @unchecked Sendable {
    public let directory: String
    public let config: PolicyConfig
    /// The sampler every instance runs (nil: the policy's own).
    public let sampler: SamplerSpec?
    /// policy.yaml's `steering:` section with the overrides applied.
    public let steering: SteeringDefaults
    let actor: DSRLActorDirectory?
    /// Set when `directory` is a LeRobot checkpoint: read once, shared (read-only) by every instance.
    let lerobot: LeRobotCheckpoint?
    let lerobotACT: LeRobotACTCheckpoint?

    /// `sampler` and `overrides` win over policy.yaml's sampler and `steering:` section, field by field; the merged
    /// setting is checked as a whole (`SteeringDefaults.validate`). `maxCandidates` bounds K (the daemon's).
    public init(directory: String, sampler: SamplerSpec? = nil, overrides: SteeringDefaults = SteeringDefaults(),
                maxCandidates: Int? = nil) throws {
        self.directory = directory
        let steered = overrides.value != nil || overrides.dsrlActor != nil || overrides.k != nil || overrides.beta != nil
            || overrides.selection != nil
        if !PolicyDirectory.isPolicyDirectory(directory), LeRobotCheckpoint.isCheckpoint(directory) {
            guard !steered else {
                throw ReflexError(.invalidValue, "V-GPS and DSRL steer Reflex state policies; \(directory) is a LeRobot checkpoint (only a sampler applies, to diffusion)")
            }
            if try LeRobotPolicyType(directory: directory) == .act {
                guard sampler == nil else {
                    throw ReflexError(.invalidValue, "\(directory) is a LeRobot ACT checkpoint: one deterministic network pass per chunk, no sampler")
                }
                let checkpoint = try LeRobotACTCheckpoint(directory: directory)
                lerobot = nil
                lerobotACT = checkpoint
                config = try LeRobotACTPolicy(checkpoint: checkpoint).config
            } else {
                let checkpoint = try LeRobotCheckpoint(directory: directory)
                lerobot = checkpoint
                lerobotACT = nil
                config = try LeRobotDiffusionPolicy(checkpoint: checkpoint, maxCandidates: 1).config
            }
        } else {
            lerobot = nil
            lerobotACT = nil
            config = try PolicyDirectory.readConfig(directory)
        }
        let s = (config.steering ?? SteeringDefaults()).resolved(against: directory).overridden(by: overrides)
        try s.validate(for: config.kind, maxCandidates: maxCandidates)
        if sampler != nil, config.kind != .diffusion {
            throw ReflexError(.invalidValue, "a sampler applies to diffusion policies; \(directory) is \(config.kind.rawValue)")
        }
        if let spec = sampler, let sched = config.scheduler { try spec.validate(trainTimesteps: sched.trainTimesteps) }
        actor = try s.dsrlActor.map(DSRLActorDirectory.init(path:))
        // The actor was trained through DDIM at η = 0 with its run's step count: that map, unless a sampler was
        // asked for on top of it, since policy.yaml's default sampler knows nothing of the actor.
        self.sampler = sampler ?? actor?.sampler ?? config.sampler
        if actor != nil, let spec = self.sampler, case .rti(_, .official, _) = spec {
            throw SteeredPolicy.officialRTIRefusal(spec)
        }
        steering = s
    }

    /// The cameras of a LeRobot camera checkpoint (empty for every other policy): their frames are part of its
    /// observation row, which a simulated task does not provide.
    public var cameras: [String] {
        lerobot?.config.imageFeatures.map(\.name) ?? lerobotACT?.config.imageFeatures.map(\.name)
            ?? config.cameras?.map(\.name) ?? []
    }

    /// K identical noises would give K identical candidates, so V-GPS over DSRL samples the actor.
    var stochasticActor: Bool { steering.dsrlStochastic ?? false || steering.candidates > 1 }

    /// A fresh policy instance (one per thread). A Reflex camera policy is refused unless `acceptingFrames`: the
    /// caller then sets each camera's frame before every chunk (`CameraDiffusionPolicy.setFrame`, or
    /// `ObservationFeatures`), as the daemon's remote inference and the C ABI do; without frames it would run blind.
    public func makePolicy(acceptingFrames: Bool = false) throws -> Policy {
        let k = steering.candidates
        if let lerobotACT { return try LeRobotACTPolicy(checkpoint: lerobotACT) }
        if config.cameras != nil, acceptingFrames {
            let policy = try PolicyDirectory.loadCameraPolicy(directory, maxCandidates: k)
            if let spec = sampler { policy.diffusion.sampler = spec }
            try policy.steer { try steer($0) }
            return policy
        }
        if let lerobot {
            let policy = try LeRobotDiffusionPolicy(checkpoint: lerobot, maxCandidates: 1)
            if let spec = sampler { policy.diffusion.sampler = spec }
            return policy
        }
        let policy = try PolicyDirectory.load(directory, maxCandidates: k)
        guard let d = policy as? DiffusionPolicy else { return policy }
        if let spec = sampler { d.sampler = spec }
        return try steer(d) ?? d
    }

    /// `d` under this pipeline's DSRL actor and V-GPS critics, nil when neither is set.
    private func steer(_ d: DiffusionPolicy) throws -> SteeredPolicy? {
        if steering.value == nil && actor == nil { return nil }
        let k = steering.candidates
        let reranker = try steering.value.map {
            try ValueFunctionDirectory.load($0, maxCandidates: k, selection: CandidateSelection(steering))
        }
        let noise = try actor.map { try $0.noiseSource(for: d, deterministic: !stochasticActor, maxBatch: k) }
        return try SteeredPolicy(base: d, noiseSource: noise, reranker: reranker, candidates: k)
    }

    /// "ddim:10+dsrl+vgps10" and the like, for reports.
    public var label: String {
        var name = sampler?.description ?? config.kind.rawValue
        if actor != nil { name += stochasticActor ? "+dsrl-sampled" : "+dsrl" }
        if steering.value != nil { name += "+vgps\(steering.candidates)" }
        if steering.value != nil, let beta = steering.softmaxTemperature {
            name += "-softmax" + (beta == beta.rounded() && abs(beta) < 1e6 ? "\(Int(beta))" : "\(beta)")
        }
        return name
    }
}
