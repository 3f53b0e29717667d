#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ReflexCore
import Testing

@testable import ReflexRL

@Suite struct CheckpointTests {
    static func makeTrainer(seed: UInt64, steps: Int = 1000) throws -> OffPolicyTrainer<Pendulum> {
        var gen = RandomGenerator(seed: seed)
        var config = OffPolicyConfig.rltools
        config.actorHiddenSizes = [16, 16]
        config.criticHiddenSizes = [16, 16]
        config.batchSize = 16
        config.policyDelay = 2
        let learner = try DSACT(observationSize: 3, actionSize: 1, config: config, generator: &gen)
        return try OffPolicyTrainer(environment: Pendulum(), evaluationEnvironment: Pendulum(), learner: learner,
                                    config: TrainerConfig(totalSteps: steps, warmupSteps: 50, evaluationInterval: 200,
                                                          evaluationEpisodes: 1),
                                    seed: seed)
    }

    static func runUntilBoundary(_ t: OffPolicyTrainer<Pendulum>, after step: Int) {
        while t.step < step || !t.atEpisodeBoundary { t.advance() }
    }

    static func tensors(_ path: String) throws -> [String: [UInt8]] {
        let f = try SafetensorsFile(path: path)
        var out: [String: [UInt8]] = [:]
        for e in f.entries { out[e.name] = try f.rawBytes(e.name) }
        return out
    }

    @Test func resumingInAFreshProcessStateContinuesBitForBit() throws {
        let dir = RunDirectory(path: NSTemporaryDirectory() + "ckpt-\(UUID().uuidString)")
        try dir.create()
        let straight = try CheckpointTests.makeTrainer(seed: 5)
        while !straight.finished { straight.advance() }

        let first = try CheckpointTests.makeTrainer(seed: 5)
        CheckpointTests.runUntilBoundary(first, after: 400)
        try dir.saveCheckpoint(first)
        let resumed = try CheckpointTests.makeTrainer(seed: 5)
        try RunDirectory.loadCheckpoint(dir.latestCheckpoint, into: resumed)
        #expect(resumed.step == 400 && resumed.buffer.count == 400)
        while !resumed.finished { resumed.advance() }
        #expect(resumed.learner.policy.network.parameters.scalars == straight.learner.policy.network.parameters.scalars)
        #expect((resumed.learner as! DSACT).meanStd == (straight.learner as! DSACT).meanStd)
        #expect(resumed.evaluations == straight.evaluations)
        #expect(resumed.generator.state == straight.generator.state)
    }

    @Test func corruptOrTruncatedCheckpointIsRefusedAndThePreviousKept() throws {
        let dir = RunDirectory(path: NSTemporaryDirectory() + "ckpt-\(UUID().uuidString)")
        try dir.create()
        let t = try CheckpointTests.makeTrainer(seed: 6)
        CheckpointTests.runUntilBoundary(t, after: 200)
        try dir.saveCheckpoint(t)
        CheckpointTests.runUntilBoundary(t, after: 400)
        try dir.saveCheckpoint(t)
        let good = try Data(contentsOf: URL(fileURLWithPath: dir.latestCheckpoint))
        let previous = try Data(contentsOf: URL(fileURLWithPath: dir.previousCheckpoint))

        // One flipped bit in the data section.
        var flipped = good
        flipped[flipped.count - 5] ^= 0x10
        try flipped.write(to: URL(fileURLWithPath: dir.latestCheckpoint))
        let target = try CheckpointTests.makeTrainer(seed: 6)
        let before = target.learner.policy.network.parameters.scalars
        do {
            try RunDirectory.loadCheckpoint(dir.latestCheckpoint, into: target)
            Issue.record("a checkpoint with a flipped bit was accepted")
        } catch let e as ReflexError {
            #expect(e.code == .checkpointCorrupt)
            #expect(e.description.contains("checksum"))
        }
        // Truncated mid-file.
        try good.prefix(good.count / 2).write(to: URL(fileURLWithPath: dir.latestCheckpoint))
        do {
            try RunDirectory.loadCheckpoint(dir.latestCheckpoint, into: target)
            Issue.record("a truncated checkpoint was accepted")
        } catch let e as ReflexError {
            #expect(e.code == .checkpointCorrupt)
            #expect(e.location.file == dir.latestCheckpoint)
        }
        #expect(target.step == 0 && target.learner.policy.network.parameters.scalars == before, "a refused load changed the trainer")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.previousCheckpoint)) == previous)
        try RunDirectory.loadCheckpoint(dir.previousCheckpoint, into: target)
        #expect(target.step == 200)
    }

    @Test func aRunDirectoryWithoutCheckpointsSaysSo() throws {
        let dir = RunDirectory(path: NSTemporaryDirectory() + "ckpt-\(UUID().uuidString)")
        #expect(throws: ReflexError.self) { try dir.resumableCheckpoint() }
    }
}

/// The `reflex` executable next to the test bundle (built by `swift build --build-tests`).
func reflexExecutable() -> String? {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("reflex").path,
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/release/reflex").path,
    ]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}

@Suite struct FinetuneProcessTests {
    func finetune(_ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try #require(reflexExecutable(), "build the reflex executable first"))
        p.arguments = ["finetune"] + args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// A `reflex finetune` child killed with SIGKILL at a random moment and resumed ends with the same weights,
    /// optimizer moments, replay buffer and generator as an uninterrupted run with the same seed.
    @Test func sigkilledRunResumesToTheSameWeights() throws {
        try expectSigkillResume(["--algo", "sac", "--preset", "rltools", "--hidden", "32,32", "--steps", "4000", "--seed", "9",
                                 "--checkpoint-every", "200", "--eval-every", "1000", "--eval-episodes", "2", "--threads", "1", "--quiet"],
                                totalSteps: 4000)
    }

    /// The same for a DSRL session steering the bundled lift policy (latent-noise actions, the frozen policy inside the
    /// environment). Then `reflex eval --dsrl` deploys the actor: from the finished run's policy.safetensors, and from the
    /// resumed run's checkpoint alone — the same weights, so the same episodes.
    @Test func sigkilledDSRLRunResumesToTheSameWeights() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let policy = repo.appendingPathComponent("policies/so101-lift").path
        let base = try expectSigkillResume(
            ["--env", "so101:lift", "--dsrl", policy, "--dsrl-ddim-steps", "2", "--hidden", "32,32", "--batch", "32",
             "--steps", "240", "--warmup", "40", "--seed", "4", "--checkpoint-every", "30", "--eval-every", "0",
             "--eval-episodes", "1", "--threads", "1", "--quiet"], totalSteps: 240)
        try FileManager.default.removeItem(atPath: base + "-b/policy.safetensors")
        var results: [String] = []
        for run in [base + "-a", base + "-b"] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: try #require(reflexExecutable()))
            p.arguments = ["eval", "--policy", policy, "--dsrl", run, "--episodes", "2", "--workers", "1", "--quiet",
                           "--out", run + "/eval.json"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
            let json = String(decoding: try Data(contentsOf: URL(fileURLWithPath: run + "/eval.json")), as: UTF8.self)
            #expect(json.contains("ddim:2") && json.contains("+dsrl"), "\(json.prefix(300))")
            results.append(json.components(separatedBy: "\n").filter { $0.contains("\"success") || $0.contains("mean_return") }.joined())
        }
        #expect(results[0] == results[1] && !results[0].isEmpty)
        // A finished run is extended by resuming it with a larger budget (only --steps may change).
        let extended = try finetune(["--resume", base + "-a", "--steps", "270"])
        extended.waitUntilExit()
        #expect(extended.terminationStatus == 0)
        #expect(try SafetensorsFile(path: base + "-a/checkpoint.safetensors").metadata["trainer.step"] == "270")
        let refused = try finetune(["--resume", base + "-a", "--seed", "5"])
        refused.waitUntilExit()
        #expect(refused.terminationStatus != 0)
    }

    /// Runs `args` straight to the end in BASE-a, and SIGKILLed then resumed in BASE-b; every tensor and the generator
    /// must agree. Returns BASE.
    @discardableResult
    func expectSigkillResume(_ args: [String], totalSteps: Int) throws -> String {
        let base = NSTemporaryDirectory() + "finetune-\(UUID().uuidString)"
        let straight = try finetune(args + ["--out", base + "-a"])
        straight.waitUntilExit()
        #expect(straight.terminationStatus == 0)

        let victim = try finetune(args + ["--out", base + "-b"])
        let latest = base + "-b/checkpoint.safetensors"
        var waited = 0
        while !FileManager.default.fileExists(atPath: latest) && victim.isRunning && waited < 30_000 {
            usleep(2000)
            waited += 2
        }
        var g = SystemRandomNumberGenerator()
        usleep(UInt32.random(in: 0 ..< 250_000, using: &g))
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        #expect(victim.terminationReason == .uncaughtSignal, "the child finished before it could be killed")
        let killedAt = try SafetensorsFile(path: try RunDirectory(path: base + "-b").resumableCheckpoint()).metadata["trainer.step"]
        #expect(killedAt != String(totalSteps))

        let resumed = try finetune(["--resume", base + "-b"])
        resumed.waitUntilExit()
        #expect(resumed.terminationStatus == 0)
        let a = try CheckpointTests.tensors(base + "-a/checkpoint.safetensors")
        let b = try CheckpointTests.tensors(base + "-b/checkpoint.safetensors")
        #expect(a.keys.sorted() == b.keys.sorted())
        #expect(a.count > 20)
        for (name, bytes) in a { #expect(b[name] == bytes, "\(name) differs after resume") }
        let ma = try SafetensorsFile(path: base + "-a/checkpoint.safetensors").metadata
        let mb = try SafetensorsFile(path: base + "-b/checkpoint.safetensors").metadata
        #expect(ma["trainer.generator"] == mb["trainer.generator"] && ma["trainer.evaluations"] == mb["trainer.evaluations"])
        return base
    }

    @Test func resumeRefusesACorruptCheckpointWithAClearError() throws {
        let base = NSTemporaryDirectory() + "finetune-\(UUID().uuidString)"
        let run = try finetune(["--steps", "600", "--preset", "rltools", "--hidden", "16", "--checkpoint-every", "200",
                                "--eval-every", "0", "--eval-episodes", "1", "--quiet", "--out", base])
        run.waitUntilExit()
        let path = base + "/checkpoint.safetensors"
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        try good.prefix(good.count - 100).write(to: URL(fileURLWithPath: path))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try #require(reflexExecutable()))
        p.arguments = ["finetune", "--resume", base]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus != 0)
        #expect(text.contains("damaged or truncated") && text.contains("checkpoint.prev.safetensors"), "\(text)")
        #expect(FileManager.default.fileExists(atPath: base + "/checkpoint.prev.safetensors"))
    }
}
