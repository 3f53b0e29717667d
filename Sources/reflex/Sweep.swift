import ArgumentParser
import Foundation
import ReflexCore
import ReflexDeployment
import ReflexRuntime

/// `reflex sweep`: settings × seeds of eval, finetune and train-value, as numbered tasks.
struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Expand a sweep file (settings × seeds) into numbered tasks, run one, merge sharded evaluations.",
        discussion: """
        The sweep file (YAML): out (the directory tasks write to), seeds, and settings, each {name, command (eval,
        finetune or train-value), options (the command's options, without --seed/--out), optional seeds, and shards
        for an eval}. See docs/cluster.md. `reflex slurm sweep FILE` submits every task as one Slurm array.
        """,
        subcommands: [Expand.self, RunTask.self, Merge.self])

    struct Expand: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the sweep's tasks, numbered.")
        @Argument(help: "Sweep file (YAML).") var file: String

        func run() throws {
            let sweep = try SweepCommand.load(file)
            print(table(["task", "name", "command"], sweep.tasks.map { t in
                [String(t.index), t.name, ([t.command] + t.options + ["--seed", "\(t.seed)"]
                    + (t.shard.map { ["--shard", $0.description] } ?? []) + ["→", t.output]).joined(separator: " ")]
            }))
            print("\(sweep.tasks.count) tasks; run one with: reflex sweep run \(file) --task I")
        }
    }

    struct RunTask: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Run one task of the sweep (a fine-tuning task resumes from its checkpoint when it has one).")
        @Argument(help: "Sweep file (YAML).") var file: String
        @Option(help: "Task index, or auto (SLURM_ARRAY_TASK_ID, else JOB_COMPLETION_INDEX).") var task: String

        func run() throws {
            let sweep = try SweepCommand.load(file)
            let arguments: [String]
            do {
                arguments = try sweep.arguments(task: try Sweep.taskIndex(parsing: task))
            } catch let e as ReflexError {
                throw ValidationError(e.description)
            }
            print("reflex " + arguments.joined(separator: " "))
            var command = try Reflex.parseAsRoot(arguments)
            try command.run()
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Merge the sweep's sharded evaluations (after every task finished) and print every task's result.")
        @Argument(help: "Sweep file (YAML).") var file: String

        func run() throws {
            let sweep = try SweepCommand.load(file)
            let merged: [(out: String, results: EvalResults)]
            do { merged = try sweep.mergeShards() } catch let e as ReflexError { throw ValidationError(e.description) }
            for m in merged { print(Eval.summary(m.results) + "\nwrote \(m.out)") }
            let status = sweep.status()
            print(table(["task", "name", "state", "result"], status.map { s in
                [String(s.task.index), s.task.name, s.done ? "done" : "not done", s.result]
            }))
            print("merged \(merged.count) sharded evaluation\(merged.count == 1 ? "" : "s"); "
                  + "\(status.filter(\.done).count) of \(sweep.tasks.count) tasks done")
        }
    }

    static func load(_ file: String) throws -> Sweep {
        do { return try Sweep.load(file) } catch let e as ReflexError { throw ValidationError(e.description) }
    }
}
