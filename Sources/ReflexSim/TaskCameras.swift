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

/// A camera a task is recorded (or observed) through: where it sits and its image size. Written `front:96x96` or
/// `wrist:640x480` on command lines; its frames are the tensor `images.<placement>` of a demonstration file.
public struct TaskCameraSpec: Sendable, Equatable, CustomStringConvertible {
    public enum Placement: String, Sendable, CaseIterable {
        /// `TaskSceneLook.frontCamera`: fixed in the world, in front of the arm.
        case front
        /// `TaskSceneLook.wristCamera`: on the gripper link.
        case wrist
    }

    public var placement: Placement
    public var width: Int
    public var height: Int

    public init(placement: Placement, width: Int, height: Int) throws {
        guard (1 ... 4096).contains(width), (1 ... 4096).contains(height) else {
            throw ReflexError(.invalidValue, "a \(placement.rawValue) camera of \(width)×\(height) pixels: each side must be 1…4096")
        }
        self.placement = placement
        self.width = width
        self.height = height
    }

    /// Parses `PLACEMENT:WIDTHxHEIGHT`, e.g. `front:96x96`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let sizes = parts.count == 2 ? parts[1].split(separator: "x", omittingEmptySubsequences: false) : []
        guard parts.count == 2, let placement = Placement(rawValue: String(parts[0])), sizes.count == 2,
              let w = Int(sizes[0]), let h = Int(sizes[1]) else {
            throw ReflexError(.invalidValue, "camera '\(text)': expected PLACEMENT:WIDTHxHEIGHT with PLACEMENT one of "
                + Placement.allCases.map(\.rawValue).joined(separator: ", ") + " (e.g. front:96x96)")
        }
        try self.init(placement: placement, width: w, height: h)
    }

    public var description: String { "\(placement.rawValue):\(width)x\(height)" }

    /// The frames' tensor name in a demonstration file.
    public var tensorName: String { "images.\(placement.rawValue)" }

    /// Bytes of one RGB frame.
    public var frameBytes: Int { 3 * width * height }

    /// This camera in `environment`'s scene.
    public func camera(in environment: ArmTaskEnvironment) -> SimCamera {
        switch placement {
        case .front: return TaskSceneLook.frontCamera(width: width, height: height)
        case .wrist: return TaskSceneLook.wristCamera(width: width, height: height, link: environment.wristCameraLink)
        }
    }
}

/// The cameras of one task environment with their frame buffers: `render()` draws every camera's view of the
/// world as it is now. One per environment (per worker thread).
public final class TaskCameraRig {
    public let specs: [TaskCameraSpec]
    public let images: [CameraImage]
    private let cameras: [SimCamera]
    private let renderer: SceneRenderer
    private let environment: ArmTaskEnvironment

    public init(environment: ArmTaskEnvironment, specs: [TaskCameraSpec]) throws {
        var seen = Set<TaskCameraSpec.Placement>()
        for s in specs where !seen.insert(s.placement).inserted {
            throw ReflexError(.invalidValue, "two \(s.placement.rawValue) cameras: each placement records once")
        }
        if specs.contains(where: { $0.placement == .wrist }) && environment.wristCameraLink < 0 {
            throw ReflexError(.invalidArgument, "\(environment.robot.name) has no end-effector link to carry a wrist camera")
        }
        self.specs = specs
        self.environment = environment
        cameras = specs.map { $0.camera(in: environment) }
        for c in cameras { try c.intrinsics.validate() }
        images = cameras.map { CameraImage($0.intrinsics) }
        renderer = try environment.makeRenderer()
    }

    /// Renders every camera into its image.
    /// - Note: Real-time safe: allocates nothing (the renderer's scratch is sized by the first frame).
    public func render() {
        for (camera, image) in zip(cameras, images) {
            renderer.render(camera, world: environment.world, rgb: image.rgb.baseAddress!, depth: image.depth.baseAddress!,
                            segmentation: image.segmentation.baseAddress!)
        }
    }
}
