import Foundation
import ReflexCore
import ReflexRobotDescriptions

/// A robot as Reflex uses it: the URDF model, which joints are controlled and in what order, their limits, the
/// home pose, the gripper, the end-effector link, control gains and the servo-bus mapping.
///
/// Read from `robots/<name>.yaml` (see `robots/so101.yaml`). Joint order everywhere (actions, observations,
/// servo ids) is `joints` followed by the gripper.
public struct RobotDescription: Sendable {
    /// One controlled joint with its limits resolved (YAML overrides, else the URDF's).
    public struct Joint: Sendable, Equatable {
        public var name: String
        /// Index into `model.joints`, which is also the Bullet multibody link index.
        public var urdfIndex: Int
        public var lower: Double
        public var upper: Double
        public var velocity: Double
        public var effort: Double
    }

    public struct Gripper: Sendable, Equatable {
        public var joint: String
        public var open: Double
        public var closed: Double
    }

    /// pybullet POSITION_CONTROL gains per controlled joint.
    public struct Control: Sendable, Equatable {
        public var kp: [Double]
        public var kd: [Double]
        public var maxForce: [Double]
        public var maxVelocity: [Double]
    }

    public var name: String
    public var model: URDFModel
    public var urdfPath: String
    /// Arm joints then the gripper joint (if any).
    public var joints: [Joint]
    /// Number of arm joints (the gripper, if any, comes after them).
    public var armJointCount: Int
    public var gripper: Gripper?
    public var home: [Double]
    public var endEffectorLink: String
    public var control: Control
    public var hardware: HardwareMapping?
    /// The YAML file it came from.
    public var path: String?

    public var jointNames: [String] { joints.map(\.name) }
    public var lowerLimits: [Double] { joints.map(\.lower) }
    public var upperLimits: [Double] { joints.map(\.upper) }
}

/// The servo bus a robot's joints are wired to (read by ReflexHardware).
public struct HardwareMapping: Sendable, Equatable, Codable {
    public struct Servo: Sendable, Equatable, Codable {
        public var joint: String
        public var id: Int
        public var model: String
        /// Raw position at joint zero.
        public var offset: Int
        /// +1 or -1: the servo's positive direction relative to the joint's.
        public var direction: Int
    }

    /// `feetech` or `dynamixel`.
    public var bus: String
    public var port: String?
    public var baudRate: Int
    public var servos: [Servo]
}

/// The YAML layout of a robot description.
struct RobotDescriptionFile: Codable {
    struct JointEntry: Codable {
        var name: String
        var lower: Double?
        var upper: Double?
        var velocity: Double?
        var effort: Double?
    }

    struct GripperEntry: Codable {
        var joint: String
        var open: Double
        var closed: Double
        var lower: Double?
        var upper: Double?
        var velocity: Double?
        var effort: Double?
    }

    struct EndEffector: Codable {
        var link: String
    }

    /// A scalar for every joint or one value per joint.
    enum PerJoint: Codable {
        case all(Double)
        case each([Double])

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let v = try? c.decode(Double.self) { self = .all(v) } else { self = .each(try c.decode([Double].self)) }
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .all(let v): try c.encode(v)
            case .each(let v): try c.encode(v)
            }
        }
    }

    struct ControlEntry: Codable {
        var kp: PerJoint?
        var kd: PerJoint?
        var maxForce: PerJoint?
        var maxVelocity: PerJoint?
    }

    var name: String
    var urdf: String
    var joints: [JointEntry]
    var gripper: GripperEntry?
    var home: [Double]?
    var endEffector: EndEffector
    var control: ControlEntry?
    var hardware: HardwareMapping?
}

extension RobotDescription {
    /// Reads a robot description YAML and the URDF it names (relative to the YAML file).
    public static func load(path: String) throws -> RobotDescription {
        let text = try readTextFile(path)
        let file = try YAMLDecoder().decode(RobotDescriptionFile.self, from: text, file: path)
        let root = try? YAMLNode.parse(text, file: path)
        func fail(_ key: String, _ message: String) -> ReflexError {
            ReflexError(.invalidValue, message, at: .init(file: path, line: root.flatMap { line(of: key, in: $0) }, keyPath: key))
        }
        let dir = (path as NSString).deletingLastPathComponent
        let urdfPath = file.urdf.hasPrefix("/") ? file.urdf : ((dir.isEmpty ? "." : dir) as NSString).appendingPathComponent(file.urdf)
        let model: URDFModel
        do {
            model = try URDFParser.load(path: urdfPath)
        } catch let e as ReflexError {
            throw ReflexError(e.code, "cannot load the URDF named by 'urdf': \(e)",
                              at: .init(file: path, line: root.flatMap { line(of: "urdf", in: $0) }, keyPath: "urdf"), cause: e)
        }
        var joints: [Joint] = []
        func resolve(_ name: String, key: String, lower: Double?, upper: Double?, velocity: Double?, effort: Double?) throws -> Joint {
            guard let index = model.jointIndex(name) else {
                throw fail(key, "joint '\(name)' is not in \(urdfPath)")
            }
            let j = model.joints[index]
            guard j.isMovable else { throw fail(key, "joint '\(name)' is fixed") }
            let lo = lower ?? (j.lower <= j.upper ? j.lower : -Double.pi)
            let hi = upper ?? (j.lower <= j.upper ? j.upper : Double.pi)
            guard lo < hi else { throw fail(key, "lower limit \(lo) is not below upper limit \(hi)") }
            return Joint(name: name, urdfIndex: index, lower: lo, upper: hi,
                         velocity: velocity ?? (j.velocity > 0 ? j.velocity : 1e3), effort: effort ?? (j.effort > 0 ? j.effort : 1e3))
        }
        for (i, e) in file.joints.enumerated() {
            joints.append(try resolve(e.name, key: "joints[\(i)].name", lower: e.lower, upper: e.upper, velocity: e.velocity, effort: e.effort))
        }
        guard !joints.isEmpty else { throw fail("joints", "at least one joint is needed") }
        let armCount = joints.count
        var gripper: Gripper?
        if let g = file.gripper {
            let joint = try resolve(g.joint, key: "gripper.joint", lower: g.lower, upper: g.upper, velocity: g.velocity, effort: g.effort)
            for (key, v) in [("gripper.open", g.open), ("gripper.closed", g.closed)] where v < joint.lower || v > joint.upper {
                throw fail(key, "\(v) is outside the gripper joint's limits [\(joint.lower), \(joint.upper)]")
            }
            joints.append(joint)
            gripper = Gripper(joint: g.joint, open: g.open, closed: g.closed)
        }
        if Set(joints.map(\.name)).count != joints.count { throw fail("joints", "a joint is listed twice") }
        let n = joints.count
        let home = file.home ?? joints.map { min(max(0, $0.lower), $0.upper) }
        guard home.count == n else { throw fail("home", "\(home.count) values for \(n) joints (arm joints, then the gripper)") }
        for (i, (h, j)) in zip(home, joints).enumerated() where h < j.lower || h > j.upper {
            throw fail("home[\(i)]", "\(h) is outside \(j.name)'s limits [\(j.lower), \(j.upper)]")
        }
        guard model.linkIndex(file.endEffector.link) != nil else {
            throw fail("end_effector.link", "link '\(file.endEffector.link)' is not in \(urdfPath)")
        }
        func perJoint(_ v: RobotDescriptionFile.PerJoint?, _ key: String, default d: [Double]) throws -> [Double] {
            switch v {
            case nil: return d
            case .all(let x)?: return Array(repeating: x, count: n)
            case .each(let xs)?:
                guard xs.count == n else { throw fail(key, "\(xs.count) values for \(n) joints") }
                return xs
            }
        }
        let c = file.control
        let control = Control(kp: try perJoint(c?.kp, "control.kp", default: Array(repeating: 0.1, count: n)),
                              kd: try perJoint(c?.kd, "control.kd", default: Array(repeating: 1.0, count: n)),
                              maxForce: try perJoint(c?.maxForce, "control.max_force", default: joints.map(\.effort)),
                              maxVelocity: try perJoint(c?.maxVelocity, "control.max_velocity", default: joints.map(\.velocity)))
        if let hw = file.hardware {
            for (i, s) in hw.servos.enumerated() {
                guard joints.contains(where: { $0.name == s.joint }) else {
                    throw fail("hardware.servos[\(i)].joint", "'\(s.joint)' is not a controlled joint")
                }
                guard s.direction == 1 || s.direction == -1 else {
                    throw fail("hardware.servos[\(i)].direction", "direction must be 1 or -1, not \(s.direction)")
                }
            }
            guard hw.baudRate > 0 else { throw fail("hardware.baud_rate", "must be positive") }
        }
        return RobotDescription(name: file.name, model: model, urdfPath: urdfPath, joints: joints, armJointCount: armCount,
                                gripper: gripper, home: home, endEffectorLink: file.endEffector.link, control: control,
                                hardware: file.hardware, path: path)
    }

    /// Finds a robot by name or path: an existing YAML file, else `<name>.yaml` under `$REFLEX_ROBOTS` (a directory of
    /// your own descriptions), else among the descriptions bundled with Reflex (`BundledRobots`).
    public static func named(_ nameOrPath: String) throws -> RobotDescription {
        if FileManager.default.fileExists(atPath: nameOrPath), nameOrPath.hasSuffix(".yaml") || nameOrPath.hasSuffix(".yml") {
            return try load(path: nameOrPath)
        }
        var dirs: [String] = []
        if let env = ProcessInfo.processInfo.environment["REFLEX_ROBOTS"], !env.isEmpty { dirs.append(env) }
        if let bundled = BundledRobots.directory { dirs.append(bundled) }
        for d in dirs {
            let p = (d as NSString).appendingPathComponent(nameOrPath + ".yaml")
            if FileManager.default.fileExists(atPath: p) { return try load(path: p) }
        }
        let looked = dirs.isEmpty ? "no $REFLEX_ROBOTS and no bundled descriptions (\(BundledRobots.bundleName) is not next to this binary)"
            : "no \(nameOrPath).yaml in \(dirs.joined(separator: ", "))"
        throw ReflexError(.fileNotFound, "no robot '\(nameOrPath)': not a YAML file, and \(looked)")
    }
}

/// The line of a dotted key path (`a.b[2].c`) in a YAML tree, for error messages.
func line(of keyPath: String, in root: YAMLNode) -> Int? {
    var node = root
    var tokens: [String] = []
    for part in keyPath.split(separator: ".") {
        var s = Substring(part)
        if let bracket = s.firstIndex(of: "[") {
            tokens.append(String(s[..<bracket]))
            s = s[bracket...]
            while let open = s.firstIndex(of: "["), let close = s.firstIndex(of: "]") {
                tokens.append(String(s[open ... close]))
                s = s[s.index(after: close)...]
            }
        } else {
            tokens.append(String(s))
        }
    }
    var lastLine = root.line
    for t in tokens {
        if t.hasPrefix("[") {
            guard node.kind == .sequence, let i = Int(t.dropFirst().dropLast()), i < node.children.count else { return lastLine }
            node = node.children[i]
        } else {
            guard node.kind == .mapping else { return lastLine }
            var found: YAMLNode?
            var k = 0
            while k + 1 < node.children.count {
                if node.children[k].scalar == t { found = node.children[k + 1]; lastLine = node.children[k].line }
                k += 2
            }
            guard let f = found else { return lastLine }
            node = f
        }
        lastLine = node.kind == .scalar ? node.line : lastLine
    }
    return lastLine
}
