import Foundation
import ReflexCore
import Testing
import TestSupport

@testable import ReflexDeployment

/// A real single-node Slurm cluster (scripts/slurm-local.sh: munged, slurmctld, slurmd under a temporary
/// directory): `reflex slurm eval` submits an array job and its merge job; the merged files equal a local
/// `reflex eval` of the same command apart from timings. Skipped without Debian's slurm-wlm and munge, a failure
/// with CI set.
@Suite(.serialized) struct SlurmClusterTests {
    static let available = ["/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged", "/usr/bin/sbatch", "/usr/bin/scontrol"]
        .allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }

    /// A running cluster; `stop()` ends the daemons it started, by their pids.
    struct Cluster {
        let directory: String
        var environment: [String: String] { ["SLURM_CONF": directory + "/slurm.conf"] }

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("reflex-slurm-\(UUID().uuidString.prefix(8))").path
            let r = try runProcess(Checkout.root + "/scripts/slurm-local.sh", ["start", directory])
            try #require(r.status == 0, "slurm-local.sh start: \(r.stderr)")
        }

        func stop() {
            _ = try? runProcess(Checkout.root + "/scripts/slurm-local.sh", ["stop", directory])
            try? FileManager.default.removeItem(atPath: directory)
        }

        /// A job's state (COMPLETED, FAILED, PENDING, …) from scontrol (finished jobs stay for MinJobAge).
        func state(_ job: String) throws -> String {
            let r = try runProcess("/usr/bin/scontrol", ["show", "job", job, "-o"], environment: environment)
            return r.stdout.split(separator: " ").first { $0.hasPrefix("JobState=") }.map { String($0.dropFirst(9)) } ?? "UNKNOWN"
        }

        /// Waits until `job` ends (at most `seconds`); returns its last state.
        func wait(_ job: String, seconds: Double = 120) throws -> String {
            let end = Date().addingTimeInterval(seconds)
            var s = try state(job)
            while ["PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "UNKNOWN"].contains(s), Date() < end {
                Thread.sleep(forTimeInterval: 0.25)
                s = try state(job)
            }
            return s
        }
    }

    static let reflex = Checkout.buildDirectory + "/reflex"
    static let evalArguments = ["--policy", "policies/so101-lift", "--robot", "so101", "--task", "lift", "--episodes", "200",
                                "--sampler", "ddim:4", "--seed", "11", "--workers", "1"]

    static func results(_ path: String) throws -> [UInt8] {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(EvalResults.self, from: Data(try readFile(path))).withoutTimings().encoded()
    }

    @Test(.enabled(if: TestPeers.runs(available), Comment(rawValue: TestPeers.skipReason("Slurm (apt-get install slurm-wlm munge)"))))
    func fourArrayTasksMergeIntoTheLocalRun() throws {
        try #require(Self.available, Comment(rawValue: TestPeers.missing("slurm-wlm and munge (/usr/sbin/slurmctld, slurmd, munged)")))
        let cluster = try Cluster()
        defer { cluster.stop() }
        let out = cluster.directory + "/out"
        let submit = try runProcess(Self.reflex, ["slurm", "eval", "--shards", "4", "--cpus", "1", "--mem", "500M", "--time", "5",
                                                  "--", "--out", out + "/eval.json"] + Self.evalArguments,
                                    environment: cluster.environment)
        try #require(submit.status == 0, "reflex slurm eval: \(submit.stderr)")
        // "submitted array job 1 (4 tasks), merge job 2 after it"
        let words = submit.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "," }).map(String.init)
        let arrayJob = try #require(words.firstIndex(of: "job").map { words[$0 + 1] })
        let mergeJob = try #require(words.firstIndex(of: "merge").map { words[$0 + 2] })
        #expect(submit.stdout.contains("squeue -j \(arrayJob),\(mergeJob)"))
        let state = try cluster.wait(mergeJob)
        let logs = (try? FileManager.default.contentsOfDirectory(atPath: out + "/slurm/logs")) ?? []
        let logText = logs.compactMap { try? String(contentsOfFile: out + "/slurm/logs/" + $0, encoding: .utf8) }.joined(separator: "\n")
        try #require(state == "COMPLETED", "merge job \(mergeJob) ended \(state); logs:\n\(logText)")
        for i in 0 ..< 4 { #expect(FileManager.default.fileExists(atPath: out + "/eval.shard-\(i)-of-4.json")) }

        let local = try runProcess(Self.reflex, ["eval", "--quiet", "--out", cluster.directory + "/local.json"] + Self.evalArguments)
        try #require(local.status == 0, "reflex eval: \(local.stderr)")
        #expect(try Self.results(out + "/eval.json") == Self.results(cluster.directory + "/local.json"))
        #expect(try readFile(out + "/eval.svg") == readFile(cluster.directory + "/local.svg"))
    }

    /// A sweep of 2 settings × 2 seeds of a short `reflex finetune` on the cluster; one task is requeued
    /// (`scontrol requeue`: SIGTERM, then the task runs again) after its second checkpoint. Every task ends with the
    /// weights, byte for byte, of the same task run once locally.
    @Test(.enabled(if: TestPeers.runs(available), Comment(rawValue: TestPeers.skipReason("Slurm (apt-get install slurm-wlm munge)"))))
    func aRequeuedSweepTaskEndsWithTheUninterruptedWeights() throws {
        try #require(Self.available, Comment(rawValue: TestPeers.missing("slurm-wlm and munge (/usr/sbin/slurmctld, slurmd, munged)")))
        let cluster = try Cluster()
        defer { cluster.stop() }
        func sweepFile(_ name: String) throws -> String {
            let path = cluster.directory + "/\(name).yaml"
            try writeFileAtomically(Array("""
                out: \(cluster.directory)/\(name)
                seeds: [1, 2]
                settings:
                  - name: lr1e-3
                    command: finetune
                    options: {env: pendulum, preset: rltools, hidden: "16", steps: 6000, warmup: 100, checkpoint-every: 400, eval-every: 0, eval-episodes: 1, threads: 1}
                  - name: lr3e-4
                    command: finetune
                    options: {env: pendulum, preset: rltools, hidden: "16", lr: 3e-4, steps: 6000, warmup: 100, checkpoint-every: 400, eval-every: 0, eval-episodes: 1, threads: 1}
                """.utf8), to: path)
            return path
        }
        let onCluster = try sweepFile("cluster")
        let submit = try runProcess(Self.reflex, ["slurm", "sweep", onCluster, "--cpus", "1", "--mem", "500M", "--time", "5"],
                                    environment: cluster.environment)
        try #require(submit.status == 0, "reflex slurm sweep: \(submit.stderr)")
        let words = submit.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "," }).map(String.init)
        let arrayJob = try #require(words.firstIndex(of: "job").map { words[$0 + 1] })
        let mergeJob = try #require(words.firstIndex(of: "merge").map { words[$0 + 2] })
        // Task 1 mid-run: a second checkpoint is on disk and the task has not finished.
        let run1 = cluster.directory + "/cluster/lr1e-3-seed2"
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: run1 + "/checkpoint.prev.safetensors"), Date() < deadline {
            Thread.sleep(forTimeInterval: 0.005)
        }
        let requeue = try runProcess("/usr/bin/scontrol", ["requeue", "\(arrayJob)_1"], environment: cluster.environment)
        #expect(requeue.status == 0, "scontrol requeue: \(requeue.stderr)")
        #expect(!FileManager.default.fileExists(atPath: run1 + "/policy.safetensors"), "task 1 finished before the requeue; give it more steps")
        // Slurm holds a requeued job for two minutes (its EligibleTime, set once the killed attempt has completed);
        // a preempted one would wait its turn too. Release it as soon as it is pending again.
        let release = Date().addingTimeInterval(30)
        while try cluster.state("\(arrayJob)_1") != "PENDING", Date() < release { Thread.sleep(forTimeInterval: 0.1) }
        let update = try runProcess("/usr/bin/scontrol", ["update", "JobId=\(arrayJob)_1", "StartTime=now"], environment: cluster.environment)
        #expect(update.status == 0, "scontrol update StartTime=now: \(update.stderr)")
        let state = try cluster.wait(mergeJob, seconds: 180)
        let log = (try? String(contentsOfFile: cluster.directory + "/cluster/slurm/logs/reflex-sweep-\(arrayJob)_1.out", encoding: .utf8)) ?? ""
        try #require(state == "COMPLETED", "merge job \(mergeJob) ended \(state); task 1's log:\n\(log)")
        #expect(log.contains("restart 1") && log.contains("finetune --resume"), "task 1 was not requeued and resumed:\n\(log)")

        let local = try sweepFile("local")
        let sweep = try Sweep.load(local)
        for task in sweep.tasks {
            let r = try runProcess(Self.reflex, ["sweep", "run", local, "--task", "\(task.index)"])
            try #require(r.status == 0, "\(r.stderr)")
            let name = URL(fileURLWithPath: task.output).lastPathComponent
            #expect(try readFile(cluster.directory + "/cluster/\(name)/policy.safetensors") == readFile(task.output + "/policy.safetensors"),
                    "\(name)")
        }
    }

    @Test func aMissingSbatchIsRefused() throws {
        let e = #expect(throws: ReflexError.self) { try SlurmArrayJob.findSbatch(environment: ["PATH": "/nonexistent"]) }
        #expect(e?.code == .slurm)
        #expect(e?.message.contains("sbatch is not on PATH") == true)
        let r = try runProcess(Self.reflex, ["slurm", "eval", "--shards", "2", "--", "--out", "/tmp/x.json"] + Self.evalArguments,
                               environment: ["PATH": "/nonexistent"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("sbatch is not on PATH"))
    }

    @Test func dryRunPrintsTheArrayAndMergeScripts() throws {
        let r = try runProcess(Self.reflex, ["slurm", "eval", "--shards", "3", "--cpus", "4", "--mem", "3G", "--time", "0:30:00", "--dry-run",
                                             "--", "--out", "runs/lift.json"] + Self.evalArguments)
        try #require(r.status == 0, "\(r.stderr)")
        for line in ["#SBATCH --array=0-2", "#SBATCH --requeue", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=3G",
                     "#SBATCH --time=0:30:00", "#SBATCH --chdir=\(Checkout.root)", "--shard auto/3",
                     "eval-merge runs/lift.shard-0-of-3.json runs/lift.shard-1-of-3.json runs/lift.shard-2-of-3.json --out runs/lift.json",
                     "exec \(Self.reflex) eval"] {
            #expect(r.stdout.contains(line), "\(line)")
        }
        // A typo in reflex eval's options fails here, not in N tasks on the cluster.
        let bad = try runProcess(Self.reflex, ["slurm", "eval", "--shards", "3", "--dry-run", "--", "--out", "x.json", "--episdoes", "3"])
        #expect(bad.status != 0)
    }
}
