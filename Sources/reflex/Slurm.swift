import ArgumentParser
import Foundation
import ReflexCore
import ReflexDeployment
import ReflexRuntime

/// What every `reflex slurm` command takes: the resources of one array task and where the job's files go.
struct SlurmOptions: ParsableArguments {
    @Option(help: "CPUs per array task (an eval task runs this many workers unless --workers is given).") var cpus = 2
    @Option(help: "Memory per task (Slurm's spelling: 2G, 500M).") var mem = "2G"
    @Option(help: "Time limit per task (Slurm's spelling: 1:00:00).") var time = "1:00:00"
    @Option(help: "Partition.") var partition: String?
    @Option(help: "Account.") var account: String?
    @Option(help: "Array tasks running at once (--array=0-N%K).") var maxConcurrent: Int?
    @Option(help: "Directory (on the shared filesystem) for the sbatch scripts and logs.") var jobDir: String?
    @Option(help: "The reflex binary every node runs (default: this one).") var reflex: String?
    @Flag(help: "Print the scripts; submit nothing.") var dryRun = false

    var resources: SlurmResources {
        SlurmResources(cpusPerTask: cpus, memory: mem, time: time, partition: partition, account: account, maxConcurrent: maxConcurrent)
    }

    func submit(name: String, tasks: Int, taskArguments: [String], mergeArguments: [String]?, defaultDirectory: String) throws {
        let cwd = FileManager.default.currentDirectoryPath
        func absolute(_ p: String) -> String { p.hasPrefix("/") ? p : URL(fileURLWithPath: cwd).appendingPathComponent(p).standardizedFileURL.path }
        do {
            let job = try SlurmArrayJob(name: name, tasks: tasks, taskArguments: taskArguments, mergeArguments: mergeArguments,
                                        resources: resources, executable: absolute(reflex ?? SlurmArrayJob.currentExecutable()),
                                        directory: absolute(jobDir ?? defaultDirectory), workingDirectory: cwd)
            if dryRun {
                print("# \(job.directory)/\(name).sbatch\n" + job.arrayScript)
                if let m = job.mergeScript { print("# \(job.directory)/\(name)-merge.sbatch (sbatch --dependency=afterok:<array job id>)\n" + m) }
                return
            }
            let submitted = try job.submit()
            print("submitted array job \(submitted.arrayJob) (\(tasks) tasks)" + (submitted.mergeJob.map { ", merge job \($0) after it" } ?? ""))
            print("scripts and logs in \(job.directory); watch with:")
            for line in submitted.watch { print("  " + line) }
        } catch let e as ReflexError {
            throw ValidationError(e.description)
        }
    }
}

/// `reflex slurm`: evaluation runs and sweeps as Slurm array jobs.
struct SlurmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slurm",
        abstract: "Submit a sharded evaluation or a sweep as a Slurm array job, with a merge job after it.",
        discussion: "See docs/cluster.md for the scripts these write and a Kubernetes Indexed Job equivalent.",
        subcommands: [EvalJob.self, SweepJob.self])

    struct EvalJob: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "eval",
            abstract: "reflex eval as N array tasks (--shard auto/N each), then reflex eval-merge into --out.",
            discussion: "Example: reflex slurm eval --shards 4 --cpus 2 -- --policy policies/so101-lift --task lift --episodes 200 --out runs/lift.json")
        @Option(help: "Array tasks (shards).") var shards: Int
        @OptionGroup var slurm: SlurmOptions
        @Argument(parsing: .captureForPassthrough, help: "reflex eval's options (after --), --out included.") var evalArguments: [String] = []

        func run() throws {
            var arguments = evalArguments
            if arguments.first == "--" { arguments.removeFirst() }
            // --plot is the merge's: take it out of the tasks' arguments.
            var plot: String?
            if let i = arguments.firstIndex(of: "--plot"), i + 1 < arguments.count {
                plot = arguments[i + 1]
                arguments.removeSubrange(i ... i + 1)
            }
            guard shards >= 1 else { throw ValidationError("--shards must be at least 1") }
            // Parse them as reflex eval would now, so a typo fails here rather than in N tasks on the cluster.
            let eval = try Eval.parse(arguments)
            guard let out = eval.out else { throw ValidationError("give reflex eval --out: the results path on the shared filesystem") }
            guard eval.shard == nil else { throw ValidationError("reflex slurm eval sets --shard itself") }
            guard eval.record == nil else { throw ValidationError("--record is not for reflex slurm eval: every shard would write the same directory") }
            if !arguments.contains("--workers") { arguments += ["--workers", "\(slurm.cpus)"] }
            let shardFiles = try (0 ..< shards).map { EvalResults.defaultShardPath(for: out, shard: try EvaluationShard(index: $0, count: shards)) }
            let dir = URL(fileURLWithPath: out).deletingLastPathComponent().appendingPathComponent("slurm").path
            try slurm.submit(name: "reflex-eval", tasks: shards,
                             taskArguments: ["eval"] + arguments + ["--shard", "auto/\(shards)", "--quiet"],
                             mergeArguments: ["eval-merge"] + shardFiles + ["--out", out] + (plot.map { ["--plot", $0] } ?? []),
                             defaultDirectory: dir)
        }
    }

    struct SweepJob: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sweep",
            abstract: "Every task of a sweep file as one array task (reflex sweep run FILE --task auto), then reflex sweep merge.")
        @Argument(help: "Sweep file (YAML).") var file: String
        @OptionGroup var slurm: SlurmOptions

        func run() throws {
            let sweep = try SweepCommand.load(file)
            let path = file.hasPrefix("/") ? file : FileManager.default.currentDirectoryPath + "/" + file
            try slurm.submit(name: "reflex-sweep", tasks: sweep.tasks.count, taskArguments: ["sweep", "run", path, "--task", "auto"],
                             mergeArguments: ["sweep", "merge", path], defaultDirectory: sweep.directory + "/slurm")
        }
    }
}
