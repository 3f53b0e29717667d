import ReflexCore

/// Forward kinematics, the geometric Jacobian and damped-least-squares inverse kinematics of the serial chain
/// from a URDF's root to one link, in Double.
///
/// Joint values are indexed like `variables` (by default a robot description's controlled joints); chain
/// joints that are not variables stay at 0 (fixed joints never move).
public struct KinematicChain: Sendable {
    struct Element: Sendable {
        var origin: Transform3
        var axis: Vector3
        var type: URDFJointType
        /// Index into the variables, or nil when this joint does not move in the chain.
        var variable: Int?
    }

    var elements: [Element]
    /// Names of the variables, in order.
    public let variables: [String]
    public let lower: [Double]
    public let upper: [Double]
    /// A fixed transform after the tip link (a tool offset).
    public var tipOffset: Transform3

    /// The chain from `model`'s root to `tip`, moving the joints named in `variables` (those not on the path
    /// have a zero Jacobian column).
    public init(model: URDFModel, tip: String, variables: [String], lower: [Double], upper: [Double],
                tipOffset: Transform3 = .identity) throws {
        guard var link = model.linkIndex(tip) else {
            throw ReflexError(.invalidArgument, "no link '\(tip)' in the model", at: .init(element: "link '\(tip)'"))
        }
        var path: [Int] = []
        let parents = model.parentIndices
        while link > 0 {
            path.append(link - 1)
            link = parents[link]
        }
        elements = path.reversed().map { j in
            let joint = model.joints[j]
            return Element(origin: joint.origin.transform, axis: joint.axis, type: joint.type,
                           variable: joint.isMovable ? variables.firstIndex(of: joint.name) : nil)
        }
        self.variables = variables
        self.lower = lower
        self.upper = upper
        self.tipOffset = tipOffset
    }

    /// The chain of a robot description to its end-effector link over its controlled joints.
    public init(robot: RobotDescription, tip: String? = nil, tipOffset: Transform3 = .identity) throws {
        try self.init(model: robot.model, tip: tip ?? robot.endEffectorLink, variables: robot.jointNames,
                      lower: robot.lowerLimits, upper: robot.upperLimits, tipOffset: tipOffset)
    }

    func motion(_ e: Element, _ q: [Double]) -> Transform3 {
        guard let v = e.variable else { return .identity }
        switch e.type {
        case .revolute, .continuous: return Transform3(rotation: Rotation3(axis: e.axis, angle: q[v]))
        case .prismatic: return Transform3(translation: q[v] * e.axis)
        case .fixed: return .identity
        }
    }

    /// The tip's pose in the root frame.
    public func forward(_ q: [Double]) -> Transform3 {
        var t = Transform3.identity
        for e in elements { t = t * e.origin * motion(e, q) }
        return t * tipOffset
    }

    /// The geometric Jacobian at `q`: 6 rows (linear velocity x, y, z; angular x, y, z in the root frame) by
    /// `variables.count` columns, row-major.
    public func jacobian(_ q: [Double]) -> [Double] {
        let n = variables.count
        var columns: [(Int, Vector3, Vector3, URDFJointType)] = []
        var t = Transform3.identity
        for e in elements {
            t = t * e.origin
            if let v = e.variable {
                columns.append((v, t.translation, t.rotation * e.axis, e.type))
            }
            t = t * motion(e, q)
        }
        let tip = (t * tipOffset).translation
        var J = [Double](repeating: 0, count: 6 * n)
        for (v, p, z, type) in columns {
            let lin: Vector3, ang: Vector3
            if type == .prismatic {
                lin = z
                ang = .zero
            } else {
                lin = z.cross(tip - p)
                ang = z
            }
            for r in 0 ..< 3 {
                J[r * n + v] += lin[r]
                J[(r + 3) * n + v] += ang[r]
            }
        }
        return J
    }

    /// Inverse kinematics by damped least squares (Wampler 1986; Buss 2004, eq. 11):
    /// Δq = Jᵀ (J Jᵀ + λ² I)⁻¹ e, with e the weighted pose error, each step clamped to the joint limits.
    ///
    /// - Parameters:
    ///   - target: desired tip pose in the root frame.
    ///   - seed: starting joint values (also the values of variables outside the chain).
    ///   - orientationWeight: 0 solves position only.
    ///   - active: which variables IK may move (default: all in the chain).
    /// - Returns: the joint values and the final position and orientation errors (m, rad).
    public func inverse(target: Transform3, seed: [Double], orientationWeight: Double = 1, damping: Double = 0.02,
                        iterations: Int = 100, tolerance: Double = 1e-5, active: [Bool]? = nil)
        -> (q: [Double], positionError: Double, orientationError: Double)
    {
        let n = variables.count
        var q = seed
        let active = active ?? Array(repeating: true, count: n)
        var perr = Double.infinity, oerr = Double.infinity
        for _ in 0 ..< iterations {
            let pose = forward(q)
            let dp = target.translation - pose.translation
            let dw = (target.rotation * pose.rotation.transposed).rotationVector
            perr = dp.norm
            oerr = dw.norm
            if perr < tolerance && (orientationWeight == 0 || oerr < tolerance * 10) { break }
            let e = [dp.x, dp.y, dp.z, orientationWeight * dw.x, orientationWeight * dw.y, orientationWeight * dw.z]
            var J = jacobian(q)
            for c in 0 ..< n where !active[c] {
                for r in 0 ..< 6 { J[r * n + c] = 0 }
            }
            for r in 3 ..< 6 {
                for c in 0 ..< n { J[r * n + c] *= orientationWeight }
            }
            // A = J Jᵀ + λ² I (6×6), solve A y = e, Δq = Jᵀ y.
            var A = [Double](repeating: 0, count: 36)
            for i in 0 ..< 6 {
                for j in 0 ..< 6 {
                    var s = 0.0
                    for k in 0 ..< n { s += J[i * n + k] * J[j * n + k] }
                    A[i * 6 + j] = s + (i == j ? damping * damping : 0)
                }
            }
            guard let y = solve6(A, e) else { break }
            for k in 0 ..< n where active[k] {
                var dq = 0.0
                for i in 0 ..< 6 { dq += J[i * n + k] * y[i] }
                q[k] = min(max(q[k] + dq, lower[k]), upper[k])
            }
        }
        return (q, perr, orientationWeight == 0 ? 0 : oerr)
    }
}

/// Solves the 6×6 system A x = b by Gaussian elimination with partial pivoting; nil when singular.
func solve6(_ a: [Double], _ b: [Double]) -> [Double]? {
    var m = a, x = b
    for col in 0 ..< 6 {
        var pivot = col
        for r in col + 1 ..< 6 where abs(m[r * 6 + col]) > abs(m[pivot * 6 + col]) { pivot = r }
        guard abs(m[pivot * 6 + col]) > 1e-14 else { return nil }
        if pivot != col {
            for c in 0 ..< 6 { m.swapAt(col * 6 + c, pivot * 6 + c) }
            x.swapAt(col, pivot)
        }
        for r in col + 1 ..< 6 {
            let f = m[r * 6 + col] / m[col * 6 + col]
            if f == 0 { continue }
            for c in col ..< 6 { m[r * 6 + c] -= f * m[col * 6 + c] }
            x[r] -= f * x[col]
        }
    }
    for r in stride(from: 5, through: 0, by: -1) {
        var s = x[r]
        for c in r + 1 ..< 6 { s -= m[r * 6 + c] * x[c] }
        x[r] = s / m[r * 6 + r]
    }
    return x
}
