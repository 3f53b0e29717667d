import Foundation
import ReflexCore
import ReflexRL
import ReflexRuntime

/// One point of a sweep: a `reflex` command line with its seed (and, for a sharded evaluation, its shard).
public struct SweepTask: Sendable, Equatable {
    public var index: Int
    /// "<setting>-seed<S>", plus "-shard-I-of-N" for a sharded evaluation.
    public var name: String
    public var setting: String
    /// eval, finetune or train-value.
    public var command: String
    public var seed: UInt64
    public var shard: EvaluationShard?
    /// The setting's options as arguments, without the ones the sweep sets (--seed, --out, --shard).
    public var options: [String]
    /// Where the task writes: the results (or shard) JSON of an evaluation, the run directory otherwise.
    public var output: String
}

/// A sweep file: settings × seeds of `reflex eval`, `reflex finetune` (SAC, DSAC-T, DSRL) and `reflex train-value`,
/// expanded into numbered tasks (one Slurm array task each).
///
/// ```yaml
/// out: sweeps/reach            # task outputs go under it (relative to the working directory)
/// seeds: [1, 2]                # every setting's, unless it names its own
/// settings:
///   - name: sac
///     command: finetune
///     options: {env: "so101:reach", steps: 3000, preset: sac, checkpoint-every: 500}
///   - name: ddim10
///     command: eval
///     shards: 4                # one task per shard; `reflex sweep merge` merges them
///     options: {policy: policies/so101-lift, task: lift, episodes: 200, sampler: "ddim:10"}
/// ```
/// An option's value is its argument; `true` is a flag, `false` leaves it out, a list gives several arguments.
public struct Sweep: Sendable {
    public static let commands = ["eval", "finetune", "train-value"]
    /// The options the sweep sets per task.
    static let reserved = ["seed", "out", "resume", "shard"]

    public var directory: String
    public var tasks: [SweepTask]

    public init(text: String, file: String? = nil) throws {
        func fail(_ node: YAMLNode?, _ key: String, _ message: String) -> ReflexError {
            ReflexError(.invalidValue, message, at: .init(file: file, line: node.map { $0.line + 1 }, keyPath: key))
        }
        guard let root = try YAMLNode.parse(text, file: file), root.kind == .mapping else {
            throw fail(nil, "", "a sweep file is a mapping with out, seeds and settings")
        }
        func pairs(_ node: YAMLNode) -> [(String, YAMLNode)] {
            stride(from: 0, to: node.children.count - 1, by: 2).map { (node.children[$0].scalar, node.children[$0 + 1]) }
        }
        func seeds(_ node: YAMLNode, _ key: String) throws -> [UInt64] {
            let items = node.kind == .sequence ? node.children : [node]
            let s = try items.map { item in
                guard item.kind == .scalar, let v = UInt64(item.scalar) else { throw fail(item, key, "seeds are non-negative integers") }
                return v
            }
            guard !s.isEmpty, Set(s).count == s.count else { throw fail(node, key, "give at least one seed, each once") }
            return s
        }
        var out: String?, topSeeds: [UInt64]?, settingsNode: YAMLNode?
        for (k, v) in pairs(root) {
            switch k {
            case "out": out = v.scalar
            case "seeds": topSeeds = try seeds(v, "seeds")
            case "settings": settingsNode = v
            default: throw ReflexError(.yamlUnknownKey, "unknown key (a sweep has out, seeds, settings)", at: .init(file: file, line: v.line + 1, keyPath: k))
            }
        }
        guard let out, !out.isEmpty else { throw fail(root, "out", "give out: the directory the tasks write to") }
        guard let settingsNode, settingsNode.kind == .sequence, !settingsNode.children.isEmpty else {
            throw fail(settingsNode ?? root, "settings", "give settings: a list of {name, command, options}")
        }
        directory = out
        tasks = []
        var names = Set<String>()
        for (i, s) in settingsNode.children.enumerated() {
            let key = "settings[\(i)]"
            guard s.kind == .mapping else { throw fail(s, key, "a setting is a mapping {name, command, options}") }
            var name: String?, command: String?, settingSeeds = topSeeds, shards: Int?, options: [String] = []
            for (k, v) in pairs(s) {
                switch k {
                case "name": name = v.scalar
                case "command": command = v.scalar
                case "seeds": settingSeeds = try seeds(v, "\(key).seeds")
                case "shards":
                    guard let n = Int(v.scalar), n >= 1 else { throw fail(v, "\(key).shards", "shards is an integer ≥ 1") }
                    shards = n
                case "options":
                    guard v.kind == .mapping else { throw fail(v, "\(key).options", "options is a mapping of option: value") }
                    for (option, value) in pairs(v) {
                        let flag = option.replacingOccurrences(of: "_", with: "-")
                        guard !Self.reserved.contains(flag) else {
                            throw fail(value, "\(key).options.\(option)", "the sweep sets --\(flag) itself")
                        }
                        switch value.kind {
                        case .scalar where value.plain && value.scalar == "true": options.append("--\(flag)")
                        case .scalar where value.plain && value.scalar == "false": break
                        case .scalar: options += ["--\(flag)", value.scalar]
                        case .sequence: options += ["--\(flag)"] + value.children.map(\.scalar)
                        case .mapping: throw fail(value, "\(key).options.\(option)", "an option's value is a scalar or a list")
                        }
                    }
                default: throw ReflexError(.yamlUnknownKey, "unknown key (a setting has name, command, seeds, shards, options)",
                                           at: .init(file: file, line: v.line + 1, keyPath: "\(key).\(k)"))
                }
            }
            guard let name, !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw fail(s, "\(key).name", "give each setting a name of letters, digits, - _ . (it names its outputs)")
            }
            guard names.insert(name).inserted else { throw fail(s, "\(key).name", "setting name '\(name)' is used twice") }
            guard let command, Self.commands.contains(command) else {
                throw fail(s, "\(key).command", "command is one of \(Self.commands.joined(separator: ", "))")
            }
            guard let seeds = settingSeeds else { throw fail(s, "\(key).seeds", "no seeds: give seeds at the top or in the setting") }
            if shards != nil, command != "eval" { throw fail(s, "\(key).shards", "only an eval setting is sharded") }
            for seed in seeds {
                let base = "\(name)-seed\(seed)"
                if command == "eval" {
                    let json = directory + "/" + base + ".json"
                    let shardList: [EvaluationShard?] = try shards.map { n in try (0 ..< n).map { try EvaluationShard(index: $0, count: n) } } ?? [nil]
                    for shard in shardList {
                        tasks.append(SweepTask(index: tasks.count, name: base + (shard.map { "-shard-\($0.index)-of-\($0.count)" } ?? ""),
                                               setting: name, command: command, seed: seed, shard: shard, options: options,
                                               output: shard.map { EvalResults.defaultShardPath(for: json, shard: $0) } ?? json))
                    }
                } else {
                    tasks.append(SweepTask(index: tasks.count, name: base, setting: name, command: command, seed: seed, shard: nil,
                                           options: options, output: directory + "/" + base))
                }
            }
        }
    }

    public static func load(_ path: String) throws -> Sweep { try Sweep(text: try readTextFile(path), file: path) }

    /// Task `i`, or a refusal naming the range.
    public func task(_ i: Int) throws -> SweepTask {
        guard tasks.indices.contains(i) else {
            throw ReflexError(.invalidArgument, "task \(i) is not in 0..<\(tasks.count) (the sweep has \(tasks.count) tasks)")
        }
        return tasks[i]
    }

    /// The `reflex` arguments that run task `i` now. A fine-tuning task whose run directory holds a checkpoint
    /// continues it (`finetune --resume`), so a requeued or preempted task ends with the weights an uninterrupted
    /// run has; one killed before its first checkpoint starts over (its half-made directory is removed).
    public func arguments(task i: Int) throws -> [String] {
        let t = try task(i)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        switch t.command {
        case "eval":
            // A shard's file is its results path with .shard-I-of-N.json (`EvalResults.defaultShardPath`).
            return ["eval"] + t.options + ["--seed", "\(t.seed)", "--out", directory + "/\(t.setting)-seed\(t.seed).json", "--quiet"]
                + (t.shard.map { ["--shard", $0.description] } ?? [])
        case "finetune":
            let run = RunDirectory(path: t.output)
            let fm = FileManager.default
            if fm.fileExists(atPath: run.runFile) {
                if (try? run.resumableCheckpoint()) != nil { return ["finetune", "--resume", t.output, "--quiet"] }
                try fm.removeItem(atPath: t.output)
            }
            return ["finetune"] + t.options + ["--seed", "\(t.seed)", "--out", t.output, "--quiet"]
        default:
            return [t.command] + t.options + ["--seed", "\(t.seed)", "--out", t.output]
        }
    }

    /// The sharded evaluations to merge once every task is done: the shard files and the results path of each.
    public var merges: [(shards: [String], out: String)] {
        var seen: [String: Int] = [:]
        var list: [(shards: [String], out: String)] = []
        for t in tasks where t.shard != nil {
            let out = directory + "/\(t.setting)-seed\(t.seed).json"
            if let j = seen[out] { list[j].shards.append(t.output) } else {
                seen[out] = list.count
                list.append(([t.output], out))
            }
        }
        return list
    }

    /// Merges every sharded evaluation (`merges`), writing each one's results and plot; returns the results.
    public func mergeShards() throws -> [(out: String, results: EvalResults)] {
        try merges.map { m in
            let r = try EvalShardFile.merge(paths: m.shards)
            try r.write(to: m.out)
            try r.successPlot().write(to: EvalResults.defaultPlotPath(for: m.out))
            return (m.out, r)
        }
    }
}

extension Sweep {
    /// A task index: an integer, or "auto" for this array task's (`SLURM_ARRAY_TASK_ID`, else a Kubernetes
    /// Indexed Job's `JOB_COMPLETION_INDEX`).
    public static func taskIndex(parsing text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Int {
        if text == "auto" {
            for name in ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"] {
                if let v = environment[name] {
                    guard let i = Int(v) else { throw ReflexError(.invalidArgument, "\(name)='\(v)' is not an integer") }
                    return i
                }
            }
            throw ReflexError(.invalidArgument, "--task auto needs SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX in the environment; neither is set")
        }
        guard let i = Int(text) else { throw ReflexError(.invalidArgument, "task '\(text)' is not an integer or auto") }
        return i
    }
}

extension Sweep {
    /// One task's outcome as its files show it.
    public struct TaskStatus: Sendable {
        public var task: SweepTask
        /// Whether the task's final output is on disk (results, shard, final policy, value function).
        public var done: Bool
        /// The headline figure: success (evaluation), final evaluation return and success (fine-tuning).
        public var result: String
    }

    /// Every task's status, read from its output (what `reflex sweep merge` prints after merging).
    public func status() -> [TaskStatus] {
        let fm = FileManager.default
        return tasks.map { t in
            switch t.command {
            case "eval":
                guard let bytes = try? readFile(t.output) else { return TaskStatus(task: t, done: false, result: "") }
                let decoder = JSONDecoder()
                decoder.keyDecodingStrategy = .convertFromSnakeCase
                if t.shard != nil, let f = try? decoder.decode(EvalShardFile.self, from: Data(bytes)) {
                    let ok = f.episodeResults.filter(\.success).count
                    return TaskStatus(task: t, done: true, result: "success \(ok)/\(f.episodeResults.count)")
                }
                if let r = try? decoder.decode(EvalResults.self, from: Data(bytes)) {
                    return TaskStatus(task: t, done: true, result: "success \(r.report.successes)/\(r.report.episodes)")
                }
                return TaskStatus(task: t, done: false, result: "unreadable \(t.output)")
            case "finetune":
                let done = fm.fileExists(atPath: t.output + "/policy.safetensors")
                // metrics.csv: step,episode_return,eval_mean_return,eval_std_return,eval_success_rate,…
                let rows = ((try? readTextFile(t.output + "/metrics.csv")) ?? "").split(separator: "\n").dropFirst()
                let last = rows.last { $0.split(separator: ",", omittingEmptySubsequences: false).count > 4
                    && !$0.split(separator: ",", omittingEmptySubsequences: false)[2].isEmpty }
                let result = last.map { row -> String in
                    let f = row.split(separator: ",", omittingEmptySubsequences: false)
                    let rate = Double(f[4]).map { String(format: "%.0f%%", 100 * $0) } ?? "?"
                    return "step \(f[0]): eval return \(f[2]), success \(rate)"
                } ?? ""
                return TaskStatus(task: t, done: done, result: result)
            default:
                let done = fm.fileExists(atPath: t.output + "/value.yaml")
                return TaskStatus(task: t, done: done, result: done ? "wrote \(t.output)" : "")
            }
        }
    }
}
