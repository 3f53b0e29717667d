import ReflexCore
import ReflexRobot
import Testing

@testable import ReflexSim

/// Hardware in the loop computes the end-effector features from the joints read over the bus (forward kinematics)
/// instead of reading Bullet's link pose: the two must agree, quaternion sign included, or the policy sees a
/// different observation through the bus than in simulation.
@Suite struct EndEffectorKinematicsTests {
    @Test func forwardKinematicsMatchesBulletsLinkPoseWithItsQuaternionSign() throws {
        let robot = try RobotDescription.load(path: so101Path)
        let env = try SimTask.make(robot: robot, task: "lift")
        let chain = try KinematicChain(robot: robot)
        guard let ee = robot.model.linkIndex(robot.endEffectorLink) else {
            Issue.record("no end-effector link")
            return
        }
        var gen = RandomGenerator(seed: 11)
        var flips = 0
        for trial in 0 ..< 200 {
            // The home pose first (gripper straight down: w ≈ 0), then random poses inside the limits.
            let q = trial == 0 ? robot.home : robot.joints.map { gen.uniform($0.lower, $0.upper) }
            var urdf = [Double](repeating: 0, count: robot.model.joints.count)
            for (i, j) in robot.joints.enumerated() { urdf[j.urdfIndex] = q[i] }
            env.world.resetJoints(body: env.arm, positions: urdf)
            var p = [0.0, 0, 0], b = [0.0, 0, 0, 1]
            env.world.linkPose(body: env.arm, link: ee - 1, position: &p, quaternion: &b)
            let tip = chain.forward(q)
            let r = tip.rotation.bulletQuaternion
            // Reached: 1.7e-16 m and 6.7e-16 over 200 poses; ten times that.
            #expect(abs(tip.translation.x - p[0]) < 2e-15 && abs(tip.translation.y - p[1]) < 2e-15
                && abs(tip.translation.z - p[2]) < 2e-15, "trial \(trial): position")
            #expect(abs(r.x - b[0]) < 7e-15 && abs(r.y - b[1]) < 7e-15 && abs(r.z - b[2]) < 7e-15 && abs(r.w - b[3]) < 7e-15,
                    "trial \(trial): \(r) vs Bullet \(b)")
            let w = tip.rotation.quaternion
            if abs(w.x - b[0]) + abs(w.y - b[1]) + abs(w.z - b[2]) + abs(w.w - b[3]) > 1e-6 { flips += 1 }
        }
        #expect(flips > 0, "the w ≥ 0 convention differs from Bullet's somewhere (else this test shows nothing)")
    }
}
