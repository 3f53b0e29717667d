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
    static let evalArguments = ["--policy", "policies/so101-lift", "--robot", "so101", "--task", "lift", "--episodes", "16",
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
