import DeploymentTestSupport
import Foundation
import Testing
import ReflexCore
import ReflexHardware
@testable import ReflexDeployment

/// Episodes on a bus arm in hardware in the loop, in-process: `ArmEmulation` (what `reflex emulate --sim lift --camera`
/// runs) behind a pseudo-terminal and a camera channel, `EpisodeRunner` (what `reflex run --episodes` runs) on the
/// other side, with the bundled lift policy.
@Suite(.serialized) struct EpisodeRunnerTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// An SO-101 emulated with the Bullet arm of `lift`, its camera side running on a thread of its own until `body`
    /// ends; `faults` are armed when the first episode's scene is reset (armed up front, the run's start-up check
    /// would refuse the arm before any episode, as it should).
    func withEmulatedLift<R>(faults: [ServoFault], _ body: (ArmEmulation, ArmConfig) throws -> R) throws -> R {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("episode-runner-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let o = try EmulatedLiftArm.options(in: dir)
        let emulation = try ArmEmulation(options: o)
        let running = emulation.runInBackground { episode, _ in
            if episode == 1 { emulation.link.withEmulator { e in faults.forEach(e.inject) } }
        }
        defer { running.stop() }
        return try body(emulation, EmulatedLiftArm.arm(for: o))
    }

    func runner(_ arm: ArmConfig) throws -> EpisodeRunner {
        // Normal priority (a test must not take the CPU from the emulator's thread), short episodes, short cool-downs.
        var runner = try EpisodeRunner(arm: arm, rate: 20, priority: nil, episodeSeconds: 0.5)
        runner.refusedStartCoolDown = 0.05
        return runner
    }

    var policy: String { Self.repo.appendingPathComponent("policies/so101-lift").path }

    /// A servo reporting overheat when an episode would start: the loop refuses it (the arm holds, torque goes off,
    /// the episode counts as failed with the reason), cools down, and the next episode — the servo cooled — runs.
    @Test func aRefusedStartIsCountedAndTheNextEpisodeRuns() throws {
        let loaded = try PolicyLoader.load(directory: policy)
        let report = try withEmulatedLift(faults: [ServoFault(.overheat, id: 3, count: nil)]) { emulation, arm in
            try runner(arm).run(count: 2, firstSeed: 1000, policy: loaded, policyName: "lift", progress: { r, _ in
                // The servo cools once the first episode was refused.
                if r.index == 0 { emulation.link.withEmulator { $0.clearFaults(.overheat) } }
            })
        }
        #expect(report.episodes == 2)
        let first = report.episodeResults[0], second = report.episodeResults[1]
        let why = try #require(first.startRefused)
        #expect(why.contains("overheat"), "refusal names the fault: \(why)")
        #expect(first.ticks == 0 && !first.success)
        #expect(second.startRefused == nil)
        #expect(second.ticks > 0, "the second episode ran the loop")
        #expect(report.episodeResults.allSatisfy { $0.commandsOutsideLimits == 0 })
    }

    /// A servo that stays overheated: after `refusedStartsInARowLimit` refusals in a row the run gives up, with the
    /// reason naming the count and the fault, instead of trying forever — and returns the episodes it ran, so
    /// `reflex run --report` still writes them (then exits with the reason).
    @Test func refusalsInARowEndTheRunWithTheReason() throws {
        let loaded = try PolicyLoader.load(directory: policy)
        var heard = 0
        let report = try withEmulatedLift(faults: [ServoFault(.overheat, id: 2, count: nil)]) { _, arm in
            try runner(arm).run(count: 10, firstSeed: 1000, policy: loaded, policyName: "lift", progress: { r, _ in
                #expect(r.startRefused != nil)
                heard += 1
            })
        }
        #expect(heard == EpisodeRunner.refusedStartsInARowLimit)
        #expect(report.episodes == EpisodeRunner.refusedStartsInARowLimit && report.successes == 0)
        let why = try #require(report.stoppedEarly)
        #expect(why.contains("\(EpisodeRunner.refusedStartsInARowLimit) episodes in a row refused to start"), "\(why)")
        #expect(why.contains("overheat"), "\(why)")
    }
}
