import AllocationCounter
import ReflexCore
import ReflexRobot
import Testing

@testable import ReflexSim

@Suite struct VectorEnvironmentTests {
    @Test func threadsGiveTheSameResultsAsOneByOne() throws {
        let robot = try RobotDescription.load(path: so101Path)
        let count = 4
        let vector = try VectorEnvironment(count: count, threads: 2) { _ in try SimTask.make(robot: robot, task: "push") }
        let serial = try VectorEnvironment(count: count, threads: 1) { _ in try SimTask.make(robot: robot, task: "push") }
        // And by hand, one environment at a time.
        let single: [ArmTaskEnvironment] = try (0 ..< count).map { _ in try SimTask.make(robot: robot, task: "push") }
        let o = vector.observationSize, a = vector.actionSize
        var singleObs = Array(repeating: [Float](repeating: 0, count: o), count: count)
        vector.reset(seed: 100)
        serial.reset(seed: 100)
        for i in 0 ..< count { single[i].reset(seed: 100 + UInt64(i), observation: &singleObs[i]) }
        var gen = RandomGenerator(seed: 1)
        var actions = [Float](repeating: 0, count: count * a)
        for step in 0 ..< 30 {
            for i in 0 ..< count {
                for j in 0 ..< a { actions[i * a + j] = Float(robot.home[j] + gen.uniform(-0.3, 0.3)) }
            }
            vector.step(actions)
            serial.step(actions)
            for i in 0 ..< count {
                let out = single[i].step(Array(actions[i * a ..< (i + 1) * a]), observation: &singleObs[i])
                #expect(out == vector.outcomes[i], "step \(step) env \(i)")
                #expect(Array(vector.observations[i * o ..< (i + 1) * o]).map(\.bitPattern) == singleObs[i].map(\.bitPattern))
            }
            #expect(vector.observations.map(\.bitPattern) == serial.observations.map(\.bitPattern))
        }
        // Stepping allocates nothing.
        vector.step(actions)
        let before = rx_thread_allocation_count()
        for _ in 0 ..< 5 { vector.step(actions) }
        #expect(rx_thread_allocation_count() - before == 0)
    }
}
