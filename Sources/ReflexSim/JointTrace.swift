import ReflexCore
import ReflexRobot

/// Replays joint commands through a fixed-base arm in a Bullet world and records the joint positions after every
/// step: the physics-parity tool behind `reflex sim trace` (same URDF, time step, gravity and commands as a
/// pybullet script gives comparable trajectories).
public struct JointTrace: Sendable {
    public enum Control: String, Sendable, CaseIterable {
        /// One torque per movable joint per step (motors off).
        case torque
        /// One position target per movable joint per step, pybullet's POSITION_CONTROL.
        case position
    }

    /// pybullet's setJointMotorControlArray defaults.
    public var kp = 0.1
    public var kd = 1.0
    /// nil: 100000, pybullet's default force.
    public var maxForce: Double? = nil
    /// Per movable joint; overrides `maxForce`.
    public var maxForces: [Double]? = nil
    public var dt = 1.0 / 240
    public var gravity = -9.81
    public var control: Control
    /// `.urdf` matches pybullet's `URDF_USE_INERTIA_FROM_FILE`, `.shapes` its default.
    public var inertia = InertiaSource.urdf

    public init(control: Control) { self.control = control }

    /// Names of the movable joints, the columns of inputs and outputs (pybullet's joint order without fixed joints).
    public static func movableJoints(_ model: URDFModel) -> [String] { model.joints.filter(\.isMovable).map(\.name) }

    /// Runs `steps` steps; step t uses `inputs[min(t, inputs.count - 1)]` (one value per movable joint) and
    /// returns the joint positions after each step. `initial` (one per movable joint) defaults to zeros.
    public func run(model: URDFModel, inputs: [[Double]], steps: Int, initial: [Double]? = nil) throws -> [[Double]] {
        let movable = model.joints.enumerated().filter { $0.element.isMovable }.map { Int32($0.offset) }
        let n = movable.count
        guard !inputs.isEmpty else { throw ReflexError(.invalidArgument, "no input rows") }
        for (r, row) in inputs.enumerated() where row.count != n {
            throw ReflexError(.shapeMismatch, "input row \(r + 1) has \(row.count) values for \(n) movable joints")
        }
        if let initial, initial.count != n {
            throw ReflexError(.shapeMismatch, "\(initial.count) initial positions for \(n) movable joints")
        }
        let world = BulletWorld(gravity: gravity)
        let body = try world.addMultiBody(model, fixedBase: true, inertia: inertia)
        let links = world.linkCount(body: body)
        var q0 = [Double](repeating: 0, count: links)
        if let initial { for (k, l) in movable.enumerated() { q0[Int(l)] = initial[k] } }
        world.resetJoints(body: body, positions: q0)
        let kpv = [Double](repeating: kp, count: n), kdv = [Double](repeating: kd, count: n)
        let force = maxForces ?? [Double](repeating: maxForce ?? 100_000, count: n)
        guard force.count == n else { throw ReflexError(.shapeMismatch, "\(force.count) forces for \(n) movable joints") }
        var q = [Double](repeating: 0, count: links)
        var out: [[Double]] = []
        out.reserveCapacity(steps)
        for t in 0 ..< steps {
            let row = inputs[min(t, inputs.count - 1)]
            switch control {
            case .torque:
                world.torqueControl(body: body, joints: movable, count: n, torques: row)
            case .position:
                world.positionControl(body: body, joints: movable, count: n, targets: row, kp: kpv, kd: kdv, maxForce: force,
                                      maxVelocity: nil, dt: dt)
            }
            world.step(dt: dt)
            world.jointState(body: body, positions: &q, velocities: nil)
            out.append(movable.map { q[Int($0)] })
        }
        return out
    }
}
