import ArgumentParser
import Foundation
import ReflexCore
import ReflexDeployment
import ReflexPolicy

/// Runs a LeRobot diffusion checkpoint on observations from a safetensors file: what the parity script and anyone
/// debugging an export compare against PyTorch.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a policy (a LeRobot diffusion or ACT checkpoint, or a Reflex policy directory) on the observations in a .safetensors file.",
        discussion: """
        A Reflex policy directory (policy.yaml), with the steering its policy.yaml switches on (a camera policy, one
        trained with reflex train --camera, also takes each camera's frame: --image front=frame.ppm, binary PPM of the
        size in policy.yaml's cameras):
          reads  observation  [O] (repeated over the history) or [n_obs_steps, O], raw, oldest first
          writes action       [horizon, A], raw: one chunk from a fresh episode with the generator seeded by --seed
                              (the same chunk as reflex_policy_reset(seed) + reflex_policy_predict in the C ABI)
        A LeRobot diffusion checkpoint:
        Tensors read from --inputs (F32, F16, BF16 or F64):
          observation.state               [S] or [n_obs_steps, S], raw units, oldest first; one row is repeated
                                          n_obs_steps times, as LeRobot's queue does at the start of an episode
          observation.environment_state   [E] or [n_obs_steps, E], when the policy has that input
          observation.image,              each camera the policy has, under its feature name: F32 [C, H, W] or
          observation.images.<camera>     [n_obs_steps, C, H, W], channel-major, values as LeRobot's pipeline takes
                                          them (floats in [0, 1]) before the preprocessor normalizes them;
                                          or --image FEATURE=frame.ppm (binary PPM/PGM, 8 bits, / maxval)
          noise                           optional [H, A] or [K, H, A]: the initial noise of the chunk(s), in the
                                          normalized action space (as select_action(batch, noise=...)); otherwise
                                          K = --candidates chunks start from N(0, I) drawn with --seed
        Tensors written to --out:
          action.normalized               [K, H, A] the denoised chunks, normalized
          action                          [K, H, A] the chunks unnormalized (the postprocessor's statistics)
          action.selected                 [n_action_steps, A] the actions select_action queues from chunk 0
                                          (indices n_obs_steps - 1 ..< n_obs_steps - 1 + n_action_steps)
        With --unet-only, one U-Net evaluation instead:
          reads  x [B, H, A], timestep [1] or [B] (one value; integers stored as floats), global_cond [G], [1, G]
                 or [B, G] (the normalized, flattened observation history)
          writes unet_output [B, H, A]
        A LeRobot ACT checkpoint (config.json "type": "act"):
          reads  observation.state, observation.environment_state, observation.images.<camera> as above, each
                 one step ([S], [C, H, W]) or T steps ([T, S], [T, C, H, W], oldest first); --image as above
          writes action.normalized [chunk_size, A] and action [chunk_size, A]: the chunk of the first observation;
                 action.selected [T, A]: select_action at each step (the action queue of n_action_steps, or
                 temporal ensembling when config.json has temporal_ensemble_coeff). ACT is deterministic.
        DDIM with eta 0 is deterministic given the noise; DDPM also draws per-step noise (from --seed), which
        PyTorch draws from its own generator, so DDPM chunks match LeRobot's only in distribution.
        """
    )

    @Argument(help: "A LeRobot diffusion or ACT checkpoint directory (config.json, model.safetensors, processors), or a Reflex policy directory (policy.yaml).")
    var directory: String
    @Option(help: "Input tensors (.safetensors).") var inputs: String
    @Option(help: "Where to write the outputs (.safetensors).") var out: String
    @Flag(help: "Evaluate the U-Net once on x, timestep and global_cond instead of sampling actions.") var unetOnly = false
    @Option(help: ArgumentHelp("A camera frame from a binary PPM (P6) or PGM (P5) file, as FEATURE=PATH (e.g. observation.images.top=frame.ppm for a LeRobot checkpoint, front=frame.ppm for a Reflex camera policy); repeatable; replaces that tensor of --inputs.", valueName: "feature=path"))
    var image: [String] = []
    @Option(help: "Chunks to sample when no noise is given (LeRobot checkpoints).") var candidates = 1
    @Option(help: "Seed for the initial noise (when not given) and DDPM's per-step noise.") var seed: UInt64 = 0
    @Option(help: "Kernel threads.") var threads = 1
    @Flag(help: "Also print the outputs as JSON on standard output (one object: name → flat values).") var json = false

    func validate() throws {
        guard candidates >= 1 else { throw ValidationError("--candidates must be at least 1") }
        guard (1 ... 256).contains(threads) else { throw ValidationError("--threads must be in 1...256") }
    }

    /// --image arguments as (feature or camera name, path).
    func frames() throws -> [(name: String, path: String)] {
        try image.map { arg -> (name: String, path: String) in
            guard let eq = arg.firstIndex(of: "=") else { throw ValidationError("--image takes FEATURE=PATH, got '\(arg)'") }
            return (String(arg[..<eq]), String(arg[arg.index(after: eq)...]))
        }
    }

    func run() throws {
        KernelBuild.setThreads(threads)
        defer { KernelBuild.setThreads(1) }
        do {
            let input = try SafetensorsFile(path: inputs)
            let outputs: [(String, Tensor)]
            let producer: String
            if PolicyDirectory.isPolicyDirectory(directory) {
                if unetOnly { throw ValidationError("--unet-only applies to LeRobot checkpoints") }
                if try PolicyDirectory.readConfig(directory).cameras != nil {
                    outputs = try PolicyPrediction.predict(policy: try PolicyDirectory.loadCameraPolicy(directory), inputs: input,
                                                           images: try frames(), seed: seed)
                } else {
                    if !image.isEmpty { throw ValidationError("--image: this Reflex policy has no cameras") }
                    outputs = try PolicyPrediction.predict(policy: try PolicyLoader.load(directory: directory), inputs: input, seed: seed)
                }
                producer = "reflex predict (Reflex policy)"
            } else if try LeRobotPolicyType(directory: directory) == .act {
                if unetOnly { throw ValidationError("--unet-only applies to LeRobot diffusion checkpoints") }
                let checkpoint = try LeRobotACTCheckpoint(directory: directory)
                let input = try LeRobotPrediction.addingImages(try frames(), to: input, cameras: checkpoint.config.imageFeatures)
                outputs = try LeRobotPrediction.selectAction(checkpoint: checkpoint, inputs: input)
                producer = "reflex predict (LeRobot ACT)"
            } else {
                let checkpoint = try LeRobotCheckpoint(directory: directory)
                let frames = try frames()
                let input = try LeRobotPrediction.addingImages(frames, to: input, config: checkpoint.config)
                outputs = unetOnly ? try LeRobotPrediction.unet(checkpoint: checkpoint, inputs: input)
                    : try LeRobotPrediction.selectAction(checkpoint: checkpoint, inputs: input, candidates: candidates, seed: seed)
                producer = unetOnly ? "reflex predict --unet-only" : "reflex predict"
            }
            try writeSafetensors(outputs, to: out, metadata: ["producer": producer])
            for (name, t) in outputs { FileHandle.standardError.write(Data("\(name) \(t.shape) → \(out)\n".utf8)) }
            if json {
                var object: [String: [Float]] = [:]
                for (name, t) in outputs { object[name] = t.scalars }
                try printJSON(object)
            }
        } catch let e as ReflexError {
            throw ValidationError(e.description)
        }
    }
}
