import Foundation
import ReflexCore
import ReflexRobot

/// A camera's lens as pybullet users give it to `computeProjectionMatrixFOV`: image size, vertical field of view,
/// aspect ratio and clipping planes.
public struct CameraIntrinsics: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// Vertical field of view (degrees).
    public var fov: Double
    /// Width over height of the view volume (pybullet users pass width / height).
    public var aspect: Double
    /// Near and far clipping distances (m).
    public var near: Double
    public var far: Double

    public init(width: Int, height: Int, fov: Double = 60, aspect: Double? = nil, near: Double = 0.01, far: Double = 10) {
        self.width = width
        self.height = height
        self.fov = fov
        self.aspect = aspect ?? Double(width) / Double(max(1, height))
        self.near = near
        self.far = far
    }

    /// pybullet's `computeProjectionMatrixFOV`, column-major, in single precision as pybullet computes it.
    public var projectionMatrix: [Float] {
        let yScale = Float(1.0 / tan(Double(Float.pi) / 180.0 * Double(Float(fov)) / 2))
        let xScale = yScale / Float(aspect)
        let n = Float(near), f = Float(far)
        return [xScale, 0, 0, 0, 0, yScale, 0, 0, 0, 0, (n + f) / (n - f), -1, 0, 0, 2 * f * n / (n - f), 0]
    }

    /// Checks what a frame needs: a positive size and a view volume in front of the camera.
    public func validate() throws {
        guard width > 0, height > 0, width <= 16384, height <= 16384 else {
            throw ReflexError(.invalidArgument, "camera size \(width)×\(height) is not between 1 and 16384 pixels a side")
        }
        guard fov > 0, fov < 180, aspect > 0, aspect.isFinite else {
            throw ReflexError(.invalidArgument, "camera fov \(fov)° and aspect \(aspect) must be positive (fov below 180°)")
        }
        guard near > 0, far > near, far.isFinite else {
            throw ReflexError(.invalidArgument, "camera clipping planes need 0 < near < far, got near \(near), far \(far)")
        }
    }
}

/// Where a camera is: eye, target and up as pybullet's `computeViewMatrix` takes them, either in the world or in a
/// link's URDF frame (a wrist camera moves with its link).
public struct CameraPose: Sendable, Equatable {
    public enum Mount: Sendable, Equatable {
        /// Eye, target and up are world coordinates.
        case world
        /// Eye, target and up are in the URDF frame of `link` of multibody `body` (-1: the base), as a pybullet user
        /// rotates them by `getLinkState(...)[4:6]` before `computeViewMatrix`.
        case link(body: Int, link: Int)
    }

    public var eye: Vector3
    public var target: Vector3
    public var up: Vector3
    public var mount: Mount

    public init(eye: Vector3, target: Vector3, up: Vector3 = Vector3(0, 0, 1), mount: Mount = .world) {
        self.eye = eye
        self.target = target
        self.up = up
        self.mount = mount
    }
}

/// A camera in a simulated scene: intrinsics and pose. `SceneRenderer.render` draws what it sees.
public struct SimCamera: Sendable, Equatable {
    public var intrinsics: CameraIntrinsics
    public var pose: CameraPose

    public init(intrinsics: CameraIntrinsics, pose: CameraPose) {
        self.intrinsics = intrinsics
        self.pose = pose
    }

    /// pybullet's `computeViewMatrix(eye, target, up)`, column-major, in single precision as pybullet computes it.
    public static func viewMatrix(eye: Vector3, target: Vector3, up: Vector3) -> [Float] {
        var m = [Float](repeating: 0, count: 16)
        viewMatrix(eye: eye, target: target, up: up, into: &m)
        return m
    }

    static func viewMatrix(eye: Vector3, target: Vector3, up: Vector3, into m: UnsafeMutablePointer<Float>) {
        let e = SIMD3<Float>(Float(eye.x), Float(eye.y), Float(eye.z))
        let c = SIMD3<Float>(Float(target.x), Float(target.y), Float(target.z))
        var u = SIMD3<Float>(Float(up.x), Float(up.y), Float(up.z))
        func normalized(_ v: SIMD3<Float>) -> SIMD3<Float> { v / (v * v).sum().squareRoot() }
        func cross(_ a: SIMD3<Float>, _ b: SIMD3<Float>) -> SIMD3<Float> {
            SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
        }
        let f = normalized(c - e)
        u = normalized(u)
        let s = normalized(cross(f, u))
        u = cross(s, f)
        m[0] = s.x; m[4] = s.y; m[8] = s.z
        m[1] = u.x; m[5] = u.y; m[9] = u.z
        m[2] = -f.x; m[6] = -f.y; m[10] = -f.z
        m[3] = 0; m[7] = 0; m[11] = 0
        m[12] = -(s * e).sum(); m[13] = -(u * e).sum(); m[14] = (f * e).sum(); m[15] = 1
    }

    static func viewMatrix(eye: Vector3, target: Vector3, up: Vector3, into m: inout [Float]) {
        m.withUnsafeMutableBufferPointer { viewMatrix(eye: eye, target: target, up: up, into: $0.baseAddress!) }
    }
}

/// The light of pybullet's TinyRenderer (`getCameraImage` without lighting arguments, z up): a directional light,
/// Phong-like shading `ambient·c + (diffuse·max(0, n·l) + specular·max(0, r_z)²)·c·lightColor` per channel, no
/// shadow (TinyRenderer's default).
public struct SceneLight: Sendable, Equatable {
    /// Towards the light (normalized when used); pybullet's default for a z-up world.
    public var direction = Vector3(-50, 30, 100)
    public var color = SIMD3<Double>(1, 1, 1)
    public var ambient = 0.6
    public var diffuse = 0.35
    public var specular = 0.05
    public init() {}
}

/// One rendered frame in caller-owned memory: RGB (row-major, top row first, 3 bytes a pixel), depth in pybullet's
/// convention (the non-linear depth-buffer value in [0, 1] from the projection: `far·near / (far − (far − near)·d)`
/// is the distance along the view axis; 1 where nothing is hit) and segmentation (pybullet's ids: the object's
/// unique id, or with link indices `id + ((link + 1) << 24)`; -1 where nothing is hit).
public final class CameraImage: @unchecked Sendable {
    public let width: Int
    public let height: Int
    public let rgb: UnsafeMutableBufferPointer<UInt8>
    public let depth: UnsafeMutableBufferPointer<Float>
    public let segmentation: UnsafeMutableBufferPointer<Int32>

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
        let n = max(1, width * height)
        rgb = .allocate(capacity: 3 * n)
        depth = .allocate(capacity: n)
        segmentation = .allocate(capacity: n)
        rgb.initialize(repeating: 255)
        depth.initialize(repeating: 1)
        segmentation.initialize(repeating: -1)
    }

    public convenience init(_ intrinsics: CameraIntrinsics) { self.init(width: intrinsics.width, height: intrinsics.height) }

    deinit {
        rgb.deallocate()
        depth.deallocate()
        segmentation.deallocate()
    }
}
