import Foundation
import ReflexCore

/// Reads the vertices of STL (binary or ASCII) and Wavefront OBJ meshes, which the simulator turns into
/// convex hulls, and resolves URDF mesh paths.
public enum MeshLoader {
    /// Finds a URDF mesh file: absolute, relative to the URDF's directory, or `package://name/rest`, which is
    /// tried as `rest` and `name/rest` under the URDF's directory and its ancestors (pybullet's lookup, plus
    /// the ROS layout where a package directory sits above the URDF).
    public static func resolve(_ filename: String, base: String) -> String? {
        let fm = FileManager.default
        var candidates: [String] = []
        if filename.hasPrefix("file://") {
            candidates.append(String(filename.dropFirst(7)))
        } else if filename.hasPrefix("package://") {
            let rest = String(filename.dropFirst(10))
            var dir = base.isEmpty ? "." : base
            for _ in 0 ..< 6 {
                candidates.append((dir as NSString).appendingPathComponent(rest))
                if let slash = rest.firstIndex(of: "/") {
                    candidates.append((dir as NSString).appendingPathComponent(String(rest[rest.index(after: slash)...])))
                }
                dir = (dir as NSString).appendingPathComponent("..")
            }
        } else if filename.hasPrefix("/") {
            candidates.append(filename)
        } else {
            candidates.append(((base.isEmpty ? "." : base) as NSString).appendingPathComponent(filename))
        }
        return candidates.first { fm.fileExists(atPath: $0) }.map { ($0 as NSString).standardizingPath }
    }

    /// Vertex coordinates x, y, z, … of an `.stl` or `.obj` file.
    public static func vertices(path: String) throws -> [Double] {
        let bytes = try readFile(path)
        let lower = path.lowercased()
        if lower.hasSuffix(".obj") { return try obj(bytes, path: path) }
        if lower.hasSuffix(".stl") { return try stl(bytes, path: path) }
        throw ReflexError(.urdfMesh, "unsupported mesh format (STL and OBJ are read)", at: .init(file: path))
    }

    /// The vertices the faces use, face by face, in single precision as tinyobj (and so pybullet) reads them.
    static func obj(_ bytes: [UInt8], path: String) throws -> [Double] {
        var vertices: [Double] = []
        var out: [Double] = []
        let text = String(decoding: bytes, as: UTF8.self)
        var lineNumber = 0
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            lineNumber += 1
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let head = parts.first else { continue }
            if head == "v" {
                guard parts.count >= 4, let x = Float(parts[1]), let y = Float(parts[2]), let z = Float(parts[3]) else {
                    throw ReflexError(.urdfMesh, "bad vertex line", at: .init(file: path, line: lineNumber))
                }
                vertices += [Double(x), Double(y), Double(z)]
            } else if head == "f" {
                let count = vertices.count / 3
                var face: [Int] = []
                for token in parts.dropFirst() {
                    guard let first = token.split(separator: "/", omittingEmptySubsequences: false).first, let i = Int(first),
                          i != 0, abs(i) <= count else {
                        throw ReflexError(.urdfMesh, "bad face index '\(token)'", at: .init(file: path, line: lineNumber))
                    }
                    face.append(i > 0 ? i - 1 : count + i)
                }
                // Triangulated as a fan, as tinyobj does.
                guard face.count >= 3 else { continue }
                for k in 1 ..< face.count - 1 {
                    for i in [face[0], face[k], face[k + 1]] { out += vertices[3 * i ..< 3 * i + 3] }
                }
            }
        }
        if out.isEmpty { out = vertices } // a point cloud without faces
        guard !out.isEmpty else { throw ReflexError(.urdfMesh, "no vertices", at: .init(file: path)) }
        return out
    }

    static func stl(_ bytes: [UInt8], path: String) throws -> [Double] {
        // Binary STL: 80-byte header, UInt32 count, 50 bytes per triangle. Some binary files start with "solid",
        // so the size decides.
        if bytes.count >= 84 {
            let count = Int(UInt32(bytes[80]) | UInt32(bytes[81]) << 8 | UInt32(bytes[82]) << 16 | UInt32(bytes[83]) << 24)
            if 84 + count * 50 == bytes.count {
                var out: [Double] = []
                out.reserveCapacity(count * 9)
                bytes.withUnsafeBytes { raw in
                    for t in 0 ..< count {
                        let base = 84 + t * 50 + 12
                        for k in 0 ..< 9 {
                            let bits = raw.loadUnaligned(fromByteOffset: base + 4 * k, as: UInt32.self)
                            out.append(Double(Float(bitPattern: UInt32(littleEndian: bits))))
                        }
                    }
                }
                guard !out.isEmpty else { throw ReflexError(.urdfMesh, "no triangles", at: .init(file: path)) }
                return out
            }
        }
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasPrefix("solid") else {
            throw ReflexError(.urdfMesh, "neither binary STL (size does not match the triangle count) nor ASCII STL",
                              at: .init(file: path))
        }
        var out: [Double] = []
        var lineNumber = 0
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            lineNumber += 1
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.first == "vertex" else { continue }
            guard parts.count == 4, let x = Double(parts[1]), let y = Double(parts[2]), let z = Double(parts[3]) else {
                throw ReflexError(.urdfMesh, "bad vertex line", at: .init(file: path, line: lineNumber))
            }
            out += [x, y, z]
        }
        guard !out.isEmpty else { throw ReflexError(.urdfMesh, "no vertices", at: .init(file: path)) }
        return out
    }
}
