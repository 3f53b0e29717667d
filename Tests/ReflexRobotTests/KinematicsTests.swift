import Foundation
import ReflexCore
import Testing

@testable import ReflexRobot

@Suite struct KinematicsTests {
    let robot: RobotDescription
    let chain: KinematicChain

    init() throws {
        robot = try RobotDescription.load(path: so101Path)
        chain = try KinematicChain(robot: robot)
    }

    func randomPose(_ gen: inout RandomGenerator) -> [Double] {
        robot.joints.map { gen.uniform(0.8 * $0.lower, 0.8 * $0.upper) }
    }

    @Test func homeGripperPointsDown() {
        let t = chain.forward(robot.home)
        #expect(t.rotation.columnZ.z < -0.99)
        #expect(t.translation.x > 0.1 && t.translation.z > 0.05)
    }

    @Test func jacobianMatchesFiniteDifferences() {
        var gen = RandomGenerator(seed: 7)
        let n = robot.joints.count
        for _ in 0 ..< 10 {
            let q = randomPose(&gen)
            let J = chain.jacobian(q)
            let t0 = chain.forward(q)
            let h = 1e-6
            for c in 0 ..< n {
                var qp = q, qm = q
                qp[c] += h
                qm[c] -= h
                let tp = chain.forward(qp), tm = chain.forward(qm)
                let dp = (1 / (2 * h)) * (tp.translation - tm.translation)
                // Angular velocity from dR · Rᵀ.
                let w = (1 / (2 * h)) * (tp.rotation * tm.rotation.transposed).rotationVector
                for r in 0 ..< 3 {
                    #expect(abs(J[r * n + c] - dp[r]) < 1e-6)
                    #expect(abs(J[(r + 3) * n + c] - w[r]) < 1e-6)
                }
            }
            // The gripper joint is not on the chain to the grasp centre.
            for r in 0 ..< 6 { #expect(J[r * n + 5] == 0) }
            _ = t0
        }
    }

    @Test func inverseReachesPosesFromForward() {
        var gen = RandomGenerator(seed: 11)
        var solved = 0
        for _ in 0 ..< 20 {
            let truth = randomPose(&gen)
            let target = chain.forward(truth)
            var seed = truth
            for i in 0 ..< 5 { seed[i] += gen.uniform(-0.2, 0.2) }
            let r = chain.inverse(target: target, seed: seed, orientationWeight: 0.5, iterations: 200)
            for (k, j) in robot.joints.enumerated() { #expect(r.q[k] >= j.lower && r.q[k] <= j.upper) }
            if r.positionError < 1e-4 && r.orientationError < 1e-3 { solved += 1 }
        }
        #expect(solved >= 18)
    }

    @Test func inverseRespectsJointLimits() {
        // A point far out of reach: the solution stays inside the limits and points at it.
        let r = chain.inverse(target: Transform3(translation: Vector3(1.0, 0, 0.1)), seed: robot.home, orientationWeight: 0)
        for (k, j) in robot.joints.enumerated() { #expect(r.q[k] >= j.lower && r.q[k] <= j.upper) }
        #expect(r.positionError > 0.5)
    }
}
