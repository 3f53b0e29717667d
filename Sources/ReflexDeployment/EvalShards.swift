import Foundation
import ReflexCore
import ReflexPolicy
import ReflexRuntime
import ReflexSteering

extension ReflexError.Code {
    /// Shard files that do not add up to one evaluation run (different runs, missing or duplicated shards).
    public static let shardMismatch = Self("shardMismatch")
}

extension EvaluationShard {
    /// "I/N" (I in 0..<N), or "auto/N": I from `SLURM_ARRAY_TASK_ID` (a Slurm array task), else
    /// `JOB_COMPLETION_INDEX` (a Kubernetes Indexed Job).
    public init(parsing text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        func bad(_ why: String) -> ReflexError {
            ReflexError(.invalidArgument, "bad shard '\(text)': \(why) (give I/N with I in 0..<N, or auto/N)")
        }
        guard parts.count == 2 else { throw bad("expected one '/'") }
        guard let count = Int(parts[1]) else { throw bad("N '\(parts[1])' is not an integer") }
        let index: Int
        if parts[0] == "auto" {
            let names = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"]
            guard let name = names.first(where: { environment[$0] != nil }), let value = environment[name] else {
                throw bad("auto needs SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX in the environment; neither is set")
            }
            guard let i = Int(value) else { throw bad("\(name)='\(value)' is not an integer") }
            index = i
        } else {
            guard let i = Int(parts[0]) else { throw bad("I '\(parts[0])' is not an integer") }
            index = i
        }
        do {
            try self.init(index: index, count: count)
        } catch let e as ReflexError {
            throw bad(e.message)
        }
    }

    public var description: String { "\(index)/\(count)" }
}

/// Everything that fixes an evaluation run's episodes: shards must agree on all of it to be merged.
public struct EvalRunIdentity: Codable, Sendable, Equatable {
    /// The policy directory as given (the results file records it so).
    public var policy: String
    /// FNV-1a (64-bit, hex) over the configs and weights the run reads: the policy directory's, the value
    /// function's and the DSRL actor's `*.yaml`, `*.safetensors` and `*.json` (but shard files and `eval-*.json`),
    /// by name in name order.
    public var weightsDigest: String
    public var robot: String
    public var task: String
    /// The sampler and steering label ("ddim:10+dsrl+vgps10").
    public var sampler: String
    public var value: String?
    public var k: Int?
    /// The softmax temperature in force (nil: the argmax).
    public var beta: Float?
    public var dsrlActor: String?
    public var dsrlStochastic: Bool?
    public var seed: UInt64
    public var episodes: Int
    public var actionSteps: Int?
    /// Inference delay in control steps and the execution strategy (`ExecutionStrategy`'s text form).
    public var delay: Int
    public var execution: String

    /// The sampler label with the execution under delay when there is one ("ddim:3 rtc D=4"): progress lines and
    /// default file names.
    public var label: String { execution == ExecutionStrategy.sync.description ? sampler : "\(sampler) \(execution) D=\(delay)" }

    /// The fields that differ from `other`, as "name a vs b".
    public func differences(from other: EvalRunIdentity) -> [String] {
        func show<T>(_ x: T?) -> String { x.map { "\($0)" } ?? "none" }
        let pairs: [(String, String, String)] = [
            ("policy", policy, other.policy), ("weights_digest", weightsDigest, other.weightsDigest),
            ("robot", robot, other.robot), ("task", task, other.task), ("sampler", sampler, other.sampler),
            ("value", show(value), show(other.value)), ("k", show(k), show(other.k)), ("beta", show(beta), show(other.beta)),
            ("dsrl_actor", show(dsrlActor), show(other.dsrlActor)),
            ("dsrl_stochastic", show(dsrlStochastic), show(other.dsrlStochastic)),
            ("seed", "\(seed)", "\(other.seed)"), ("episodes", "\(episodes)", "\(other.episodes)"),
            ("action_steps", show(actionSteps), show(other.actionSteps)),
            ("delay", "\(delay)", "\(other.delay)"), ("execution", execution, other.execution),
        ]
        return pairs.filter { $0.1 != $0.2 }.map { "\($0.0) \($0.1) vs \($0.2)" }
    }

    /// The digest of the files under `directories` a run reads (see `weightsDigest`).
    public static func digest(of directories: [String]) throws -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
            for b in bytes {
                h ^= UInt64(b)
                h &*= 0x100_0000_01b3
            }
        }
        let fm = FileManager.default
        for (i, dir) in directories.enumerated() {
            let names: [String]
            do { names = try fm.contentsOfDirectory(atPath: dir) } catch {
                throw ReflexError(.fileNotFound, "cannot list the directory", at: .init(file: dir))
            }
            // Configs and weights (LeRobot's are config.json and processor JSON), not the results or shard files a
            // user may write next to them: those must not change the digest between one shard and the next.
            let read = names.filter {
                $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") || $0.hasSuffix(".safetensors")
                    || ($0.hasSuffix(".json") && !$0.contains(".shard-") && !$0.hasPrefix("eval-"))
            }
            mix("dir\(i)\u{0}".utf8)
            for name in read.sorted() {
                mix(name.utf8)
                mix([0])
                mix(try readFile(dir + "/" + name))
            }
        }
        return String(h, radix: 16)
    }
}

/// An evaluation run as configured on the command line: the evaluator and the identity its shards carry.
public struct EvalRun {
    public let identity: EvalRunIdentity
    public let evaluator: Evaluator
    public let makeEnvironment: Evaluator.EnvironmentFactory
    /// How chunks execute under `identity.delay`.
    public let execution: ExecutionStrategy

    /// `sampler` and `steering` override policy.yaml's, field by field (as `SteeringPipeline` takes them);
    /// `execution` defaults to policy.yaml's `execution:`, else naive when `delay` > 0, else sync.
    public init(policy: String, robot: String, task: String, sampler: SamplerSpec? = nil,
                steering: SteeringDefaults = SteeringDefaults(), seed: UInt64, episodes: Int, actionSteps: Int? = nil,
                delay: Int = 0, execution: ExecutionStrategy? = nil) throws {
        guard episodes >= 1 else { throw ReflexError(.invalidArgument, "episodes must be at least 1, got \(episodes)") }
        guard delay >= 0 else { throw ReflexError(.invalidValue, "the delay must be at least 0 control steps, got \(delay)") }
        let pipeline = try SteeringPipeline(directory: policy, sampler: sampler, overrides: steering)
        if pipeline.config.cameras != nil {
            // A camera policy: each worker's task renders its cameras for it (CameraTaskEnvironment); DSRL and V-GPS
            // steer it from the features of those frames.
            let config = pipeline.config
            let s = pipeline.steering
            _ = try CameraTaskEnvironment(robot: robot, task: task, config: config) // set-up errors surface here
            let strategy = execution ?? config.execution ?? (delay > 0 ? .naive : .sync)
            self.execution = strategy
            identity = EvalRunIdentity(policy: policy, weightsDigest: try EvalRunIdentity.digest(of: [policy] + [s.value, s.dsrlActor].compactMap { $0 }),
                                       robot: robot, task: task, sampler: pipeline.label, value: s.value,
                                       k: s.value == nil ? nil : s.candidates, beta: s.softmaxTemperature, dsrlActor: s.dsrlActor,
                                       dsrlStochastic: s.dsrlStochastic, seed: seed, episodes: episodes, actionSteps: actionSteps,
                                       delay: delay, execution: strategy.description)
            let makeEnv: Evaluator.EnvironmentFactory = { try CameraTaskEnvironment(robot: robot, task: task, config: config) }
            makeEnvironment = makeEnv
            evaluator = Evaluator(environment: makeEnv, policyFor: { env in
                guard let env = env as? CameraTaskEnvironment else {
                    throw ReflexError(.invalidArgument, "a camera policy runs on a CameraTaskEnvironment")
                }
                guard let p = try pipeline.makePolicy(acceptingFrames: true) as? CameraDiffusionPolicy else {
                    throw ReflexError(.invalidPolicy, "not a camera policy", at: .init(file: policy))
                }
                return CameraTaskPolicy(policy: p, environment: env)
            })
            return
        }
        var makeEnv = try SimTasks.environmentFactory(robot: robot, task: task)
        let full = try makeEnv().observationSpace.size
        if pipeline.config.observationSize != full, pipeline.config.notes?["observation_names"] != nil {
            // Trained on some of the task's observations (reflex train --exclude-features): the task narrowed to them.
            let config = pipeline.config
            _ = try CameraTaskEnvironment(robot: robot, task: task, config: config)
            makeEnv = { try CameraTaskEnvironment(robot: robot, task: task, config: config) }
        }
        // A policy reads observationSize values from the task's observation: a smaller one would feed it whatever
        // lies past the array (episodes would then depend on the heap, not on their seeds).
        let env = try makeEnv()
        let c = pipeline.config
        guard c.observationSize == env.observationSpace.size, c.actionSize == env.actionSpace.size else {
            throw ReflexError(.shapeMismatch, "the policy takes \(c.observationSize) observations and gives \(c.actionSize) actions; "
                              + "\(robot):\(task) has \(env.observationSpace.size) and \(env.actionSpace.size)"
                              + (pipeline.cameras.isEmpty ? "" : " (a LeRobot camera policy, \(pipeline.cameras.joined(separator: ", ")): the simulator does not render its frames yet)"),
                              at: .init(file: policy))
        }
        let strategy = execution ?? pipeline.config.execution ?? (delay > 0 ? .naive : .sync)
        switch strategy {
        case .rtiDelay, .rtc, .rtcReplace:
            let made = try pipeline.makePolicy()
            guard let diffusion = (made as? DiffusionPolicy) ?? (made as? LeRobotDiffusionPolicy)?.diffusion else {
                throw ReflexError(.invalidValue, "execution \(strategy) needs a diffusion policy without steering")
            }
            if case .rtc = strategy, !diffusion.supportsGuidance {
                throw ReflexError(.invalidValue, "execution rtc needs a denoiser with a vector-Jacobian product (the MLP denoiser; not LeRobot's U-Net); use rtc-replace")
            }
        default: break
        }
        self.execution = strategy
        let s = pipeline.steering
        let dirs = [policy] + [s.value, s.dsrlActor].compactMap { $0 }
        identity = EvalRunIdentity(policy: policy, weightsDigest: try EvalRunIdentity.digest(of: dirs), robot: robot,
                                   task: task, sampler: pipeline.label, value: s.value, k: s.value == nil ? nil : s.candidates,
                                   beta: s.softmaxTemperature, dsrlActor: s.dsrlActor, dsrlStochastic: s.dsrlStochastic, seed: seed,
                                   episodes: episodes, actionSteps: actionSteps, delay: delay, execution: strategy.description)
        makeEnvironment = makeEnv
        evaluator = Evaluator(environment: makeEnv, policy: { try pipeline.makePolicy() })
    }

    /// Runs the whole run, or one shard of it.
    public func run(workers: Int, shard: EvaluationShard? = nil, record: Bool = false,
                    progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws -> EvaluationReport {
        try evaluator.run(EvaluationConfig(episodes: identity.episodes, seed: identity.seed, workers: workers,
                                           actionSteps: identity.actionSteps, record: record, shard: shard,
                                           delay: identity.delay, execution: execution), progress: progress)
    }

    /// The results file of an unsharded run.
    public func results(_ report: EvaluationReport) -> EvalResults { EvalResults(identity: identity, report: report) }

    /// The shard file of one shard's report.
    public func shardFile(_ report: EvaluationReport, shard: EvaluationShard) -> EvalShardFile {
        EvalShardFile(identity: identity, shard: shard, episodeResults: report.episodeResults)
    }
}

extension EvalResults {
    init(identity i: EvalRunIdentity, report: EvaluationReport) {
        self.init(policy: i.policy, robot: i.robot, task: i.task, sampler: i.sampler, seed: i.seed,
                  actionSteps: i.actionSteps, report: report, delay: i.delay, execution: i.execution)
    }
}

/// What one shard of an evaluation run writes (`reflex eval --shard I/N`): the run's identity and the shard's
/// per-episode records, timings included, so the merge computes the same report one process would.
public struct EvalShardFile: Codable, Sendable {
    public static let currentFormat = "reflex-eval-shard-1"
    public var format: String
    public var identity: EvalRunIdentity
    public var shard: EvaluationShard
    public var episodeResults: [EpisodeResult]

    public init(identity: EvalRunIdentity, shard: EvaluationShard, episodeResults: [EpisodeResult]) {
        format = Self.currentFormat
        self.identity = identity
        self.shard = shard
        self.episodeResults = episodeResults
    }

    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return Array(try encoder.encode(self))
    }

    public func write(to path: String) throws { try writeFileAtomically(try encoded(), to: path) }

    public static func read(_ path: String) throws -> EvalShardFile {
        let bytes = try readFile(path)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let file: EvalShardFile
        do { file = try decoder.decode(EvalShardFile.self, from: Data(bytes)) } catch {
            throw ReflexError(.shardMismatch, "not an evaluation shard file (reflex eval --shard writes them): \(error)",
                              at: .init(file: path))
        }
        guard file.format == currentFormat else {
            throw ReflexError(.shardMismatch, "format '\(file.format)', expected '\(currentFormat)'", at: .init(file: path))
        }
        return file
    }

    /// Merges the shards of one run into the results file the unsharded run writes: the same bytes apart from the
    /// timing fields (`EvalResults.timingKeys`). Refuses, with the reason, shards of different runs, a shard
    /// count that disagrees, missing or duplicated shards and shards whose episodes are not theirs.
    public static func merge(_ shards: [(path: String, file: EvalShardFile)]) throws -> EvalResults {
        guard let (firstPath, first) = shards.first else {
            throw ReflexError(.shardMismatch, "no shard files to merge")
        }
        let n = first.shard.count
        guard n >= 1, first.identity.episodes >= 1 else {
            throw ReflexError(.shardMismatch, "shard count \(n) and episodes \(first.identity.episodes) must be at least 1",
                              at: .init(file: firstPath))
        }
        var byIndex: [Int: String] = [:]
        var results: [EpisodeResult] = []
        for (path, f) in shards {
            func refuse(_ why: String) -> ReflexError { ReflexError(.shardMismatch, why, at: .init(file: path)) }
            let diff = f.identity.differences(from: first.identity)
            guard diff.isEmpty else {
                throw refuse("a shard of a different run than \(firstPath): \(diff.joined(separator: ", "))")
            }
            guard f.shard.count == n else {
                throw refuse("shard \(f.shard.index)/\(f.shard.count), but \(firstPath) is one of \(n) shards")
            }
            guard (0 ..< n).contains(f.shard.index) else {
                throw refuse("shard index \(f.shard.index) is not in 0..<\(n)")
            }
            if let other = byIndex[f.shard.index] {
                throw refuse("shard \(f.shard.description) given twice (also \(other))")
            }
            byIndex[f.shard.index] = path
            let expected = f.shard.episodes(of: first.identity.episodes)
            guard f.episodeResults.map(\.index) == expected else {
                throw refuse("holds episodes \(f.episodeResults.map(\.index).prefix(8))…, not shard \(f.shard.description)'s "
                             + "\(expected.count) of \(first.identity.episodes) (a truncated or edited file?)")
            }
            results += f.episodeResults
        }
        let missing = (0 ..< n).filter { byIndex[$0] == nil }
        guard missing.isEmpty else {
            throw ReflexError(.shardMismatch, "missing shard\(missing.count > 1 ? "s" : "") "
                              + missing.map { "\($0)/\(n)" }.joined(separator: ", ") + " of the run in \(firstPath)")
        }
        return EvalResults(identity: first.identity, report: EvaluationReport(results))
    }

    /// Reads and merges shard files.
    public static func merge(paths: [String]) throws -> EvalResults {
        try merge(paths.map { ($0, try read($0)) })
    }
}

extension EvalResults {
    /// The keys (snake_case, as written) whose values are wall times: the only ones in which a merged run's file
    /// differs from the single-process run's.
    public static let timingKeys: Set<String> = ["latency_p50_micros", "latency_p99_micros", "latency_max_micros", "inference_micros"]

    /// A copy with every timing field zeroed (emptied), to compare two runs' files byte for byte on the rest.
    public func withoutTimings() -> EvalResults {
        var copy = self
        copy.report.latencyP50Micros = 0
        copy.report.latencyP99Micros = 0
        copy.report.latencyMaxMicros = 0
        for i in copy.report.episodeResults.indices { copy.report.episodeResults[i].inferenceMicros = [] }
        return copy
    }

    /// The running-success plot `reflex eval` writes beside the results.
    public func successPlot() -> LinePlot { report.successPlot(title: "\(task): \(sampler)") }

    /// `reflex eval`'s default results path: eval-<task>-<sampler>.json, the sampler made file-name safe.
    public static func defaultPath(task: String, sampler: String) -> String {
        let safe = sampler.replacingOccurrences(of: ":", with: "_").replacingOccurrences(of: ",", with: "-")
            .replacingOccurrences(of: "/", with: "+").replacingOccurrences(of: " ", with: "-").replacingOccurrences(of: "=", with: "")
        return "eval-\(task)-\(safe).json"
    }

    /// The plot's default path: the results path with .svg for .json.
    public static func defaultPlotPath(for jsonPath: String) -> String {
        (jsonPath.hasSuffix(".json") ? String(jsonPath.dropLast(5)) : jsonPath) + ".svg"
    }

    /// A shard's default path: the results path with .shard-I-of-N.json.
    public static func defaultShardPath(for jsonPath: String, shard: EvaluationShard) -> String {
        (jsonPath.hasSuffix(".json") ? String(jsonPath.dropLast(5)) : jsonPath) + ".shard-\(shard.index)-of-\(shard.count).json"
    }
}
