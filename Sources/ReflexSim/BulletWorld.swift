import CBridge
import Foundation
import ReflexCore
import ReflexRobot

extension ReflexError.Code {
    /// Bullet refused to build a body.
    public static let simulation = Self("simulation")
}

/// Where a multibody's link inertias come from.
public enum InertiaSource: String, Sendable, CaseIterable {
    /// The URDF's `<inertia>` (pybullet's `URDF_USE_INERTIA_FROM_FILE`).
    case urdf
    /// The collision shapes for the URDF mass (pybullet's `loadURDF` default, a box around hulls and compounds).
    case shapes
}

/// A Bullet multibody world (double precision) with pybullet's default solver parameters.
///
/// One world belongs to one thread at a time; worlds share nothing, so N of them step on N threads.
public final class BulletWorld: @unchecked Sendable {
    let handle: OpaquePointer

    /// Gravity in m/s² along z (Reflex's worlds are z-up).
    public init(gravity: Double = -9.81) {
        handle = rx_world_create(gravity)
    }

    deinit { rx_world_destroy(handle) }

    /// Adds a URDF model as one multibody: fixed base at `basePosition` unless `fixedBase` is false. Returns
    /// the body index. Links without `<inertial>` get mass 1 and unit inertia, as pybullet gives them.
    /// - Warning: Not real-time safe.
    public func addMultiBody(_ model: URDFModel, fixedBase: Bool = true, basePosition: Vector3 = .zero,
                             selfCollision: Bool = false, inertia: InertiaSource = .urdf) throws -> Int {
        var vertices: [Double] = []
        var shapeVertexStart: [Int] = []
        var shapes: [rx_shape_desc] = []
        var links: [rx_link_desc] = []
        let parents = model.parentIndices
        for (i, link) in model.links.enumerated() {
            var d = rx_link_desc()
            d.parent = Int32(parents[i])
            if i > 0 {
                let j = model.joints[i - 1]
                switch j.type {
                case .fixed: d.joint_type = RX_JOINT_FIXED
                case .revolute: d.joint_type = RX_JOINT_REVOLUTE
                case .continuous: d.joint_type = RX_JOINT_CONTINUOUS
                case .prismatic: d.joint_type = RX_JOINT_PRISMATIC
                }
                d.joint_xyz = (j.origin.xyz.x, j.origin.xyz.y, j.origin.xyz.z)
                d.joint_rpy = (j.origin.rpy.x, j.origin.rpy.y, j.origin.rpy.z)
                d.axis = (j.axis.x, j.axis.y, j.axis.z)
                d.lower = j.lower
                d.upper = j.upper
                d.damping = j.damping
                d.friction = j.friction
                d.max_force = j.effort
                d.max_velocity = j.velocity
            }
            if let inertial = link.inertial {
                d.mass = inertial.mass
                d.inertial_xyz = (inertial.origin.xyz.x, inertial.origin.xyz.y, inertial.origin.xyz.z)
                d.inertial_rpy = (inertial.origin.rpy.x, inertial.origin.rpy.y, inertial.origin.rpy.z)
                let t = inertial.inertia
                d.inertia = (t[0], t[1], t[2], t[3], t[4], t[5])
            } else if link.name != "world" {
                d.mass = 1
                d.inertia = (1, 0, 0, 1, 0, 1)
            }
            d.first_shape = shapes.count
            for c in link.collisions {
                var s = rx_shape_desc()
                s.xyz = (c.origin.xyz.x, c.origin.xyz.y, c.origin.xyz.z)
                s.rpy = (c.origin.rpy.x, c.origin.rpy.y, c.origin.rpy.z)
                shapeVertexStart.append(-1)
                switch c.geometry {
                case .box(let size):
                    s.type = RX_SHAPE_BOX
                    s.size = (size.x, size.y, size.z)
                case .sphere(let r):
                    s.type = RX_SHAPE_SPHERE
                    s.size = (r, 0, 0)
                case .cylinder(let r, let l):
                    s.type = RX_SHAPE_CYLINDER
                    s.size = (r, l, 0)
                case .capsule(let r, let l):
                    s.type = RX_SHAPE_CAPSULE
                    s.size = (r, l, 0)
                case .mesh(let path, _, let v):
                    s.type = path.lowercased().hasSuffix(".obj") ? RX_SHAPE_OBJ_HULL : RX_SHAPE_CONVEX_HULL
                    shapeVertexStart[shapeVertexStart.count - 1] = vertices.count
                    s.vertex_count = v.count / 3
                    vertices += v
                }
                shapes.append(s)
            }
            d.shape_count = link.collisions.count
            d.lateral_friction = link.lateralFriction ?? -1
            links.append(d)
        }
        var error = [CChar](repeating: 0, count: 256)
        let base = [basePosition.x, basePosition.y, basePosition.z]
        let body: Int32 = vertices.withUnsafeBufferPointer { v in
            for (k, start) in shapeVertexStart.enumerated() where start >= 0 {
                shapes[k].vertices = v.baseAddress.map { UnsafePointer($0 + start) }
            }
            let flags = (selfCollision ? Int32(RX_MULTIBODY_SELF_COLLISION) : 0)
                | (inertia == .shapes ? Int32(RX_MULTIBODY_INERTIA_FROM_SHAPES) : 0)
            return rx_world_add_multibody(handle, links, links.count, shapes, shapes.count, fixedBase ? 1 : 0, base,
                                          flags, &error, error.count)
        }
        guard body >= 0 else {
            let message = error.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw ReflexError(.simulation, message, at: .init(file: model.path, element: "robot '\(model.name)'"))
        }
        return Int(body)
    }

    /// A static plane z = height.
    @discardableResult
    public func addPlane(height: Double = 0, friction: Double = 0.5) -> Int {
        Int(rx_world_add_plane(handle, height, friction))
    }

    /// A box (dynamic when mass > 0) at rest.
    public func addBox(halfExtents: Vector3, mass: Double, friction: Double, position: Vector3,
                       yaw: Double = 0) -> Int {
        let q = [0, 0, sin(yaw / 2), cos(yaw / 2)]
        return Int(rx_world_add_box(handle, [halfExtents.x, halfExtents.y, halfExtents.z], mass, friction,
                                    [position.x, position.y, position.z], q))
    }

    /// Advances the world by `count` steps of `dt` seconds.
    /// - Note: Real-time safe.
    public func step(dt: Double, count: Int = 1) { rx_world_step_n(handle, dt, count) }

    public var stepCount: Int { rx_world_step_count(handle) }

    /// Joints (multibody links, fixed ones included) of a body.
    public func linkCount(body: Int) -> Int { rx_body_link_count(handle, Int32(body)) }

    /// Sets every 1-dof joint's position and velocity (`linkCount` values each).
    public func resetJoints(body: Int, positions: [Double], velocities: [Double]? = nil) {
        if let velocities { rx_body_reset_joints(handle, Int32(body), positions, velocities) } else {
            rx_body_reset_joints(handle, Int32(body), positions, nil)
        }
    }

    /// Reads joint positions and velocities into buffers of `linkCount` values.
    /// - Note: Real-time safe.
    public func jointState(body: Int, positions: UnsafeMutablePointer<Double>?, velocities: UnsafeMutablePointer<Double>?) {
        rx_body_joint_state(handle, Int32(body), positions, velocities)
    }

    /// The world pose of a link's URDF frame (`link` -1 is the base) into pos[3] and quat[4] (x, y, z, w).
    /// - Note: Real-time safe.
    public func linkPose(body: Int, link: Int, position: UnsafeMutablePointer<Double>, quaternion: UnsafeMutablePointer<Double>) {
        rx_body_link_pose(handle, Int32(body), Int32(link), position, quaternion)
    }

    /// The world pose of a link's URDF frame as a transform.
    public func linkTransform(body: Int, link: Int) -> Transform3 {
        var p = [0.0, 0, 0], q = [0.0, 0, 0, 1]
        rx_body_link_pose(handle, Int32(body), Int32(link), &p, &q)
        return Transform3(rotation: Rotation3(quaternion: (q[0], q[1], q[2], q[3])), translation: Vector3(p[0], p[1], p[2]))
    }

    /// Places an object at rest.
    public func setObjectPose(_ object: Int, position: Vector3, yaw: Double = 0) {
        rx_object_set_pose(handle, Int32(object), [position.x, position.y, position.z], [0, 0, sin(yaw / 2), cos(yaw / 2)])
    }

    /// An object's position and quaternion into pos[3], quat[4]; velocity buffers may be nil.
    /// - Note: Real-time safe.
    public func objectPose(_ object: Int, position: UnsafeMutablePointer<Double>, quaternion: UnsafeMutablePointer<Double>,
                           linearVelocity: UnsafeMutablePointer<Double>? = nil) {
        rx_object_pose(handle, Int32(object), position, quaternion, linearVelocity, nil)
    }

    /// pybullet's POSITION_CONTROL on the listed joints (see `rx_body_position_control`).
    /// - Note: Real-time safe.
    public func positionControl(body: Int, joints: UnsafePointer<Int32>, count: Int, targets: UnsafePointer<Double>,
                                kp: UnsafePointer<Double>, kd: UnsafePointer<Double>, maxForce: UnsafePointer<Double>,
                                maxVelocity: UnsafePointer<Double>?, dt: Double) {
        rx_body_position_control(handle, Int32(body), count, joints, targets, nil, kp, kd, maxForce, maxVelocity, dt)
    }

    /// Joint torques held until changed; turns those joints' motors off.
    /// - Note: Real-time safe.
    public func torqueControl(body: Int, joints: UnsafePointer<Int32>, count: Int, torques: UnsafePointer<Double>) {
        rx_body_torque_control(handle, Int32(body), count, joints, torques)
    }

    public func setSolverIterations(_ n: Int) { rx_world_set_solver_iterations(handle, Int32(n)) }
}
