import Foundation
import ReflexCore

extension ReflexError.Code {
    /// sbatch is missing or refused a job.
    public static let slurm = Self("slurm")
}

/// What each array task asks Slurm for.
public struct SlurmResources: Sendable, Equatable {
    public var cpusPerTask: Int
    /// Memory per node, Slurm's spelling ("2G", "500M").
    public var memory: String
    /// Time limit, Slurm's spelling ("1:00:00", "30").
    public var time: String
    public var partition: String?
    public var account: String?
    /// Tasks of the array that run at once (`--array=0-N%K`); nil: as many as Slurm gives.
    public var maxConcurrent: Int?

    public init(cpusPerTask: Int = 2, memory: String = "2G", time: String = "1:00:00", partition: String? = nil,
                account: String? = nil, maxConcurrent: Int? = nil) {
        self.cpusPerTask = cpusPerTask
        self.memory = memory
        self.time = time
        self.partition = partition
        self.account = account
        self.maxConcurrent = maxConcurrent
    }
}

/// An sbatch array job (one task per shard or sweep point, requeueable) and the merge job that runs after it,
/// written as scripts under a directory on the shared filesystem and submitted with `sbatch --parsable`.
public struct SlurmArrayJob: Sendable {
    public var name: String
    public var tasks: Int
    /// The `reflex` arguments of every task; `$REFLEX_TASK` in them is the task's index (SLURM_ARRAY_TASK_ID).
    public var taskArguments: [String]
    /// The `reflex` arguments of the merge job (nil: no merge job).
    public var mergeArguments: [String]?
    public var resources: SlurmResources
    /// Absolute path of the `reflex` binary, as every node sees it.
    public var executable: String
    /// Absolute directory the scripts and logs go to (shared by all nodes).
    public var directory: String
    /// Absolute working directory of the tasks (relative paths in the arguments are resolved against it).
    public var workingDirectory: String

    public init(name: String, tasks: Int, taskArguments: [String], mergeArguments: [String]?, resources: SlurmResources,
                executable: String, directory: String, workingDirectory: String) throws {
        guard tasks >= 1 else { throw ReflexError(.invalidArgument, "an array job needs at least one task, got \(tasks)") }
        guard executable.hasPrefix("/"), directory.hasPrefix("/"), workingDirectory.hasPrefix("/") else {
            throw ReflexError(.invalidArgument, "the reflex binary, the job directory and the working directory must be absolute paths (every node resolves them)")
        }
        guard resources.cpusPerTask >= 1 else { throw ReflexError(.invalidArgument, "cpus per task must be at least 1") }
        self.name = name
        self.tasks = tasks
        self.taskArguments = taskArguments
        self.mergeArguments = mergeArguments
        self.resources = resources
        self.executable = executable
        self.directory = directory
        self.workingDirectory = workingDirectory
    }

    /// The path of the running executable (where `reflex slurm` finds the binary its tasks run).
    public static func currentExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    }

    /// Single-quoted for bash, except `$REFLEX_TASK`, which the script sets.
    static func quote(_ word: String) -> String {
        if word == "$REFLEX_TASK" { return "\"$REFLEX_TASK\"" }
        let safe = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./:=,+@%".contains($0) }
        return safe && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    func header(_ jobName: String, array: Bool) -> [String] {
        let r = resources
        var lines = ["#!/bin/bash", "#SBATCH --job-name=\(jobName)"]
        if array { lines.append("#SBATCH --array=0-\(tasks - 1)" + (r.maxConcurrent.map { "%\($0)" } ?? "")) }
        // Requeued (preempted, node failure, scontrol requeue) tasks run again; a task's work is idempotent:
        // shards rewrite their file, fine-tuning resumes from its checkpoint.
        lines += ["#SBATCH --requeue", "#SBATCH --ntasks=1", "#SBATCH --cpus-per-task=\(array ? r.cpusPerTask : 1)",
                  "#SBATCH --mem=\(r.memory)", "#SBATCH --time=\(r.time)", "#SBATCH --chdir=\(workingDirectory)",
                  // %A the array's job id, %a the task; appended so a requeued task's log keeps the first attempt.
                  "#SBATCH --output=\(directory)/logs/\(array ? "%x-%A_%a" : "%x-%j").out", "#SBATCH --open-mode=append"]
        if let p = r.partition { lines.append("#SBATCH --partition=\(p)") }
        if let a = r.account { lines.append("#SBATCH --account=\(a)") }
        return lines
    }

    /// The array job's script.
    public var arrayScript: String {
        (header(name, array: true) + [
            "set -euo pipefail",
            "REFLEX_TASK=\"${SLURM_ARRAY_TASK_ID:?not a Slurm array task}\"",
            "echo \"reflex task $REFLEX_TASK of \(tasks) on $(hostname) (job ${SLURM_JOB_ID}, restart ${SLURM_RESTART_COUNT:-0})\"",
            "exec " + ([executable] + taskArguments).map(Self.quote).joined(separator: " "),
        ]).joined(separator: "\n") + "\n"
    }

    /// The merge job's script (run after every array task succeeded).
    public var mergeScript: String? {
        guard let mergeArguments else { return nil }
        return (header(name + "-merge", array: false) + [
            "set -euo pipefail",
            "exec " + ([executable] + mergeArguments).map(Self.quote).joined(separator: " "),
        ]).joined(separator: "\n") + "\n"
    }

    /// The job ids sbatch gave, and the commands that watch them.
    public struct Submitted: Sendable {
        public var arrayJob: String
        public var mergeJob: String?
        public var watch: [String] {
            let ids = ([arrayJob] + (mergeJob.map { [$0] } ?? [])).joined(separator: ",")
            return ["squeue -j \(ids)", "sacct -j \(ids) --format=JobID,JobName,State,ExitCode,Elapsed,NodeList"]
        }
    }

    /// Writes the scripts under `directory` and submits them: the array, then the merge job with
    /// `--dependency=afterok:<array>` (it runs only if every task succeeded).
    public func submit(sbatch: String? = nil) throws -> Submitted {
        let sbatchPath = try sbatch ?? Self.findSbatch()
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory + "/logs", withIntermediateDirectories: true)
        let arrayPath = directory + "/\(name).sbatch"
        try writeFileAtomically(Array(arrayScript.utf8), to: arrayPath)
        let arrayJob = try Self.run(sbatchPath, ["--parsable", arrayPath])
        var mergeJob: String?
        if let mergeScript {
            let mergePath = directory + "/\(name)-merge.sbatch"
            try writeFileAtomically(Array(mergeScript.utf8), to: mergePath)
            mergeJob = try Self.run(sbatchPath, ["--parsable", "--dependency=afterok:\(arrayJob)", "--kill-on-invalid-dep=yes", mergePath])
        }
        return Submitted(arrayJob: arrayJob, mergeJob: mergeJob)
    }

    /// sbatch on PATH, or a refusal that says so.
    public static func findSbatch(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        for dir in (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/sbatch"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw ReflexError(.slurm, "sbatch is not on PATH: run this on a Slurm login node (or install slurm-client); --dry-run prints the scripts without submitting")
    }

    /// Runs sbatch; returns the job id (`--parsable` prints "id" or "id;cluster").
    static func run(_ sbatch: String, _ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: sbatch)
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch {
            throw ReflexError(.slurm, "cannot run \(sbatch): \(error)")
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard p.terminationStatus == 0 else {
            throw ReflexError(.slurm, "sbatch \(arguments.joined(separator: " ")) failed (exit \(p.terminationStatus)): "
                              + String(decoding: stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let id = text.split(separator: ";").first.map(String.init) ?? ""
        guard !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw ReflexError(.slurm, "sbatch --parsable printed '\(text)', not a job id")
        }
        return id
    }
}
