import ReflexCore

extension ReflexError.Code {
    /// The URDF is not well-formed XML.
    public static let urdfSyntax = Self("urdfSyntax")
    /// The URDF is XML but not a valid robot: a missing link, a cycle, a bad number, an unknown joint type.
    public static let urdfInvalid = Self("urdfInvalid")
    /// A mesh file the URDF names cannot be found or read.
    public static let urdfMesh = Self("urdfMesh")
}

/// A robot model read from URDF: links (inertials, geometry) and the joints that connect them in a tree.
///
/// Origins keep URDF's raw xyz/rpy so the Bullet builder can convert them exactly as pybullet does.
public struct URDFModel: Sendable {
    public var name: String
    /// Links in depth-first order from the root, children in the order their joints appear in the file
    /// (pybullet's multibody link order).
    public var links: [URDFLink]
    /// `joints[i]` is the joint whose child is `links[i + 1]`.
    public var joints: [URDFJoint]
    /// The file it came from, if any.
    public var path: String?

    public var root: URDFLink { links[0] }

    /// Index into `links` of the link named `name`.
    public func linkIndex(_ name: String) -> Int? { links.firstIndex { $0.name == name } }
    /// Index into `joints` of the joint named `name`.
    public func jointIndex(_ name: String) -> Int? { joints.firstIndex { $0.name == name } }
    /// For each link, the index of its parent link (-1 for the root).
    public var parentIndices: [Int] {
        [-1] + joints.map { j in linkIndex(j.parent) ?? -1 }
    }
}

/// A URDF `<origin>`: translation and fixed-axis roll/pitch/yaw.
public struct URDFOrigin: Sendable, Equatable {
    public var xyz: Vector3
    public var rpy: Vector3
    public init(xyz: Vector3 = .zero, rpy: Vector3 = .zero) {
        self.xyz = xyz
        self.rpy = rpy
    }
    public var transform: Transform3 { Transform3(xyz: xyz, rpy: rpy) }
}

public struct URDFInertial: Sendable, Equatable {
    public var origin: URDFOrigin
    public var mass: Double
    /// ixx, ixy, ixz, iyy, iyz, izz.
    public var inertia: [Double]
}

public enum URDFGeometry: Sendable, Equatable {
    case box(size: Vector3)
    case cylinder(radius: Double, length: Double)
    case sphere(radius: Double)
    case capsule(radius: Double, length: Double)
    /// A mesh, read as the convex hull of its vertices (already scaled), with the resolved file path.
    case mesh(path: String, scale: Vector3, vertices: [Double])
}

public struct URDFShape: Sendable, Equatable {
    public var origin: URDFOrigin
    public var geometry: URDFGeometry
    /// A visual's `<material>` colour (r, g, b, a in 0…1), resolved as pybullet resolves it; nil when the URDF gives
    /// none (pybullet draws such a visual white).
    public var color: SIMD4<Double>?
    public init(origin: URDFOrigin, geometry: URDFGeometry, color: SIMD4<Double>? = nil) {
        self.origin = origin
        self.geometry = geometry
        self.color = color
    }
}

public struct URDFLink: Sendable {
    public var name: String
    public var inertial: URDFInertial?
    public var visuals: [URDFShape]
    public var collisions: [URDFShape]
    /// pybullet's `<contact><lateral_friction value=…/>` extension.
    public var lateralFriction: Double?
}

public enum URDFJointType: String, Sendable, Codable {
    case revolute, continuous, prismatic, fixed
}

public struct URDFJoint: Sendable {
    public var name: String
    public var type: URDFJointType
    public var parent: String
    public var child: String
    public var origin: URDFOrigin
    /// Unit axis in the joint frame (URDF's default is x).
    public var axis: Vector3
    /// lower > upper means unlimited (continuous joints, or a revolute without `<limit>`), as in pybullet.
    public var lower: Double
    public var upper: Double
    public var effort: Double
    public var velocity: Double
    public var damping: Double
    public var friction: Double

    public var isMovable: Bool { type != .fixed }
}
