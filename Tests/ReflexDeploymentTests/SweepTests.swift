import Foundation
import ReflexCore
import Testing
import TestSupport

@testable import ReflexDeployment

/// Sweep files: settings × seeds expanded into numbered tasks; a fine-tuning task killed mid-run resumes to the
/// weights an uninterrupted run ends with.
@Suite struct SweepTests {
    static let text = """
        out: runs/s
        seeds: [1, 2]
        settings:
          - name: sac
            command: finetune
            options: {env: pendulum, preset: rltools, hidden: "16", steps: 300, threads: 1, eval_episodes: 1}
          - name: ddim4
            command: eval
            shards: 2
            seeds: [5]
            options: {policy: policies/so101-lift, task: reach, sampler: "ddim:4", episodes: 8, quiet: true}
          - name: iql
            command: train-value
            options: {policy: policies/so101-lift, data: [d1, d2], steps: 10}
        """

    @Test func settingsTimesSeedsExpandIntoNumberedTasks() throws {
        let s = try Sweep(text: Self.text, file: "sweep.yaml")
        #expect(s.tasks.map(\.name) == ["sac-seed1", "sac-seed2", "ddim4-seed5-shard-0-of-2", "ddim4-seed5-shard-1-of-2",
                                        "iql-seed1", "iql-seed2"])
        #expect(s.tasks.map(\.index) == Array(0 ..< 6))
        #expect(s.tasks[0].output == "runs/s/sac-seed1")
        #expect(s.tasks[3].output == "runs/s/ddim4-seed5.shard-1-of-2.json")
        #expect(s.tasks[0].options == ["--env", "pendulum", "--preset", "rltools", "--hidden", "16", "--steps", "300", "--threads", "1",
                                       "--eval-episodes", "1"])
        #expect(s.tasks[2].options.contains("--quiet") && !s.tasks[2].options.contains("true"))
        #expect(s.tasks[4].options.suffix(5) == ["--data", "d1", "d2", "--steps", "10"])
        #expect(s.merges.count == 1 && s.merges[0].out == "runs/s/ddim4-seed5.json"
                && s.merges[0].shards == ["runs/s/ddim4-seed5.shard-0-of-2.json", "runs/s/ddim4-seed5.shard-1-of-2.json"])
        #expect(throws: ReflexError.self) { try s.task(6) }
        #expect(try Sweep.taskIndex(parsing: "auto", environment: ["SLURM_ARRAY_TASK_ID": "4"]) == 4)
        #expect(try Sweep.taskIndex(parsing: "auto", environment: ["JOB_COMPLETION_INDEX": "2"]) == 2)
        #expect(throws: ReflexError.self) { try Sweep.taskIndex(parsing: "auto", environment: [:]) }
    }

    @Test func badSweepFilesAreRefusedWithTheReason() throws {
        func refusal(_ text: String) -> String {
            let e = #expect(throws: ReflexError.self) { try Sweep(text: text, file: "s.yaml") }
            return e?.description ?? ""
        }
        let setting = "settings:\n  - {name: a, command: finetune, options: {steps: 10}}\n"
        #expect(refusal("seeds: [1]\n" + setting).contains("out"))
        #expect(refusal("out: o\n" + setting).contains("no seeds"))
        #expect(refusal("out: o\nseeds: [1, 1]\n" + setting).contains("each once"))
        #expect(refusal("out: o\nseeds: [1]\nsettings:\n  - {name: a, command: fly}\n").contains("command is one of"))
        #expect(refusal("out: o\nseeds: [1]\nsettings:\n  - {name: a, command: eval, options: {seed: 3}}\n").contains("sets --seed itself"))
        #expect(refusal("out: o\nseeds: [1]\nsettings:\n  - {name: a, command: eval}\n  - {name: a, command: eval}\n").contains("used twice"))
        #expect(refusal("out: o\nseeds: [1]\nsettings:\n  - {name: a, command: finetune, shards: 2}\n").contains("only an eval"))
        #expect(refusal("out: o\nseeds: [1]\nsetings: []\n").contains("unknown key"))
        #expect(refusal("out: o\nseeds: [1]\nsettings:\n  - {name: a/b, command: eval}\n").contains("name"))
    }

    /// A one-task sweep: a short SAC run on the pendulum, checkpointing every 200 steps.
    static func sweepFile(_ name: String, in root: String) throws -> String {
        let path = root + "/\(name).yaml"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try writeFileAtomically(Array("""
            out: \(root)/\(name)
            seeds: [3]
            settings:
              - name: sac
                command: finetune
                options: {env: pendulum, preset: rltools, hidden: "16", steps: 3000, warmup: 100, checkpoint-every: 200, eval-every: 0, eval-episodes: 1, threads: 1}
            """.utf8), to: path)
        return path
    }

    /// `reflex sweep run` of a fine-tuning task, SIGKILLed after its first checkpoint and run again (what a
    /// requeue does), ends with the same policy weights, byte for byte, as the same task run once.
    @Test func aKilledFinetuneTaskResumesToTheSameWeights() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("reflex-sweep-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let reflex = Checkout.buildDirectory + "/reflex"
        let once = try runProcess(reflex, ["sweep", "run", try Self.sweepFile("once", in: root), "--task", "0"])
        try #require(once.status == 0, "\(once.stderr)")

        // Killed once a checkpoint past the first is on disk (mid-run), then run again as a requeue would.
        let killed = try Self.sweepFile("killed", in: root)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: reflex)
        p.arguments = ["sweep", "run", killed, "--task", "0"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let checkpoint = root + "/killed/sac-seed3/checkpoint.prev.safetensors"
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: checkpoint), p.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        let wasRunning = p.isRunning
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(wasRunning, "the run ended before it could be killed mid-run; give it more steps")
        #expect(!FileManager.default.fileExists(atPath: root + "/killed/sac-seed3/policy.safetensors"))
        let again = try runProcess(reflex, ["sweep", "run", killed, "--task", "0"])
        try #require(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("finetune --resume"))
        #expect(try readFile(root + "/killed/sac-seed3/policy.safetensors") == readFile(root + "/once/sac-seed3/policy.safetensors"))
        let status = try Sweep.load(killed).status()
        #expect(status.count == 1 && status[0].done && status[0].result.hasPrefix("step 3000: eval return"), "\(status[0].result)")
    }

    /// SIGTERM (what Slurm sends before SIGKILL on preemption or requeue) makes the task checkpoint at the next
    /// episode end and exit 143; run again, it ends with the uninterrupted run's weights.
    @Test func aTerminatedFinetuneTaskCheckpointsAndResumes() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("reflex-sweep-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let reflex = Checkout.buildDirectory + "/reflex"
        let once = try runProcess(reflex, ["sweep", "run", try Self.sweepFile("once", in: root), "--task", "0"])
        try #require(once.status == 0, "\(once.stderr)")
        let termed = try Self.sweepFile("termed", in: root)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: reflex)
        p.arguments = ["sweep", "run", termed, "--task", "0"]
        let err = Pipe()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        let run = root + "/termed/sac-seed3"
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: run + "/checkpoint.safetensors"), p.isRunning, Date() < deadline {
            Thread.sleep(forTimeInterval: 0.005)
        }
        kill(p.processIdentifier, SIGTERM)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 143, "\(stderr)")
        #expect(stderr.contains("stopped on request at step"))
        #expect(!FileManager.default.fileExists(atPath: run + "/policy.safetensors"))
        let again = try runProcess(reflex, ["sweep", "run", termed, "--task", "0"])
        try #require(again.status == 0, "\(again.stderr)")
        #expect(try readFile(run + "/policy.safetensors") == readFile(root + "/once/sac-seed3/policy.safetensors"))
    }
}
