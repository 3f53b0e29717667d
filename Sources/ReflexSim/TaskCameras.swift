import ReflexCore
import ReflexRobot

/// How the tasks' scene looks to a camera: the world's plane has no picture of its own, so the table is a thin box
/// whose top is the plane; the cube is red. Benchmarks/peers/render.py and the render fixture build the same.
public enum TaskSceneLook {
    public static let tableHalfExtents = Vector3(0.4, 0.4, 0.01)
    public static let tableCenter = Vector3(0.2, 0, -0.01)
    public static let tableColor = SIMD4<Double>(0.8, 0.65, 0.45, 1)
    public static let cubeColor = SIMD4<Double>(0.85, 0.15, 0.1, 1)

    /// A camera in front of the arm looking back at the workspace (the cube's start region fills its lower half).
    public static func frontCamera(width: Int, height: Int) -> SimCamera {
        SimCamera(intrinsics: CameraIntrinsics(width: width, height: height, fov: 60, near: 0.01, far: 2),
                  pose: CameraPose(eye: Vector3(0.55, 0, 0.35), target: Vector3(0.15, 0, 0.05)))
    }

    /// A camera on the gripper's side looking along the jaws, mounted on `link` (the gripper link's pybullet index)
    /// of the arm (body 0).
    public static func wristCamera(width: Int, height: Int, link: Int) -> SimCamera {
        SimCamera(intrinsics: CameraIntrinsics(width: width, height: height, fov: 75, near: 0.01, far: 1),
                  pose: CameraPose(eye: Vector3(0, -0.05, 0), target: Vector3(0, -0.02, 0.12), up: Vector3(1, 0, 0),
                                   mount: .link(body: 0, link: link)))
    }
}

extension ArmTaskEnvironment {
    /// A renderer of this task's scene: the arm's visuals (id 0), the table (1) and the cube (2, push and lift), the
    /// order the environment creates them in. It reads `world` at each frame, so it outlives resets.
    public func makeRenderer() throws -> SceneRenderer {
        let renderer = SceneRenderer()
        try renderer.addMultiBody(robot.model, body: arm)
        renderer.addStaticBox(halfExtents: TaskSceneLook.tableHalfExtents, position: TaskSceneLook.tableCenter,
                              color: TaskSceneLook.tableColor)
        if cubeBody >= 0 {
            let h = config.cubeHalfExtent
            renderer.addBox(object: cubeBody, halfExtents: Vector3(h, h, h), color: TaskSceneLook.cubeColor)
        }
        return renderer
    }

    /// The pybullet link index of the link a wrist camera rides on: the end-effector link's parent when the end
    /// effector is a fixed frame (as SO-101's tcp_link is), else the end-effector link.
    public var wristCameraLink: Int {
        let model = robot.model
        guard let ee = model.linkIndex(robot.endEffectorLink), ee > 0 else { return -1 }
        let joint = model.joints[ee - 1]
        if joint.type == .fixed, let parent = model.linkIndex(joint.parent) { return parent - 1 }
        return ee - 1
    }
}
