import Foundation
import ReflexCore
import ReflexPolicy
import Testing

private func scratch() throws -> String {
    let path = NSTemporaryDirectory() + "reflex-demos-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

private let metadata = Demonstrations.Metadata(robot: "pointmass", task: "reach", controlHz: 10,
                                               observationNames: ["x", "y", "gx", "gy"], actionNames: ["dx", "dy", "gripper"])

@Suite struct DemonstrationsFileTests {
    @Test func roundTripKeepsEveryEpisode() throws {
        var demos = try PointMass.demonstrations(episodes: 5, seed: 3)
        for i in demos.episodes.indices {
            demos.episodes[i].rewards = (0 ..< demos.episodes[i].length).map { Float($0) * 0.5 }
            demos.episodes[i].seed = UInt64(100 + i)
        }
        demos.episodes[2].success = false
        let dir = try scratch()
        try demos.save(to: dir, metadata: metadata)
        let (back, meta) = try Demonstrations.load(directory: dir)
        #expect(meta == metadata)
        #expect(back.episodes.count == 5)
        for (a, b) in zip(demos.episodes, back.episodes) {
            #expect(a.observations == b.observations && a.actions == b.actions && a.rewards == b.rewards)
            #expect(a.length == b.length && a.success == b.success && a.seed == b.seed)
        }
    }

    @Test func inconsistentFilesAreClearErrors() throws {
        let demos = try PointMass.demonstrations(episodes: 3, seed: 4)
        let dir = try scratch()
        try demos.save(to: dir, metadata: metadata)
        let metaPath = dir + "/meta.json"
        let good = try String(contentsOfFile: metaPath, encoding: .utf8)
        func expectError(_ meta: String, _ code: ReflexError.Code, mentioning text: String) {
            try? meta.write(toFile: metaPath, atomically: true, encoding: .utf8)
            do {
                _ = try Demonstrations.load(directory: dir)
                Issue.record("loaded a bad file: \(meta.prefix(80))")
            } catch let e as ReflexError {
                #expect(e.code == code, "\(e)")
                #expect(e.description.contains(text), "\(e)")
            } catch { Issue.record("unexpected \(error)") }
        }
        // One episode longer than recorded.
        let firstLength = demos.episodes[0].length
        expectError(good.replacingOccurrences(of: "\"length\":\(firstLength),", with: "\"length\":\(firstLength + 1000),"),
                    .invalidValue, mentioning: "episodes[0].length")
        expectError(good.replacingOccurrences(of: "reflex-demonstrations", with: "something-else"), .invalidValue, mentioning: "format")
        expectError(good.replacingOccurrences(of: ",\"gy\"", with: ""), .shapeMismatch, mentioning: "demos.safetensors")
        expectError(String(good.prefix(good.count / 2)), .invalidJSON, mentioning: "meta.json")
        try FileManager.default.removeItem(atPath: metaPath)
        #expect(throws: ReflexError.self) { _ = try Demonstrations.load(directory: dir) }
    }
}

@Suite struct TrainingResumeTests {
    /// A run checkpointed and resumed in a fresh trainer ends with exactly the weights of an uninterrupted run.
    @Test func resumedTrainingMatchesAnUninterruptedRun() throws {
        let demos = try PointMass.demonstrations(episodes: 6, seed: 9)
        var config = try pointMassConfig(kind: .diffusion)
        config.network.hiddenSizes = [64, 64]
        let training = TrainingConfig(steps: 40, batchSize: 16, warmupSteps: 5, seed: 7)
        let straight = try PolicyTrainer(config: config, data: demos, training: training)
        for _ in 0 ..< 40 { straight.trainStep() }

        let dir = try scratch()
        let first = try PolicyTrainer(config: config, data: demos, training: training)
        for _ in 0 ..< 23 { first.trainStep() }
        try first.checkpoint(to: dir)
        let second = try PolicyTrainer(config: config, data: demos, training: training)
        try second.restore(from: dir)
        #expect(second.step == 23)
        while second.step < 40 { second.trainStep() }
        #expect(second.network.parameters.scalars == straight.network.parameters.scalars)
        #expect(second.deployedNetwork.parameters.scalars == straight.deployedNetwork.parameters.scalars)

        // A state for another architecture is refused, naming the tensor.
        config.network.hiddenSizes = [32, 32]
        let other = try PolicyTrainer(config: config, data: demos, training: training)
        #expect(throws: ReflexError.self) { try other.restore(from: dir) }
    }
}
