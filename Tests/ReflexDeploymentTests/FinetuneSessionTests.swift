import Foundation
import ReflexCore
import ReflexDeployment
import ReflexRL
import ReflexSteering
import TestSupport
import Testing

/// The fine-tuning session as a library: options validated into one `run.json` type, a run that ends and resumes.
@Suite struct FinetuneSessionTests {
    @Test func optionsThatMeanNothingTogetherAreRefused() throws {
        var o = FinetuneOptions()
        o.dsrlMagnitude = 2
        #expect(throws: ReflexError.self) { try o.makeSpec() } // DSRL options without a policy
        o = FinetuneOptions()
        o.preset = "fast"
        #expect(throws: ReflexError.self) { try o.makeSpec() }
        o = FinetuneOptions()
        o.distributionalLoss = .huberRatio2025 // a DSAC-T option on SAC
        #expect(throws: ReflexError.self) { try o.makeSpec() }
        o = FinetuneOptions()
        o.criticSubset = 2 // a subset of two critics is both of them
        #expect(throws: ReflexError.self) { try o.makeSpec() }
        o = FinetuneOptions()
        (o.algo, o.critics) = (.dsacT, 4) // DSAC-T's twin distributions are two
        #expect(throws: ReflexError.self) { try o.makeSpec() }
        o = FinetuneOptions()
        (o.critics, o.criticSubset, o.gradientClip, o.targetEntropy) = (6, 3, 10, -4)
        let ensemble = try o.makeSpec().run.learner
        #expect(ensemble.criticCount == 6 && ensemble.targetSubset == 3 && ensemble.gradientClipNorm == 10 && ensemble.targetEntropy == -4)
        o = FinetuneOptions()
        o.env = "so101:juggle"
        #expect(throws: ReflexError.self) { try o.makeSpec() }
        o = FinetuneOptions()
        o.dsrlPolicy = "policies/so101-lift"
        o.env = "pendulum"
        #expect(throws: ReflexError.self) { try o.makeSpec(currentDirectory: Checkout.root) } // DSRL needs a task
        o.env = "so101:lift"
        o.algo = .dsacT
        o.dsrlVariant = .na
        #expect(throws: ReflexError.self) { try o.makeSpec(currentDirectory: Checkout.root) } // NA is SAC-based
        o.algo = nil
        let spec = try o.makeSpec(currentDirectory: Checkout.root)
        #expect(spec.learnerName == "dsrl-na" && spec.dsrl?.noiseCriticSteps == 1 && spec.dsrl?.policy.hasPrefix("/") == true)
        #expect(spec.run.trainer.warmupGaussianStd == 1 / 1.5)
        var resumed = FinetuneOptions()
        resumed.steps = 10
        #expect(resumed.setOptionsBesidesSteps.isEmpty)
        resumed.seed = 3
        #expect(resumed.setOptionsBesidesSteps == ["seed"])
    }

    /// run.json files written before the spec moved into the library read the same and write the same keys.
    @Test func runJsonKeepsItsFormat() throws {
        let old = #"""
        {"algo":"sac","dsrl":{"ddimSteps":10,"magnitude":1.5,"policy":"/p","reward":"sparse","variant":"na","noiseCriticSteps":2},
         "env":"so101:lift","learner":\#(String(decoding: try JSONEncoder().encode(DSRLSettings.learnerPreset), as: UTF8.self)),
         "seed":4,"threads":1,"trainer":\#(String(decoding: try JSONEncoder().encode(TrainerConfig(totalSteps: 50)), as: UTF8.self))}
        """#
        let spec = try JSONDecoder().decode(FinetuneSpec.self, from: Data(old.utf8))
        #expect(spec.run.seed == 4 && spec.dsrl?.learnerVariant == .na && spec.dsrl?.noiseCriticSteps == 2 && spec.run.trainer.totalSteps == 50)
        let again = try JSONSerialization.jsonObject(with: Data(try spec.encoded())) as? [String: Any]
        #expect(Set(again?.keys ?? [:].keys) == ["algo", "dsrl", "env", "learner", "seed", "threads", "trainer"])
        #expect(try JSONDecoder().decode(FinetuneSpec.self, from: Data(try spec.encoded())) == spec)
    }

    @Test func aSessionRunsEndsAndAResumedOneExtendsIt() throws {
        // The session sizes the process-wide kernel pool to its run's threads: hold the pool as other tests expect it.
        try KernelThreads.with(1) { try sessionRunsEndsAndResumes() }
    }

    func sessionRunsEndsAndResumes() throws {
        var o = FinetuneOptions()
        o.preset = "rltools"
        o.hidden = [16]
        o.steps = 300
        o.warmup = 50
        o.checkpointInterval = 100
        o.evaluationInterval = 0
        o.evaluationEpisodes = 1
        let dir = NSTemporaryDirectory() + "finetune-session-\(UUID().uuidString)"
        let outcome = try FinetuneSession.create(spec: try o.makeSpec(), path: dir).run()
        #expect(outcome.steps == 300 && outcome.stepsThisSession == 300 && outcome.finalEvaluation != nil)
        for file in ["run.json", "checkpoint.safetensors", "metrics.csv", "learning_curve.svg", "policy.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/" + file), "\(file)")
        }
        // A second create in the same directory is refused; a resume may only move the budget.
        #expect(throws: ReflexError.self) { try FinetuneSession.create(spec: try o.makeSpec(), path: dir) }
        let more = try FinetuneSession.resume(path: dir, steps: 400).run()
        #expect(more.steps == 400 && more.stepsThisSession == 100)
        #expect(try FinetuneSpec.read(directory: RunDirectory(path: dir)).run.trainer.totalSteps == 400)
    }

    @Test func keepingTheBestEvaluationSelectsItsWeightsAndSurvivesAResume() throws {
        try KernelThreads.with(1) { try bestEvaluationIsKept() }
    }

    func bestEvaluationIsKept() throws {
        var o = FinetuneOptions()
        o.preset = "rltools"
        o.hidden = [16]
        o.steps = 1200
        o.warmup = 100
        o.checkpointInterval = 200
        o.evaluationInterval = 0
        o.evaluationEpisodes = 1
        o.keep = .bestEvaluation
        #expect(throws: ReflexError.self) { try o.makeSpec() } // nothing to select from
        o.evaluationInterval = 100
        let whole = NSTemporaryDirectory() + "finetune-best-\(UUID().uuidString)"
        let outcome = try FinetuneSession.create(spec: try o.makeSpec(), path: whole).run()
        let selected = try #require(outcome.selectedEvaluation)
        // The best of the curve (Pendulum has no success predicate: the highest mean return, the earliest on a tie).
        let csv = try String(contentsOfFile: whole + "/metrics.csv", encoding: .utf8)
        let evaluations = csv.split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
            .filter { $0[2] != "" }.map { (step: Int($0[0])!, meanReturn: Double($0[2])!) }
        #expect(evaluations.count == 12)
        let best = evaluations.max { $0.meanReturn < $1.meanReturn || ($0.meanReturn == $1.meanReturn && $0.step > $1.step) }!
        #expect(selected.step == best.step && selected.meanReturn == best.meanReturn)
        let kept = try SafetensorsFile(path: whole + "/policy.safetensors")
        #expect(kept.metadata["selected_step"] == String(best.step))
        let last = try SafetensorsFile(path: whole + "/policy-last.safetensors")
        #expect(last.metadata["selected_step"] == nil)
        #expect(try readFile(whole + "/policy.safetensors") == readFile(whole + "/policy-best.safetensors"))
        if best.step != 1200 {
            #expect(try kept.tensor(kept.entries[0].name).scalars != last.tensor(kept.entries[0].name).scalars)
        }
        // Ended early and resumed, the run keeps the same policy.
        var first = o
        first.steps = 600 // an episode boundary (Pendulum: 200 steps), where the uninterrupted run checkpoints too
        let split = NSTemporaryDirectory() + "finetune-best-split-\(UUID().uuidString)"
        _ = try FinetuneSession.create(spec: try first.makeSpec(), path: split).run()
        let resumed = try FinetuneSession.resume(path: split, steps: 1200).run()
        #expect(resumed.selectedEvaluation == selected)
        #expect(try readFile(split + "/policy.safetensors") == readFile(whole + "/policy.safetensors"))
    }
}
