import Foundation
import ReflexCore
import ReflexPolicy
import ReflexRuntime
import Testing

@testable import ReflexDeployment

/// `reflex eval --shard I/N` and `reflex eval-merge`: the shards of a run merge into the unsharded run's files.
@Suite struct EvalShardsTests {
    /// A short run of the bundled policy (lift, DDIM 4 steps: fast; the outcome is not the point).
    static func makeRun(seed: UInt64 = 7, episodes: Int = 12) throws -> EvalRun {
        try EvalRun(policy: Checkout.policy, robot: "so101", task: "lift", sampler: try SamplerSpec(parsing: "ddim:4"),
                    seed: seed, episodes: episodes)
    }

    static func tempDir() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reflex-shards-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func threeShardsMergeIntoTheUnshardedRunApartFromTimings() throws {
        let run = try Self.makeRun()
        let whole = run.results(try run.run(workers: 2))
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var paths: [String] = []
        for i in [2, 0, 1] { // any order
            let shard = try EvaluationShard(index: i, count: 3)
            let report = try run.run(workers: 1, shard: shard)
            #expect(report.episodeResults.map(\.index) == Array(stride(from: i, to: 12, by: 3)))
            let path = dir + "/s\(i).json"
            try run.shardFile(report, shard: shard).write(to: path)
            paths.append(path)
        }
        let merged = try EvalShardFile.merge(paths: paths)
        // Exactly equal bytes once the wall times are zeroed; the plot has no timings at all.
        #expect(try merged.withoutTimings().encoded() == whole.withoutTimings().encoded())
        #expect(merged.successPlot().svg() == whole.successPlot().svg())
        #expect(merged.report.episodeResults.map(\.inferenceMicros.count) == whole.report.episodeResults.map(\.inferenceMicros.count))
        // The timing keys are all the file's wall times: zeroing them changes nothing else.
        let text = String(decoding: try whole.encoded(), as: UTF8.self)
        for key in EvalResults.timingKeys { #expect(text.contains("\"\(key)\"")) }
    }

    @Test func shardSpecsAreParsedOrRefused() throws {
        #expect(try EvaluationShard(parsing: "2/4") == EvaluationShard(index: 2, count: 4))
        #expect(try EvaluationShard(parsing: "0/1") == EvaluationShard(index: 0, count: 1))
        #expect(try EvaluationShard(parsing: "auto/4", environment: ["SLURM_ARRAY_TASK_ID": "3"]) == EvaluationShard(index: 3, count: 4))
        #expect(try EvaluationShard(parsing: "auto/4", environment: ["JOB_COMPLETION_INDEX": "1"]) == EvaluationShard(index: 1, count: 4))
        for (bad, why) in [("4/4", "0..<4"), ("-1/4", "0..<4"), ("0/0", "at least 1"), ("1", "one '/'"), ("a/3", "not an integer"),
                           ("1/b", "not an integer"), ("1/2/3", "one '/'"), ("auto/2", "SLURM_ARRAY_TASK_ID")] {
            let e = #expect(throws: ReflexError.self) { try EvaluationShard(parsing: bad, environment: [:]) }
            #expect(e?.message.contains(why) == true, "\(bad): \(e?.message ?? "")")
        }
        #expect(try EvaluationShard(index: 1, count: 4).description == "1/4")
    }

    @Test func mergeRefusesShardsThatDoNotMakeOneRun() throws {
        let run = try Self.makeRun(episodes: 4)
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func shard(_ i: Int, _ n: Int, of r: EvalRun = run) throws -> (path: String, file: EvalShardFile) {
            let s = try EvaluationShard(index: i, count: n)
            let path = dir + "/\(r.identity.seed)-\(i)-\(n).json"
            let file = r.shardFile(try r.run(workers: 1, shard: s), shard: s)
            try file.write(to: path)
            return (path, try EvalShardFile.read(path))
        }
        let s0 = try shard(0, 2), s1 = try shard(1, 2)
        #expect(try EvalShardFile.merge([s1, s0]).report.episodes == 4)
        func refusal(_ shards: [(path: String, file: EvalShardFile)]) -> String {
            let e = #expect(throws: ReflexError.self) { try EvalShardFile.merge(shards) }
            #expect(e?.code == .shardMismatch)
            return e?.description ?? ""
        }
        #expect(refusal([s0]).contains("missing shard 1/2"))
        #expect(refusal([s0, s1, s0]).contains("given twice"))
        #expect(refusal([]).contains("no shard files"))
        let other = try shard(1, 2, of: try Self.makeRun(seed: 8, episodes: 4))
        #expect(refusal([s0, other]).contains("seed 8 vs 7"))
        #expect(refusal([s0, try shard(1, 3)]).contains("one of 2 shards"))
        // A shard run under another delay or execution strategy is another run.
        let delayed = try EvalRun(policy: Checkout.policy, robot: "so101", task: "lift", sampler: try SamplerSpec(parsing: "ddim:4"),
                                  seed: 7, episodes: 4, delay: 2)
        #expect(delayed.identity.execution == "naive" && delayed.identity.label == "ddim:4 naive D=2")
        #expect(refusal([s0, try shard(1, 2, of: delayed)]).contains("delay 2 vs 0"))
        var edited = s1
        edited.file.identity.weightsDigest = "0"
        #expect(refusal([s0, edited]).contains("weights_digest"))
        var truncated = s1
        truncated.file.episodeResults.removeLast()
        #expect(refusal([s0, truncated]).contains("not shard 1/2's"))
        var outOfRange = s1
        outOfRange.file.shard.index = 5
        #expect(refusal([s0, outOfRange]).contains("not in 0..<2"))
        var zero = s0
        zero.file.shard.count = -1
        #expect(refusal([zero]).contains("at least 1"))
        try writeFileAtomically(Array("{}".utf8), to: dir + "/junk.json")
        #expect(throws: ReflexError.self) { try EvalShardFile.merge(paths: [s0.path, dir + "/junk.json"]) }
    }
}

extension EvalShardsTests {
    /// The lift policy on the reach task would read past the task's shorter observation: refused up front.
    @Test func aPolicyOfAnotherObservationSizeIsRefused() throws {
        let e = #expect(throws: ReflexError.self) {
            try EvalRun(policy: Checkout.policy, robot: "so101", task: "reach", seed: 0, episodes: 1)
        }
        #expect(e?.code == .shapeMismatch)
    }
}

extension EvalShardsTests {
    /// The identity's digest follows the configs and weights, not the results written beside them.
    @Test func theWeightsDigestFollowsConfigsAndWeightsOnly() throws {
        let dir = try Self.tempDir() + "/policy"
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: dir).deletingLastPathComponent().path) }
        try FileManager.default.copyItem(atPath: Checkout.policy, toPath: dir)
        let before = try EvalRunIdentity.digest(of: [dir])
        try writeFileAtomically(Array("{}".utf8), to: dir + "/eval-lift-ddim_4.json")
        try writeFileAtomically(Array("{}".utf8), to: dir + "/eval-lift-ddim_4.shard-0-of-2.json")
        try writeFileAtomically(Array("<svg/>".utf8), to: dir + "/eval-lift-ddim_4.svg")
        #expect(try EvalRunIdentity.digest(of: [dir]) == before)
        var yaml = try readFile(dir + "/policy.yaml")
        yaml += Array("# edited\n".utf8)
        try writeFileAtomically(yaml, to: dir + "/policy.yaml")
        #expect(try EvalRunIdentity.digest(of: [dir]) != before)
    }
}
