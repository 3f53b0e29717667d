import Foundation
import ReflexCore
import ReflexDeployment
import ReflexNN
import ReflexPolicy
import ReflexRobot
import ReflexRuntime
import ReflexSim
import ReflexSteering
import Testing

/// A small saved diffusion policy with `observationSize` inputs over the SO-101's 6 joints.
func savedPolicy(observationSize: Int, actionSize: Int = 6, steering: SteeringDefaults? = nil) throws -> String {
    var config = PolicyConfig(kind: .diffusion, observationSize: observationSize, actionSize: actionSize, nObsSteps: 1, horizon: 4,
                              nActionSteps: 2,
                              normalization: .init(observation: .identity(size: observationSize), action: .identity(size: actionSize)),
                              network: .init(hiddenSizes: [16]), scheduler: NoiseScheduler.Config(), sampler: .ddim(steps: 2, eta: 0))
    config.steering = steering
    var gen = RandomGenerator(seed: 2)
    let dir = NSTemporaryDirectory() + "deployment-policy-\(UUID().uuidString)"
    try PolicyDirectory.save(config: config, network: MLP(config: PolicyDirectory.networkConfig(for: config), generator: &gen), to: dir)
    return dir
}

/// One home for the observation rule: `[positions][velocities][task features]`, features from the arm's source.
@Suite struct DeploymentTests {
    @Test func aSimulatedLiftArmFeedsItsSceneFeaturesAndRefusesPoliciesThatDoNotFit() throws {
        let d = try Deployment(config: ArmConfig(robot: "so101", sim: "lift", seed: 3))
        defer { d.robot.finalize() }
        #expect(d.robot.lifecycle == .inactive) // the daemon's default: nothing holds until an episode
        let lift = try PolicyDirectory.load(try savedPolicy(observationSize: 12 + TaskKind.lift.featureCount))
        let builder = try d.observation(for: lift.config)
        #expect(builder.size == lift.config.observationSize && builder.featureCount == 17)
        let reach = try PolicyDirectory.load(try savedPolicy(observationSize: 12 + TaskKind.reach.featureCount))
        let e = #expect(throws: ReflexError.self) { try d.observation(for: reach.config) }
        #expect(e?.message.contains("needs 10 task features") == true)
        let wide = try PolicyDirectory.load(try savedPolicy(observationSize: 12, actionSize: 5))
        #expect(throws: ReflexError.self) { try d.observation(for: wide.config) }
        let blind = try PolicyDirectory.load(try savedPolicy(observationSize: 7))
        #expect(throws: ReflexError.self) { try d.observation(for: blind.config) }
    }

    @Test func aFakeArmFeedsZerosForTaskFeatures() throws {
        let d = try Deployment(config: ArmConfig(robot: "so101", fake: true))
        let p = try PolicyDirectory.load(try savedPolicy(observationSize: 29))
        let builder = try d.observation(for: p.config)
        let state = JointState(count: 6)
        var out = [Float](repeating: .nan, count: 29)
        #expect(out.withUnsafeMutableBufferPointer { builder.build(from: state, into: $0.baseAddress!) })
        #expect(out.suffix(17).allSatisfy { $0 == 0 })
        #expect(d.taskStatus() == nil)
    }

    @Test func armConfigRefusesMeaninglessCombinations() throws {
        #expect(throws: ReflexError.self) { try ArmConfig(robot: "so101").validate() }
        #expect(throws: ReflexError.self) { try ArmConfig(robot: "so101", sim: "lift", fake: true).validate() }
        #expect(throws: ReflexError.self) { try ArmConfig(robot: "so101", sim: "juggle").validate() }
        #expect(throws: ReflexError.self) { try ArmConfig(robot: "so101", sim: "lift", camera: "/tmp/x.cam").validate() }
        #expect(throws: ReflexError.self) { try ArmConfig(robot: "so101", sim: "lift", calibration: "c.yaml").validate() }
        #expect(throws: ReflexError.self) { try ArmConfig(robot: "so101", fake: true, seed: 1).validate() }
        #expect(throws: ReflexError.self) { try ArmConfig(robot: "so101", port: "/dev/null", seed: 1).validate() }
        #expect(throws: ReflexError.self) { try ArmConfig(robot: "so101", port: "/dev/null", cameraMaxAge: 0.1).validate() }
        #expect(throws: ReflexError.self) {
            try ArmConfig(robot: "so101", port: "/dev/null", camera: "/tmp/x.cam", cameraMaxAge: 0).validate()
        }
        try ArmConfig(robot: "so101", port: "/dev/null", seed: 1, camera: "/tmp/x.cam", cameraMaxAge: 0.5).validate()
        try ArmConfig(robot: "so101", sim: "push", seed: 9).validate()
    }

    @Test func aDeploymentConfigReadsTheDaemonsFileAndLoadsPoliciesWithTheirSteering() throws {
        let policy = try savedPolicy(observationSize: 29)
        let file = NSTemporaryDirectory() + "deployment-\(UUID().uuidString).yaml"
        try """
        arm: {robot: so101, sim: lift, seed: 4}
        policies: {lift: \(policy)}
        rate: 50
        priority: 0
        listen: unix:/tmp/never.sock
        """.write(toFile: file, atomically: true, encoding: .utf8)
        // The daemon's server keys are refused by a strict read and ignored when asked.
        #expect(throws: ReflexError.self) { try DeploymentConfig.read(file) }
        let config = try DeploymentConfig.read(file, ignoringUnknownKeys: true)
        #expect(config.rate == 50 && config.arm.sim == "lift" && config.arm.seed == 4)
        let (deployment, controller) = try config.makeController()
        defer { controller.shutdown() }
        try controller.bringUp()
        #expect(controller.status().policies == ["lift"])
        #expect(deployment.taskStatus()?.kind == "lift")
        // k without a value function is refused with the reason, not dropped.
        let e = #expect(throws: ReflexError.self) {
            try controller.loadPolicy(name: "k", directory: policy, steering: SteeringDefaults(k: 5))
        }
        #expect(e?.message.contains("value function") == true)
    }
}
