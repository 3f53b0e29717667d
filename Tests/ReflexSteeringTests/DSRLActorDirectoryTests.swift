import Foundation
import ReflexCore
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
        let learner = #""learner": {"actorHiddenSizes": [8], "activation": "tanh", "layerNorm": true, "logStdMin": -20, "logStdMax": 2}"#
        let cases: [(String?, String)] = [
            (nil, "run.json"),
            ("{ not json", "run.json"),
            (#"{"algo": "sac", "# + learner + "}", "not a DSRL noise actor"),
            (#"{"algo": "sac", "dsrl": {"policy": "/nonexistent/policy", "magnitude": 1.5, "ddimSteps": 10}, "# + learner + "}",
             "checkpoint"),
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
