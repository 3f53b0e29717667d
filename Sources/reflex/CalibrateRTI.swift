import ArgumentParser
import ReflexCore
import ReflexPolicy

/// `reflex calibrate-rti`: picks RTI's start step k0 from held-out demonstrations (see `RTICalibration`).
struct CalibrateRTI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate-rti",
        abstract: "Find the smallest RTI start step k0 whose warm-started chunks stay close to fully denoised ones.",
        discussion: """
        Replays held-out demonstration episodes through the policy with RTI exactly as deployment would and
        measures, per call, the mean absolute distance (normalized action units) between the warm-started chunk
        and a fresh full-DDPM chunk for the same observations. With --write, the chosen schedule [k0, …, 0]
        becomes the policy's default sampler in policy.yaml.
        """)

    @Option(help: "Diffusion policy directory.") var policy: String
    @Option(help: "Demonstration directory; the last --held-out fraction of its episodes is used.") var demos: String
    @Option(help: "Fraction of episodes held out (the policy should not have been trained on them).") var heldOut = 0.2
    @Option(help: "Candidate k0 values, comma-separated.") var candidates = "1,2,3,5,8,12"
    @Option(help: "Largest acceptable mean distance.") var tolerance = 0.1
    @Option(help: "Actions executed between calls (the shift).") var actionSteps = 1
    @Option(help: "Warm start variant: official or renoise.") var variant = "official"
    @Option(help: "Episodes to replay at most.") var episodes = 10
    @Option(help: "Seed.") var seed: UInt64 = 0
    @Flag(help: "Write the chosen schedule into policy.yaml.") var write = false

    func run() throws {
        guard let v = RTIVariant(rawValue: variant) else { throw ValidationError("--variant must be official or renoise") }
        let ks = try candidates.split(separator: ",").map { s -> Int in
            guard let k = Int(s), k >= 0 else { throw ValidationError("--candidates: '\(s)' is not a timestep") }
            return k
        }
        guard let diffusion = try PolicyDirectory.load(policy) as? DiffusionPolicy else {
            throw ValidationError("\(policy) is not a diffusion policy")
        }
        let (data, _) = try Demonstrations.load(directory: demos)
        let held = try data.split(heldOut: heldOut).heldOut
        let calibration = RTICalibration(candidates: ks, tolerance: tolerance, variant: v, actionSteps: actionSteps, seed: seed)
        let result = try calibration.run(policy: diffusion, data: held, episodes: episodes)
        print(table(["k0", "evaluations/call", "mean distance", "worst episode"],
                    result.rows.map { ["\($0.k0)", "\($0.k0 + 1)", fmt($0.meanDistance, 4), fmt($0.worstEpisodeDistance, 4)] }))
        print("two fresh DDPM chunks for the same observations differ by \(fmt(result.freshToFresh, 4)) (sampling noise floor)")
        guard let k0 = result.chosenK0 else {
            print("no candidate within tolerance \(tolerance); try larger k0 or a larger tolerance")
            throw ExitCode(1)
        }
        let spec = SamplerSpec.rti(schedule: Array((0 ... k0).reversed()), variant: v)
        print("chosen: k0 = \(k0) → sampler \(spec)")
        if write {
            var config = diffusion.config
            config.sampler = spec
            let network = try PolicyDirectory.readNetwork(policy, config: config)
            try PolicyDirectory.save(config: config, network: network, to: policy)
            print("wrote \(policy)/\(PolicyDirectory.configFile)")
        }
    }
}
