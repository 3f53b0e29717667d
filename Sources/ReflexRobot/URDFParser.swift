import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import ReflexCore

/// A parsed XML element with the line it starts on.
struct XMLElementNode {
    var name: String
    var attributes: [String: String]
    var children: [XMLElementNode]
    var line: Int

    func child(_ name: String) -> XMLElementNode? { children.first { $0.name == name } }
    func all(_ name: String) -> [XMLElementNode] { children.filter { $0.name == name } }
}

/// Builds an element tree with Foundation's XMLParser, keeping each element's line for error messages.
final class XMLTreeBuilder: NSObject, XMLParserDelegate {
    private var stack: [XMLElementNode] = []
    var root: XMLElementNode?
    weak var parser: XMLParser?

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        stack.append(XMLElementNode(name: elementName, attributes: attributeDict, children: [], line: parser.lineNumber))
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        guard let node = stack.popLast() else { return }
        if stack.isEmpty { root = node } else { stack[stack.count - 1].children.append(node) }
    }
}

/// Reads URDF files: links, inertials, geometry (box, cylinder, sphere, capsule, STL/OBJ meshes), visual material
/// colours, joints (revolute, continuous, prismatic, fixed) with limits, damping and friction, `package://` and
/// relative paths.
public enum URDFParser {
    /// Parses the URDF at `path`; meshes are found relative to its directory.
    public static func load(path: String) throws -> URDFModel {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ReflexError(.fileNotFound, "no such URDF file", at: .init(file: path))
        }
        let bytes = try readFile(path)
        var model = try parse(Data(bytes), file: path, baseDirectory: (path as NSString).deletingLastPathComponent)
        model.path = path
        return model
    }

    /// Parses URDF text; `baseDirectory` resolves relative and `package://` mesh paths.
    public static func parse(_ data: Data, file: String? = nil, baseDirectory: String = ".") throws -> URDFModel {
        // Foundation's XMLParser on Linux traps (it does not throw) when a comment holds bytes that are not UTF-8 —
        // a Latin-1 author's name in a header comment is enough (found by the urdf fuzz target) — so check first.
        if let offset = invalidUTF8Offset(data) {
            throw ReflexError(.urdfSyntax, "the URDF is not UTF-8 text (byte \(offset) starts no UTF-8 character); re-save it as UTF-8",
                              at: .init(file: file, byteOffset: offset))
        }
        // It also crashes (strlen of a null pointer) on a processing instruction with no data, `<?name?>` — found by
        // the urdf fuzz target once its Swift code was instrumented — wherever libxml2 meets one: after a malformed
        // XML declaration it recovers and reads on, and an entity's replacement text can spell one. So the bytes are
        // searched for that shape anywhere, and a DTD (the only source of entities; URDF uses none) is refused.
        if let (offset, what) = unsafeXMLConstruct(data) {
            throw ReflexError(.urdfSyntax, "\(what) at byte \(offset): URDF uses none; remove it", at: .init(file: file, byteOffset: offset))
        }
        let parser = XMLParser(data: data)
        let builder = XMLTreeBuilder()
        parser.delegate = builder
        guard parser.parse(), let root = builder.root else {
            let message = parser.parserError.map { "\($0.localizedDescription)" } ?? "not well-formed XML"
            throw ReflexError(.urdfSyntax, "malformed XML: \(message)",
                              at: .init(file: file, line: parser.lineNumber, column: parser.columnNumber))
        }
        return try Interpreter(file: file, base: baseDirectory).robot(root)
    }

    /// The offset of the first byte that is not part of a well-formed UTF-8 sequence, or nil for valid UTF-8.
    static func invalidUTF8Offset(_ data: Data) -> Int? {
        var decoder = Unicode.UTF8.ForwardParser()
        var iterator = data.makeIterator()
        var offset = 0
        while true {
            switch decoder.parseScalar(from: &iterator) {
            case .valid(let encoded): offset += encoded.count
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    /// The first construct Foundation's XMLParser cannot be trusted with, anywhere in the bytes (comments and
    /// attribute values included: libxml2's recovery decides where those end, not this scan): a processing
    /// instruction with no data (`<?name?>`), or a document type declaration.
    static func unsafeXMLConstruct(_ data: Data) -> (offset: Int, what: String)? {
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> (Int, String)? in
            let b = raw.bindMemory(to: UInt8.self)
            let n = b.count
            let doctype = Array("<!DOCTYPE".utf8)
            var i = 0
            while i + 1 < n {
                if b[i] == 0x3C && b[i + 1] == 0x3F { // "<?"
                    // A name is never empty and holds neither blanks nor '?'; libxml2 passes no data exactly when "?>"
                    // follows the name.
                    var j = i + 2
                    while j < n, b[j] != 0x3F, ![0x20, 0x09, 0x0A, 0x0D].contains(b[j]) { j += 1 }
                    if j > i + 2 && j + 1 < n && b[j] == 0x3F && b[j + 1] == 0x3E {
                        return (i, "a processing instruction with no data ('<?name?>')")
                    }
                } else if b[i] == 0x3C && b[i + 1] == 0x21 && i + doctype.count <= n
                            && (0 ..< doctype.count).allSatisfy({ b[i + $0] == doctype[$0] }) {
                    return (i, "a document type declaration ('<!DOCTYPE')")
                }
                i += 1
            }
            return nil
        }
    }

    struct Interpreter {
        var file: String?
        var base: String

        func error(_ message: String, _ node: XMLElementNode, _ element: String? = nil,
                   code: ReflexError.Code = .urdfInvalid) -> ReflexError {
            ReflexError(code, message, at: .init(file: file, line: node.line, element: element ?? "<\(node.name)>"))
        }

        func number(_ node: XMLElementNode, _ key: String, _ element: String, default value: Double? = nil) throws -> Double {
            guard let text = node.attributes[key] else {
                if let value { return value }
                throw error("missing attribute '\(key)'", node, element)
            }
            guard let v = Double(text.trimmingCharacters(in: .whitespaces)), v.isFinite else {
                throw error("attribute '\(key)' is not a number: '\(text)'", node, element)
            }
            return v
        }

        func vector(_ node: XMLElementNode, _ key: String, _ element: String, default value: Vector3) throws -> Vector3 {
            guard let text = node.attributes[key] else { return value }
            let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "," })
            let values = parts.compactMap { Double($0) }
            guard values.count == 3, parts.count == 3, values.allSatisfy(\.isFinite) else {
                throw error("attribute '\(key)' needs three numbers, got '\(text)'", node, element)
            }
            return Vector3(values[0], values[1], values[2])
        }

        func origin(_ parent: XMLElementNode, _ element: String) throws -> URDFOrigin {
            guard let o = parent.child("origin") else { return URDFOrigin() }
            return URDFOrigin(xyz: try vector(o, "xyz", element, default: .zero), rpy: try vector(o, "rpy", element, default: .zero))
        }

        /// A `<material>`'s `<color rgba=…>`, if it has one.
        func materialColor(_ m: XMLElementNode, _ element: String) throws -> SIMD4<Double>? {
            guard let c = m.child("color") else { return nil }
            guard let text = c.attributes["rgba"] else { throw error("<color> without rgba", c, element) }
            let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "," })
            let values = parts.compactMap { Double($0) }
            guard values.count == 4, parts.count == 4, values.allSatisfy(\.isFinite) else {
                throw error("attribute 'rgba' needs four numbers, got '\(text)'", c, element)
            }
            return SIMD4(values[0], values[1], values[2], values[3])
        }

        func robot(_ root: XMLElementNode) throws -> URDFModel {
            guard root.name == "robot" else { throw error("the root element must be <robot>, not <\(root.name)>", root) }
            // Colours by material name, as pybullet's UrdfParser keeps them: the top-level <material>s first, then
            // each named material with a colour inside a <visual>, in file order (a later one replaces an earlier one
            // of the same name, for every visual that names it).
            var materials: [String: SIMD4<Double>] = [:]
            for m in root.all("material") {
                if let name = m.attributes["name"], let c = try materialColor(m, "material '\(name)'") { materials[name] = c }
            }
            var links: [String: URDFLink] = [:]
            var linkOrder: [String] = []
            var visualMaterials: [String: [(name: String?, color: SIMD4<Double>?)]] = [:]
            for l in root.all("link") {
                guard let name = l.attributes["name"], !name.isEmpty else { throw error("a <link> has no name", l) }
                guard links[name] == nil else { throw error("duplicate link name", l, "link '\(name)'") }
                links[name] = try link(l, name)
                linkOrder.append(name)
                var list: [(name: String?, color: SIMD4<Double>?)] = []
                for v in l.all("visual") where v.child("geometry") != nil {
                    let m = v.child("material")
                    let color = try m.flatMap { try materialColor($0, "link '\(name)'") }
                    let materialName = m?.attributes["name"]
                    if let materialName, let color { materials[materialName] = color }
                    list.append((materialName, color))
                }
                visualMaterials[name] = list
            }
            for (name, list) in visualMaterials {
                guard var link = links[name], link.visuals.count == list.count else { continue }
                for (k, m) in list.enumerated() { link.visuals[k].color = m.name.flatMap { materials[$0] } ?? m.color }
                links[name] = link
            }
            guard !links.isEmpty else { throw error("no <link> elements", root) }
            var joints: [URDFJoint] = []
            var jointLines: [Int] = []
            var childOf: [String: Int] = [:]
            for j in root.all("joint") {
                let joint = try self.joint(j)
                let element = "joint '\(joint.name)'"
                guard links[joint.parent] != nil else { throw error("parent link '\(joint.parent)' does not exist", j, element) }
                guard links[joint.child] != nil else { throw error("child link '\(joint.child)' does not exist", j, element) }
                if let other = childOf[joint.child] {
                    throw error("link '\(joint.child)' already has parent joint '\(joints[other].name)'", j, element)
                }
                childOf[joint.child] = joints.count
                joints.append(joint)
                jointLines.append(j.line)
            }
            let roots = linkOrder.filter { childOf[$0] == nil }
            guard roots.count == 1 else {
                if roots.isEmpty {
                    throw error("the joints form a cycle (every link has a parent)", root, "robot '\(root.attributes["name"] ?? "")'")
                }
                throw error("more than one root link: \(roots.joined(separator: ", "))", root, "robot '\(root.attributes["name"] ?? "")'")
            }
            // Depth-first order from the root, children in joint order (pybullet's link numbering).
            var childrenOf: [String: [Int]] = [:]
            for (i, j) in joints.enumerated() { childrenOf[j.parent, default: []].append(i) }
            var orderedLinks: [URDFLink] = []
            var orderedJoints: [URDFJoint] = []
            var visited = Set<String>()
            var stack: [(link: String, joint: Int?)] = [(roots[0], nil)]
            while let (name, jointIndex) = stack.popLast() {
                guard visited.insert(name).inserted else {
                    let line = jointIndex.map { jointLines[$0] } ?? root.line
                    throw ReflexError(.urdfInvalid, "cycle through link '\(name)'",
                                      at: .init(file: file, line: line, element: jointIndex.map { "joint '\(joints[$0].name)'" }))
                }
                guard let link = links[name] else { throw error("no link '\(name)'", root) }
                orderedLinks.append(link)
                if let jointIndex { orderedJoints.append(joints[jointIndex]) }
                for c in (childrenOf[name] ?? []).reversed() { stack.append((joints[c].child, c)) }
            }
            if orderedLinks.count != links.count {
                let unreached = linkOrder.filter { !visited.contains($0) }
                throw error("links not connected to the root '\(roots[0])' (a cycle?): \(unreached.joined(separator: ", "))", root)
            }
            return URDFModel(name: root.attributes["name"] ?? "", links: orderedLinks, joints: orderedJoints, path: file)
        }

        func link(_ l: XMLElementNode, _ name: String) throws -> URDFLink {
            let element = "link '\(name)'"
            var inertial: URDFInertial?
            if let i = l.child("inertial") {
                let mass = try i.child("mass").map { try number($0, "value", element) } ?? 0
                var tensor = [Double](repeating: 0, count: 6)
                if let t = i.child("inertia") {
                    for (k, key) in ["ixx", "ixy", "ixz", "iyy", "iyz", "izz"].enumerated() {
                        tensor[k] = try number(t, key, element, default: 0)
                    }
                }
                guard mass >= 0 else { throw error("negative mass", i, element) }
                inertial = URDFInertial(origin: try origin(i, element), mass: mass, inertia: tensor)
            }
            var friction: Double?
            if let c = l.child("contact"), let f = c.child("lateral_friction") {
                friction = try number(f, "value", element)
            }
            return URDFLink(name: name, inertial: inertial,
                            visuals: try l.all("visual").compactMap { try shape($0, element) },
                            collisions: try l.all("collision").compactMap { try shape($0, element) },
                            lateralFriction: friction)
        }

        func shape(_ s: XMLElementNode, _ element: String) throws -> URDFShape? {
            guard let g = s.child("geometry") else { throw error("<\(s.name)> without <geometry>", s, element) }
            guard let kind = g.children.first else { throw error("empty <geometry>", g, element) }
            let geometry: URDFGeometry
            switch kind.name {
            case "box":
                geometry = .box(size: try vector(kind, "size", element, default: Vector3(1, 1, 1)))
            case "cylinder":
                geometry = .cylinder(radius: try number(kind, "radius", element), length: try number(kind, "length", element))
            case "capsule":
                geometry = .capsule(radius: try number(kind, "radius", element), length: try number(kind, "length", element))
            case "sphere":
                geometry = .sphere(radius: try number(kind, "radius", element))
            case "mesh":
                guard let filename = kind.attributes["filename"] else { throw error("<mesh> without filename", kind, element) }
                let scale = try vector(kind, "scale", element, default: Vector3(1, 1, 1))
                guard let path = MeshLoader.resolve(filename, base: base) else {
                    throw error("mesh file not found: '\(filename)' (looked under \(base))", kind, element, code: .urdfMesh)
                }
                // Visual meshes are not needed for physics: keep the path, skip reading them.
                var vertices: [Double] = []
                if s.name == "collision" {
                    do {
                        vertices = try MeshLoader.vertices(path: path)
                    } catch let e as ReflexError {
                        throw ReflexError(.urdfMesh, e.message, at: .init(file: file, line: kind.line, element: element), cause: e)
                    }
                    for v in 0 ..< vertices.count / 3 {
                        vertices[3 * v] *= scale.x
                        vertices[3 * v + 1] *= scale.y
                        vertices[3 * v + 2] *= scale.z
                    }
                }
                geometry = .mesh(path: path, scale: scale, vertices: vertices)
            default:
                throw error("unknown geometry <\(kind.name)>", kind, element)
            }
            return URDFShape(origin: try origin(s, element), geometry: geometry)
        }

        func joint(_ j: XMLElementNode) throws -> URDFJoint {
            guard let name = j.attributes["name"], !name.isEmpty else { throw error("a <joint> has no name", j) }
            let element = "joint '\(name)'"
            guard let typeName = j.attributes["type"] else { throw error("missing attribute 'type'", j, element) }
            guard let type = URDFJointType(rawValue: typeName) else {
                throw error("unsupported joint type '\(typeName)' (revolute, continuous, prismatic, fixed)", j, element)
            }
            guard let parent = j.child("parent")?.attributes["link"] else { throw error("missing <parent link=…>", j, element) }
            guard let child = j.child("child")?.attributes["link"] else { throw error("missing <child link=…>", j, element) }
            var axis = Vector3(1, 0, 0)
            if let a = j.child("axis") { axis = try vector(a, "xyz", element, default: axis) }
            if type != .fixed {
                guard axis.norm > 0 else { throw error("zero joint axis", j, element) }
                axis = axis.normalized
            }
            var lower = 0.0, upper = -1.0, effort = 0.0, velocity = 0.0
            if let l = j.child("limit") {
                lower = try number(l, "lower", element, default: 0)
                upper = try number(l, "upper", element, default: 0)
                effort = try number(l, "effort", element, default: 0)
                velocity = try number(l, "velocity", element, default: 0)
            }
            if type == .continuous {
                lower = 0
                upper = -1
            }
            var damping = 0.0, friction = 0.0
            if let d = j.child("dynamics") {
                damping = try number(d, "damping", element, default: 0)
                friction = try number(d, "friction", element, default: 0)
            }
            return URDFJoint(name: name, type: type, parent: parent, child: child, origin: try origin(j, element), axis: axis,
                             lower: lower, upper: upper, effort: effort, velocity: velocity, damping: damping, friction: friction)
        }
    }
}
