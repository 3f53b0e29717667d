import AllocationCounter
import Foundation
import ReflexCore
import ReflexRobot
import Testing

@testable import ReflexSim

let so101Path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path + "/robots/so101.yaml"

@Suite struct ArmTaskTests {
    let robot: RobotDescription
    init() throws { robot = try RobotDescription.load(path: so101Path) }

    @Test func observationAndActionSpacesNameEveryValue() throws {
        let lift = try SimTask.make(robot: robot, task: "lift")
        let names = try #require(lift.observationSpace.names)
        #expect(names.count == lift.observationSpace.size)
        #expect(names.prefix(2) == ["shoulder_pan.pos", "shoulder_lift.pos"])
        #expect(names.contains("cube.z") && names.contains("goal.z") && names.contains("ee.qw") && names.contains("gripper.vel"))
        #expect(lift.actionSpace.names == robot.jointNames.map { "\($0).pos" })
        #expect(lift.actionSpace.low == robot.lowerLimits.map { Float($0) })
        let reach = try SimTask.make(robot: robot, task: "reach")
        #expect(!(reach.observationSpace.names ?? []).contains("cube.x"))
        #expect(throws: ReflexError.self) { try SimTask.make(robot: robot, task: "stack") }
        #expect(throws: ReflexError.self) { try SimTask.make(robot: robot, task: "lift", controlHz: 7) }
        #expect(try SimTask.parse("so101:push").task == .push)
    }

    @Test func kinematicsMatchesBulletLinkPoses() throws {
        let env = try SimTask.make(robot: robot, task: "reach")
        let chain = try KinematicChain(robot: robot)
        var gen = RandomGenerator(seed: 3)
        let world = BulletWorld()
        let body = try world.addMultiBody(robot.model)
        let ee = try #require(robot.model.linkIndex(robot.endEffectorLink)) - 1
        for _ in 0 ..< 10 {
            let q = robot.joints.map { gen.uniform($0.lower, $0.upper) }
            var all = [Double](repeating: 0, count: world.linkCount(body: body))
            for (k, j) in robot.joints.enumerated() { all[j.urdfIndex] = q[k] }
            world.resetJoints(body: body, positions: all)
            let bullet = world.linkTransform(body: body, link: ee)
            let fk = chain.forward(q)
            // Reached 1.3e-16 m and 1.1e-15 rad; ten times that.
            #expect((bullet.translation - fk.translation).norm < 2e-15)
            #expect((bullet.rotation * fk.rotation.transposed).rotationVector.norm < 1.1e-14)
        }
        _ = env
    }

    @Test(arguments: TaskKind.allCases)
    func expertSucceeds(_ kind: TaskKind) throws {
        let env = try SimTask.make(robot: robot, task: kind.rawValue)
        let expert = try SimTask.expert(for: env)
        var successes = 0
        let episodes = 12
        for k in 0 ..< episodes {
            let e = DemonstrationCollector.run(env: env, expert: expert, seed: 1000 + UInt64(k))
            if e.success { successes += 1 }
            #expect(e.length <= env.maxEpisodeSteps)
        }
        #expect(successes >= episodes - 1, "\(kind): \(successes)/\(episodes)")
    }

    @Test func sameSeedSameEpisodeBitForBit() throws {
        let env = try SimTask.make(robot: robot, task: "lift")
        let expert = try SimTask.expert(for: env)
        let a = DemonstrationCollector.run(env: env, expert: expert, seed: 42)
        _ = DemonstrationCollector.run(env: env, expert: expert, seed: 43)
        let b = DemonstrationCollector.run(env: env, expert: expert, seed: 42)
        let other = try SimTask.make(robot: robot, task: "lift")
        let c = DemonstrationCollector.run(env: other, expert: try SimTask.expert(for: other), seed: 42)
        for x in [b, c] {
            #expect(a.length == x.length)
            #expect(a.observations.map(\.bitPattern) == x.observations.map(\.bitPattern))
            #expect(a.actions.map(\.bitPattern) == x.actions.map(\.bitPattern))
            #expect(a.rewards.map(\.bitPattern) == x.rewards.map(\.bitPattern))
        }
        let d = DemonstrationCollector.run(env: env, expert: expert, seed: 43)
        #expect(a.observations != d.observations)
    }

    @Test func sparseRewardIsOneOnlyOnSuccess() throws {
        let env = try SimTask.make(robot: robot, task: "reach", sparseReward: true)
        let e = DemonstrationCollector.run(env: env, expert: try SimTask.expert(for: env), seed: 5)
        #expect(e.success)
        #expect(e.rewards.dropLast().allSatisfy { $0 == 0 })
        #expect(e.rewards.last == 1)
    }

    @Test func stepAllocatesNothing() throws {
        #expect(rx_allocation_counter_active() == 1)
        let env = try SimTask.make(robot: robot, task: "lift")
        var obs = [Float](repeating: 0, count: env.observationSpace.size)
        env.reset(seed: 1, observation: &obs)
        let action = robot.home.map { Float($0) }
        for _ in 0 ..< 100 { _ = env.step(action, observation: &obs) } // contact pairs and solver arrays settle
        let before = rx_thread_allocation_count()
        for _ in 0 ..< 50 { _ = env.step(action, observation: &obs) }
        #expect(rx_thread_allocation_count() - before == 0)
    }

    @Test func collectWritesTheDocumentedFormat() throws {
        let dir = NSTemporaryDirectory() + "reflex-collect-\(UUID().uuidString)"
        let episodes = try DemonstrationCollector.collect(robot: robot, task: .reach, episodes: 4, seed: 10, workers: 2)
        #expect(episodes.map(\.seed) == [10, 11, 12, 13])
        let env = try SimTask.make(robot: robot, task: "reach")
        try DemonstrationCollector.write(episodes, robot: "so101", task: .reach, controlHz: 20,
                                         observationNames: env.observationSpace.names ?? [],
                                         actionNames: env.actionSpace.names ?? [], to: dir)
        let file = try SafetensorsFile(path: dir + "/demos.safetensors")
        let n = episodes.reduce(0) { $0 + $1.length }
        #expect(file.entry("observations")?.shape == [n, env.observationSpace.size])
        #expect(file.entry("actions")?.shape == [n, env.actionSpace.size])
        #expect(file.entry("rewards")?.shape == [n])
        #expect(file.entry("observations")?.dtype == .f32)
        let obs = try file.tensor("observations")
        #expect(obs.data[0] == episodes[0].observations[0])
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/meta.json"))) as? [String: Any]
        #expect(meta?["format"] as? String == "reflex-demonstrations")
        #expect(meta?["version"] as? Int == 1)
        #expect(meta?["task"] as? String == "reach")
        #expect(meta?["control_hz"] as? Int == 20)
        #expect((meta?["observation_names"] as? [String])?.count == env.observationSpace.size)
        let eps = meta?["episodes"] as? [[String: Any]]
        #expect(eps?.map { $0["length"] as? Int } == episodes.map(\.length))
        #expect(eps?.map { $0["seed"] as? Int } == [10, 11, 12, 13])
    }
}
