import Foundation
import ReflexCore
import ReflexRL
import ReflexSteering
import Testing

/// Reading a DSRL run back refuses, with the file named, what is not a DSRL run (its happy path — finished and
/// checkpoint-only runs deployed by `reflex eval --dsrl` — is in FinetuneProcessTests).
@Suite struct DSRLActorDirectoryTests {
    func runDirectory(_ runJSON: String?) throws -> String {
        let dir = NSTemporaryDirectory() + "dsrl-actor-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if let runJSON { try Data(runJSON.utf8).write(to: URL(fileURLWithPath: dir + "/run.json")) }
        return dir
    }

    @Test func refusesWhatIsNotADSRLRun() throws {
        var learner = DSRLSettings.learnerPreset
        learner.actorHiddenSizes = [8]
        let joints = FinetuneSpec(run: TrainingRunSpec(algo: .sac, env: "so101:lift", seed: 0, threads: 1, learner: learner,
                                                       trainer: TrainerConfig()))
        var missingPolicy = joints
        missingPolicy.dsrl = DSRLSettings(policy: "/nonexistent/policy", magnitude: 1.5, ddimSteps: 10)
        var badMagnitude = missingPolicy
        badMagnitude.dsrl?.magnitude = -1
        func text(_ spec: FinetuneSpec) throws -> String { String(decoding: try spec.encoded(), as: UTF8.self) }
        let cases: [(String?, String)] = [
            (nil, "run.json"),
            ("{ not json", "run.json"),
            (#"{"algo": "sac"}"#, "not a fine-tuning run.json"),
            (try text(joints), "not a DSRL noise actor"),
            (try text(badMagnitude), "dsrl.magnitude"),
            (try text(missingPolicy), "checkpoint"),
        ]
        for (json, expected) in cases {
            let dir = try runDirectory(json)
            do {
                _ = try DSRLActorDirectory(path: dir)
                Issue.record("accepted \(json ?? "no run.json")")
            } catch let e as ReflexError {
                #expect(e.description.contains(expected), "\(e.description)")
            }
        }
    }
}
