import Foundation
import ReflexCore
import ReflexDeployment
import ReflexRobot
import ReflexSim
import Testing

/// The real-time scene and the task environment judge the same episode by the same test.
@Suite struct SimSceneTests {
    @Test(arguments: TaskKind.allCases)
    func sceneStartsWhereTheTaskStartsAndReportsItsFeatures(_ task: TaskKind) throws {
        let description = try RobotDescription.named("so101")
        let env = try SimTask.make(robot: description, task: task.rawValue)
        var observation = [Float](repeating: 0, count: env.observationSpace.size)
        env.reset(seed: 17, observation: &observation)
        let deployment = try Deployment(config: ArmConfig(robot: "so101", sim: task.rawValue, seed: 17), holdAtStart: true)
        defer { deployment.robot.finalize() }
        let scene = try #require(deployment.scene)
        #expect(scene.featureCount == task.featureCount)
        #expect(deployment.featureCount == env.observationSpace.size - 2 * description.joints.count)
        var features = [Float](repeating: .nan, count: scene.featureCount)
        let ok = features.withUnsafeMutableBufferPointer { scene.features($0) }
        #expect(ok)
        // The features are the environment's observation after the joints, to float precision (the same world).
        let tail = Array(observation.suffix(scene.featureCount))
        for (a, b) in zip(features, tail) { #expect(abs(a - b) < 1e-6) }
        #expect(!scene.success)
    }
}
