#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A 3-vector in metres or radians (Double, as all of Reflex's physics and kinematics).
public struct Vector3: Sendable, Equatable, Codable {
    public var x: Double, y: Double, z: Double

    public init(_ x: Double, _ y: Double, _ z: Double) {
        self.x = x
        self.y = y
        self.z = z
    }

    public static let zero = Vector3(0, 0, 0)

    public static func + (a: Vector3, b: Vector3) -> Vector3 { Vector3(a.x + b.x, a.y + b.y, a.z + b.z) }
    public static func - (a: Vector3, b: Vector3) -> Vector3 { Vector3(a.x - b.x, a.y - b.y, a.z - b.z) }
    public static func * (s: Double, a: Vector3) -> Vector3 { Vector3(s * a.x, s * a.y, s * a.z) }
    public static prefix func - (a: Vector3) -> Vector3 { Vector3(-a.x, -a.y, -a.z) }
    public func dot(_ b: Vector3) -> Double { x * b.x + y * b.y + z * b.z }
    public func cross(_ b: Vector3) -> Vector3 { Vector3(y * b.z - z * b.y, z * b.x - x * b.z, x * b.y - y * b.x) }
    public var norm: Double { dot(self).squareRoot() }
    public var normalized: Vector3 { let n = norm; return n > 0 ? (1 / n) * self : self }
    public subscript(i: Int) -> Double { i == 0 ? x : (i == 1 ? y : z) }
}

/// A rotation matrix, row-major.
public struct Rotation3: Sendable, Equatable {
    public var m: (Double, Double, Double, Double, Double, Double, Double, Double, Double)

    public init(_ m00: Double, _ m01: Double, _ m02: Double, _ m10: Double, _ m11: Double, _ m12: Double,
                _ m20: Double, _ m21: Double, _ m22: Double) {
        m = (m00, m01, m02, m10, m11, m12, m20, m21, m22)
    }

    public static let identity = Rotation3(1, 0, 0, 0, 1, 0, 0, 0, 1)

    public static func == (a: Rotation3, b: Rotation3) -> Bool { a.rows == b.rows }
    var rows: [Double] { [m.0, m.1, m.2, m.3, m.4, m.5, m.6, m.7, m.8] }

    /// URDF's fixed-axis roll, pitch, yaw: R = Rz(yaw) · Ry(pitch) · Rx(roll).
    public init(rpy: Vector3) {
        let (cr, sr) = (cos(rpy.x), sin(rpy.x)), (cp, sp) = (cos(rpy.y), sin(rpy.y)), (cy, sy) = (cos(rpy.z), sin(rpy.z))
        self.init(cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr,
                  sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr,
                  -sp, cp * sr, cp * cr)
    }

    /// Rotation by `angle` about the unit vector `axis` (Rodrigues).
    public init(axis: Vector3, angle: Double) {
        let a = axis.normalized, c = cos(angle), s = sin(angle), t = 1 - c
        self.init(t * a.x * a.x + c, t * a.x * a.y - s * a.z, t * a.x * a.z + s * a.y,
                  t * a.x * a.y + s * a.z, t * a.y * a.y + c, t * a.y * a.z - s * a.x,
                  t * a.x * a.z - s * a.y, t * a.y * a.z + s * a.x, t * a.z * a.z + c)
    }

    /// From a unit quaternion (x, y, z, w).
    public init(quaternion q: (x: Double, y: Double, z: Double, w: Double)) {
        let (x, y, z, w) = q
        self.init(1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
                  2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
                  2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y))
    }

    /// The unit quaternion (x, y, z, w) with w ≥ 0.
    public var quaternion: (x: Double, y: Double, z: Double, w: Double) {
        let t = m.0 + m.4 + m.8
        var q: (Double, Double, Double, Double)
        if t > 0 {
            let s = (t + 1).squareRoot() * 2
            q = ((m.7 - m.5) / s, (m.2 - m.6) / s, (m.3 - m.1) / s, 0.25 * s)
        } else if m.0 > m.4 && m.0 > m.8 {
            let s = (1 + m.0 - m.4 - m.8).squareRoot() * 2
            q = (0.25 * s, (m.1 + m.3) / s, (m.2 + m.6) / s, (m.7 - m.5) / s)
        } else if m.4 > m.8 {
            let s = (1 + m.4 - m.0 - m.8).squareRoot() * 2
            q = ((m.1 + m.3) / s, 0.25 * s, (m.5 + m.7) / s, (m.2 - m.6) / s)
        } else {
            let s = (1 + m.8 - m.0 - m.4).squareRoot() * 2
            q = ((m.2 + m.6) / s, (m.5 + m.7) / s, 0.25 * s, (m.3 - m.1) / s)
        }
        if q.3 < 0 { q = (-q.0, -q.1, -q.2, -q.3) }
        return (q.0, q.1, q.2, q.3)
    }

    public var columnX: Vector3 { Vector3(m.0, m.3, m.6) }
    public var columnY: Vector3 { Vector3(m.1, m.4, m.7) }
    public var columnZ: Vector3 { Vector3(m.2, m.5, m.8) }

    public var transposed: Rotation3 { Rotation3(m.0, m.3, m.6, m.1, m.4, m.7, m.2, m.5, m.8) }

    public static func * (a: Rotation3, v: Vector3) -> Vector3 {
        Vector3(a.m.0 * v.x + a.m.1 * v.y + a.m.2 * v.z, a.m.3 * v.x + a.m.4 * v.y + a.m.5 * v.z,
                a.m.6 * v.x + a.m.7 * v.y + a.m.8 * v.z)
    }

    public static func * (a: Rotation3, b: Rotation3) -> Rotation3 {
        let c0 = a * b.columnX, c1 = a * b.columnY, c2 = a * b.columnZ
        return Rotation3(c0.x, c1.x, c2.x, c0.y, c1.y, c2.y, c0.z, c1.z, c2.z)
    }

    /// The rotation vector (axis × angle) of this rotation, for orientation errors.
    public var rotationVector: Vector3 {
        let v = Vector3(m.7 - m.5, m.2 - m.6, m.3 - m.1) // 2 sin(θ) · axis
        let s = 0.5 * v.norm, c = 0.5 * (m.0 + m.4 + m.8 - 1)
        let angle = atan2(s, c) // well conditioned for small and large angles alike
        if s > 1e-7 * max(1, angle) && angle < Double.pi - 1e-6 { return (angle / (2 * s)) * v }
        if angle < 1e-3 { return 0.5 * v }
        // Near π the antisymmetric part vanishes: the axis from the symmetric part, R + I = 2 a aᵀ (θ = π).
        let xx = max(0, (m.0 + 1) / 2), yy = max(0, (m.4 + 1) / 2), zz = max(0, (m.8 + 1) / 2)
        var axis: Vector3
        if xx >= yy && xx >= zz {
            let x = xx.squareRoot()
            axis = Vector3(x, (m.1 + m.3) / (4 * x), (m.2 + m.6) / (4 * x))
        } else if yy >= zz {
            let y = yy.squareRoot()
            axis = Vector3((m.1 + m.3) / (4 * y), y, (m.5 + m.7) / (4 * y))
        } else {
            let z = zz.squareRoot()
            axis = Vector3((m.2 + m.6) / (4 * z), (m.5 + m.7) / (4 * z), z)
        }
        // Keep the sign the antisymmetric part still gives.
        if axis.dot(v) < 0 { axis = -axis }
        return angle * axis.normalized
    }
}

/// A rigid transform: points map as p' = rotation · p + translation.
public struct Transform3: Sendable, Equatable {
    public var rotation: Rotation3
    public var translation: Vector3

    public init(rotation: Rotation3 = .identity, translation: Vector3 = .zero) {
        self.rotation = rotation
        self.translation = translation
    }

    /// A URDF `<origin xyz rpy>`.
    public init(xyz: Vector3, rpy: Vector3) { self.init(rotation: Rotation3(rpy: rpy), translation: xyz) }

    public static let identity = Transform3()

    public static func * (a: Transform3, b: Transform3) -> Transform3 {
        Transform3(rotation: a.rotation * b.rotation, translation: a.rotation * b.translation + a.translation)
    }

    public func apply(_ p: Vector3) -> Vector3 { rotation * p + translation }

    public var inverse: Transform3 {
        let rt = rotation.transposed
        return Transform3(rotation: rt, translation: -(rt * translation))
    }
}
