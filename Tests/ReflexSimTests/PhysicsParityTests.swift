import Foundation
import ReflexCore
import ReflexRobot
import Testing

@testable import ReflexSim

/// Reflex's Bullet world against pybullet's on the SO-101: trajectories recorded by
/// Tests/Fixtures/make_pybullet_fixture.py (same URDF, dt, gravity, damping, torques and PD targets).
@Suite struct PhysicsParityTests {
    struct Fixture: Decodable {
        struct Run: Decodable {
            var holdSteps: Int
            var inputs: [[Double]]
            var positions: [[Double]]
            var kp: Double?
            var kd: Double?
            var forces: [Double]?
        }

        var dt: Double
        var steps: Int
        var gravity: Double
        var keepEvery: Int
        var joints: [String]
        var initial: [Double]
        var torque: Run
        var position: Run
    }

    static let fixtureURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/pybullet_so101.json")

    func load() throws -> (Fixture, URDFModel) {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let fixture = try decoder.decode(Fixture.self, from: Data(contentsOf: Self.fixtureURL))
        let model = try URDFParser.load(path: URL(fileURLWithPath: so101Path).deletingLastPathComponent().path + "/so101.urdf")
        return (fixture, model)
    }

    /// Largest joint-position difference (rad) over the kept steps.
    func maxError(_ control: JointTrace.Control, _ run: Fixture.Run, _ f: Fixture, _ model: URDFModel) throws -> Double {
        var trace = JointTrace(control: control)
        trace.dt = f.dt
        trace.gravity = f.gravity
        if let kp = run.kp { trace.kp = kp }
        if let kd = run.kd { trace.kd = kd }
        trace.maxForces = run.forces
        let inputs = (0 ..< f.steps).map { run.inputs[min($0 / run.holdSteps, run.inputs.count - 1)] }
        let out = try trace.run(model: model, inputs: inputs, steps: f.steps, initial: f.initial)
        var kept: [Int] = stride(from: f.keepEvery - 1, to: f.steps, by: f.keepEvery).map { $0 }
        if kept.last != f.steps - 1 { kept.append(f.steps - 1) }
        #expect(kept.count == run.positions.count)
        var worst = 0.0
        for (k, t) in kept.enumerated() {
            for j in 0 ..< f.joints.count { worst = max(worst, abs(out[t][j] - run.positions[k][j])) }
        }
        return worst
    }

    @Test func jointOrderMatchesPybullet() throws {
        let (f, model) = try load()
        #expect(JointTrace.movableJoints(model) == f.joints)
    }

    @Test func torqueControlMatchesPybullet() throws {
        let (f, model) = try load()
        let e = try maxError(.torque, f.torque, f, model)
        // 6.3e-5 rad reached (BENCHMARKS.md, "Simulation"): ten times that.
        #expect(e < 6.3e-4, "max |Δq| = \(e) rad over 2 s")
    }

    @Test func positionControlMatchesPybullet() throws {
        let (f, model) = try load()
        let e = try maxError(.position, f.position, f, model)
        // 5e-11 rad reached (the fixture's 1e-10 rounding): ten times that.
        #expect(e < 5e-10, "max |Δq| = \(e) rad over 2 s")
    }
}
