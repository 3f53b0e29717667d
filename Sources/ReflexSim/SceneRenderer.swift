import CBridge
import Foundation
import ReflexCore
import ReflexRobot

/// A CPU rasterizer for simulated scenes that draws what pybullet's TinyRenderer (`getCameraImage` with
/// `ER_TINY_RENDERER`) draws for the same scene and camera: the same tessellation of each visual, the same pixel
/// sampling (pixel (x, y) samples the viewport point (x, y), bottom row first, then flipped), coverage rule
/// (closed triangles, back faces culled), depth test (a later triangle wins a tie), near-plane clipping and shading
/// (`SceneLight`; a flat colour per triangle when its three normals agree, interpolated normals otherwise).
///
/// Geometry is added once (`addMultiBody`, `addBox`, `addStaticBox`); each `render` reads the bodies' poses from a
/// `BulletWorld` and allocates nothing. Objects get pybullet's unique ids in the order they are added, so adding
/// them in the order the world (or a pybullet script) creates them gives the same segmentation values.
///
/// One renderer belongs to one thread at a time.
public final class SceneRenderer: @unchecked Sendable {
    /// What a segmentation pixel holds (pybullet's `flags` of `getCameraImage`).
    public enum Segmentation: Sendable {
        /// The object's unique id (pybullet's default).
        case object
        /// `id + ((linkIndex + 1) << 24)` (`ER_SEGMENTATION_MASK_OBJECT_AND_LINKINDEX`).
        case objectAndLinkIndex
    }

    enum Placement {
        case link(body: Int32, link: Int32)
        case object(Int32)
        case fixed
    }

    struct Instance {
        var placement: Placement
        var objectID: Int32
        var linkIndex: Int32
        /// Base colour per channel as TinyRenderer holds it: 255 × rgba, truncated to a byte.
        var color: SIMD3<Float>
        var firstVertex: Int
        var vertexCount: Int
        var firstTriangle: Int
        var triangleCount: Int
        /// Some triangle interpolates its vertex normals (otherwise vertex normals are not needed per frame).
        var smooth: Bool
    }

    public var light = SceneLight()
    public var segmentation = Segmentation.object

    private var instances: [Instance] = []
    private var nextObjectID: Int32 = 0
    // Geometry in each instance's own frame (link frame, object frame or world), struct-of-arrays, grown at set-up.
    private var positions: [Float] = []
    private var normals: [Float] = []
    private var triangles: [Int32] = []
    /// Per triangle: its three normals agree, so its colour is one value, from `triangleNormals`.
    private var flat: [Bool] = []
    private var triangleNormals: [Float] = []

    // The same, copied into raw memory at set-up for `render`.
    private var packedPositions = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var packedNormals = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var packedTriangles = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private var packedFlat = UnsafeMutablePointer<Bool>.allocate(capacity: 1)
    private var packedTriangleNormals = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// The instance being drawn: its rotation (row-major), for flat triangles' normals.
    private var rotation = (Float(1), Float(0), Float(0), Float(0), Float(1), Float(0), Float(0), Float(0), Float(1))
    private var translation = SIMD3<Float>(0, 0, 0)

    // Per-frame scratch, sized when geometry is added (never in `render`).
    private var worldNormal = UnsafeMutablePointer<Float>.allocate(capacity: 3)
    // Per vertex: viewport x, y, depth-buffer value and 1/w (16 bytes: what a triangle's first tests read).
    private var screen = UnsafeMutablePointer<Float>.allocate(capacity: 4)
    /// Per vertex: the pixel cell it lies strictly inside (⌊y⌋ << 32 | ⌊x⌋ of the viewport position), or a value of
    /// its own when it is on a cell edge, behind the eye or far off screen. Three equal cells: no pixel position.
    private var cells = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
    private var scratchCapacity = 1
    private let pose = UnsafeMutablePointer<Double>.allocate(capacity: 7)
    private let view = UnsafeMutablePointer<Float>.allocate(capacity: 16)
    private let viewProjection = UnsafeMutablePointer<Float>.allocate(capacity: 16)

    public init() {
        pose.initialize(repeating: 0, count: 7)
        view.initialize(repeating: 0, count: 16)
        viewProjection.initialize(repeating: 0, count: 16)
    }

    deinit {
        packedPositions.deallocate()
        packedNormals.deallocate()
        packedTriangles.deallocate()
        packedFlat.deallocate()
        packedTriangleNormals.deallocate()
        screen.deallocate()
        cells.deallocate()
        worldNormal.deallocate()
        pose.deallocate()
        view.deallocate()
        viewProjection.deallocate()
    }

    /// Vertices and triangles over all visuals.
    public var vertexCount: Int { positions.count / 3 }
    public var triangleCount: Int { triangles.count / 3 }

    // MARK: - Scene set-up

    /// Adds the URDF visuals of multibody `body` of the world (meshes are read now); links without visuals are drawn
    /// from their collision shapes, as pybullet does. Returns the object's unique id.
    /// - Warning: Not real-time safe.
    @discardableResult
    public func addMultiBody(_ model: URDFModel, body: Int) throws -> Int {
        let id = nextObjectID
        for (i, link) in model.links.enumerated() {
            let shapes = link.visuals.isEmpty ? link.collisions : link.visuals
            for shape in shapes {
                let rgba = shape.color ?? SIMD4(1, 1, 1, 1)
                guard rgba.w != 0 else { continue } // TinyRenderer skips invisible shapes
                let mesh = try Self.mesh(shape.geometry)
                append(mesh, frame: shape.origin.transform, color: rgba,
                       placement: .link(body: Int32(body), link: Int32(i - 1)), objectID: id, linkIndex: Int32(i - 1))
            }
        }
        nextObjectID += 1
        return Int(id)
    }

    /// Adds a box object of the world (`BulletWorld.addBox`'s index) drawn in `color`. Returns its unique id.
    @discardableResult
    public func addBox(object: Int, halfExtents: Vector3, color: SIMD4<Double>) -> Int {
        let id = nextObjectID
        append(Self.box(2 * halfExtents), frame: Transform3(), color: color, placement: .object(Int32(object)),
               objectID: id, linkIndex: -1)
        nextObjectID += 1
        return Int(id)
    }

    /// Adds a box fixed in the world (a table top: the world's plane has no visual of its own). Returns its id.
    @discardableResult
    public func addStaticBox(halfExtents: Vector3, position: Vector3, color: SIMD4<Double>) -> Int {
        let id = nextObjectID
        append(Self.box(2 * halfExtents), frame: Transform3(translation: position), color: color, placement: .fixed,
               objectID: id, linkIndex: -1)
        nextObjectID += 1
        return Int(id)
    }

    struct Mesh {
        var positions: [Double] = []
        var normals: [Double] = []
        var triangles: [Int32] = []
        /// One normal per triangle when the mesh is shaded flat with shared vertices (vertex normals unused).
        var faceNormals: [Double]?
    }

    /// A box as TinyRenderer's `cube_vertices_textured`: four vertices per face with the face's normal.
    static func box(_ size: Vector3) -> Mesh {
        var m = Mesh()
        let h = 0.5 * size
        // Each face: normal axis, sign; corners counter-clockwise seen from outside.
        for axis in 0 ..< 3 {
            for sign in [-1.0, 1.0] {
                let u = (axis + 1) % 3, v = (axis + 2) % 3
                var corners: [(Double, Double)] = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
                if sign < 0 { corners.reverse() }
                let base = Int32(m.positions.count / 3)
                for (a, b) in corners {
                    var p = [0.0, 0, 0], n = [0.0, 0, 0]
                    p[axis] = sign
                    p[u] = a
                    p[v] = b
                    n[axis] = sign
                    m.positions += [p[0] * h.x, p[1] * h.y, p[2] * h.z]
                    m.normals += n
                }
                m.triangles += [base, base + 1, base + 2, base, base + 2, base + 3]
            }
        }
        return m
    }

    /// The render mesh of one URDF geometry, in the shape's own frame.
    static func mesh(_ geometry: URDFGeometry) throws -> Mesh {
        switch geometry {
        case .box(let size):
            return box(size)
        case .cylinder(let r, let l):
            return try hull(RX_SHAPE_CYLINDER, r, l)
        case .capsule(let r, let l):
            return try hull(RX_SHAPE_CAPSULE, r, l)
        case .sphere(let r):
            return try hull(RX_SHAPE_SPHERE, r, 0)
        case .mesh(let path, let scale, _):
            // Shaded flat (one normal per triangle from its winding); equal corners share a vertex, so a frame
            // transforms each corner once.
            var v = try MeshLoader.vertices(path: path)
            var m = Mesh()
            var faceNormals: [Double] = []
            var index: [SIMD3<Double>: Int32] = [:]
            let count = v.count / 9
            for t in 0 ..< count {
                for k in 0 ..< 3 {
                    v[9 * t + 3 * k] *= scale.x
                    v[9 * t + 3 * k + 1] *= scale.y
                    v[9 * t + 3 * k + 2] *= scale.z
                }
                let a = Vector3(v[9 * t], v[9 * t + 1], v[9 * t + 2])
                let b = Vector3(v[9 * t + 3], v[9 * t + 4], v[9 * t + 5])
                let c = Vector3(v[9 * t + 6], v[9 * t + 7], v[9 * t + 8])
                let n = (b - a).cross(c - a).normalized
                faceNormals += [n.x, n.y, n.z]
                for p in [a, b, c] {
                    let key = SIMD3(p.x, p.y, p.z)
                    if let i = index[key] {
                        m.triangles.append(i)
                    } else {
                        let i = Int32(m.positions.count / 3)
                        index[key] = i
                        m.positions += [p.x, p.y, p.z]
                        m.normals += [n.x, n.y, n.z]
                        m.triangles.append(i)
                    }
                }
            }
            m.faceNormals = faceNormals
            return m
        }
    }

    /// Bullet's tessellation of a round primitive, with TinyRenderer's vertex normals (the normalized position).
    static func hull(_ type: rx_shape_type, _ radius: Double, _ length: Double) throws -> Mesh {
        var vertices = [Double](repeating: 0, count: 3 * 256)
        var indices = [Int32](repeating: 0, count: 3 * 512)
        var vertexCount = 0
        let size = [radius, length, 0]
        let n = rx_primitive_render_mesh(type, size, &vertices, 256, &vertexCount, &indices, indices.count)
        guard n > 0 else {
            throw ReflexError(.simulation, "cannot tessellate a round shape (radius \(radius), length \(length))")
        }
        var m = Mesh()
        m.positions = Array(vertices[0 ..< 3 * vertexCount])
        for i in 0 ..< vertexCount {
            let p = Vector3(vertices[3 * i], vertices[3 * i + 1], vertices[3 * i + 2]).normalized
            m.normals += [p.x, p.y, p.z]
        }
        m.triangles = Array(indices[0 ..< n])
        return m
    }

    private func append(_ mesh: Mesh, frame: Transform3, color: SIMD4<Double>, placement: Placement, objectID: Int32,
                        linkIndex: Int32) {
        let first = positions.count / 3
        let count = mesh.positions.count / 3
        for i in 0 ..< count {
            let p = frame.apply(Vector3(mesh.positions[3 * i], mesh.positions[3 * i + 1], mesh.positions[3 * i + 2]))
            let n = frame.rotation * Vector3(mesh.normals[3 * i], mesh.normals[3 * i + 1], mesh.normals[3 * i + 2])
            positions += [Float(p.x), Float(p.y), Float(p.z)]
            normals += [Float(n.x), Float(n.y), Float(n.z)]
        }
        let firstTriangle = triangles.count / 3
        var smooth = false
        for t in 0 ..< mesh.triangles.count / 3 {
            let a = Int(mesh.triangles[3 * t]), b = Int(mesh.triangles[3 * t + 1]), c = Int(mesh.triangles[3 * t + 2])
            triangles += [Int32(first + a), Int32(first + b), Int32(first + c)]
            func normal(_ k: Int) -> SIMD3<Float> {
                SIMD3(normals[3 * (first + k)], normals[3 * (first + k) + 1], normals[3 * (first + k) + 2])
            }
            if let f = mesh.faceNormals {
                let n = frame.rotation * Vector3(f[3 * t], f[3 * t + 1], f[3 * t + 2])
                flat.append(true)
                triangleNormals += [Float(n.x), Float(n.y), Float(n.z)]
            } else {
                let isFlat = normal(a) == normal(b) && normal(b) == normal(c)
                flat.append(isFlat)
                smooth = smooth || !isFlat
                let n = normal(a)
                triangleNormals += [n.x, n.y, n.z]
            }
        }
        // 255 × rgba in single precision, truncated to a byte, as TinyRenderer's TGAColor *= float does.
        func byte(_ x: Double) -> Float { Float(UInt8(max(0, min(255, (Float(255) * Float(x)).rounded(.towardZero))))) }
        instances.append(Instance(placement: placement, objectID: objectID, linkIndex: linkIndex,
                                  color: SIMD3(byte(color.x), byte(color.y), byte(color.z)), firstVertex: first,
                                  vertexCount: count, firstTriangle: firstTriangle,
                                  triangleCount: mesh.triangles.count / 3, smooth: smooth))
        func pack<T>(_ array: [T], _ old: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<T> {
            old.deallocate()
            let p = UnsafeMutablePointer<T>.allocate(capacity: max(1, array.count))
            array.withUnsafeBufferPointer { if let b = $0.baseAddress { p.initialize(from: b, count: array.count) } }
            return p
        }
        packedPositions = pack(positions, packedPositions)
        packedNormals = pack(normals, packedNormals)
        packedTriangles = pack(triangles, packedTriangles)
        packedFlat = pack(flat, packedFlat)
        packedTriangleNormals = pack(triangleNormals, packedTriangleNormals)
        let needed = positions.count / 3
        if needed > scratchCapacity {
            worldNormal.deallocate()
            screen.deallocate()
            scratchCapacity = max(needed, 2 * scratchCapacity)
            worldNormal = .allocate(capacity: 3 * scratchCapacity)
            screen = .allocate(capacity: 4 * scratchCapacity)
            cells.deallocate()
            cells = .allocate(capacity: scratchCapacity)
        }
    }

    // MARK: - Rendering

    /// Draws the scene as `camera` sees it into `image` (sized as the camera's intrinsics), reading the bodies' poses
    /// from `world`.
    /// - Note: Real-time safe: allocates nothing.
    public func render(_ camera: SimCamera, world: BulletWorld, into image: CameraImage) throws {
        let k = camera.intrinsics
        guard image.width == k.width, image.height == k.height else {
            throw ReflexError(.invalidArgument, "the image is \(image.width)×\(image.height) but the camera renders \(k.width)×\(k.height)")
        }
        try k.validate()
        render(camera, world: world, rgb: image.rgb.baseAddress!, depth: image.depth.baseAddress!,
               segmentation: image.segmentation.baseAddress!)
    }

    /// Draws into raw buffers of width × height pixels (3 bytes a pixel for rgb); the intrinsics must be valid.
    /// - Note: Real-time safe: allocates nothing.
    public func render(_ camera: SimCamera, world: BulletWorld, rgb: UnsafeMutablePointer<UInt8>,
                       depth: UnsafeMutablePointer<Float>, segmentation: UnsafeMutablePointer<Int32>) {
        let k = camera.intrinsics
        let width = k.width, height = k.height
        let pixels = width * height
        rgb.update(repeating: 255, count: 3 * pixels)
        depth.update(repeating: 1, count: pixels)
        segmentation.update(repeating: -1, count: pixels)

        // The camera in the world.
        var eye = camera.pose.eye, target = camera.pose.target, up = camera.pose.up
        if case .link(let body, let link) = camera.pose.mount {
            world.linkPose(body: body, link: link, position: pose, quaternion: pose + 3)
            let t = Transform3(rotation: Rotation3(quaternion: (pose[3], pose[4], pose[5], pose[6])),
                               translation: Vector3(pose[0], pose[1], pose[2]))
            eye = t.apply(eye)
            target = t.apply(target)
            up = t.rotation * up
        }
        SimCamera.viewMatrix(eye: eye, target: target, up: up, into: view)
        let yScale = Float(1.0 / tan(Double(Float.pi) / 180.0 * Double(Float(k.fov)) / 2))
        let xScale = yScale / Float(k.aspect)
        let n = Float(k.near), f = Float(k.far)
        let p10 = (n + f) / (n - f), p14 = 2 * f * n / (n - f)
        // viewProjection = P · V (column-major); P has xScale, yScale, p10, p14 and -1 in (3, 2).
        for c in 0 ..< 4 {
            viewProjection[4 * c] = xScale * view[4 * c]
            viewProjection[4 * c + 1] = yScale * view[4 * c + 1]
            viewProjection[4 * c + 2] = p10 * view[4 * c + 2] + p14 * view[4 * c + 3]
            viewProjection[4 * c + 3] = -view[4 * c + 2]
        }
        let eyeF = SIMD3<Float>(Float(eye.x), Float(eye.y), Float(eye.z))
        let l = light.direction.normalized
        let shading = Shading(light: SIMD3(Float(l.x), Float(l.y), Float(l.z)),
                              lightColor: SIMD3(Float(light.color.x), Float(light.color.y), Float(light.color.z)),
                              ambient: Float(light.ambient), diffuse: Float(light.diffuse), specular: Float(light.specular),
                              base: .zero)
        let byObject = self.segmentation == .object
        for instance in instances {
            transform(instance, world: world, width: width, height: height)
            var s = shading
            s.base = instance.color
            let id = byObject ? instance.objectID : instance.objectID &+ ((instance.linkIndex &+ 1) << 24)
            let target = Target(rgb: rgb, depth: depth, segmentation: segmentation, width: width, height: height, id: id)
            let hiW = Float(width - 1), hiH = Float(height - 1)
            // Locals, so the loop does not reload them from the object after each store through a pointer.
            let packedTriangles = self.packedTriangles, cells = self.cells, screen = self.screen, packedFlat = self.packedFlat
            for t in instance.firstTriangle ..< instance.firstTriangle + instance.triangleCount {
                let a = Int(packedTriangles[3 &* t]), b = Int(packedTriangles[3 &* t &+ 1]), c = Int(packedTriangles[3 &* t &+ 2])
                // All three corners strictly inside one pixel cell: the triangle holds no pixel position.
                let ka = cells[a]
                if ka == cells[b] && ka == cells[c] { continue }
                let ra = screen + 4 * a, rb = screen + 4 * b, rc = screen + 4 * c
                // 1/w has w's sign.
                let wa = ra[3], wb = rb[3], wc = rc[3]
                if wa >= 0 && wb >= 0 && wc >= 0 {
                    // Most triangles of a detailed mesh cover no pixel position at all: drop them here, before any
                    // set-up. An integer lies in [lo, hi] (0 ≤ lo) when hi ≥ 0 and ⌊hi⌋ ≥ lo; truncation is ⌊·⌋ there
                    // and one instruction (rounding functions are library calls on baseline x86-64).
                    let xa = ra[0], xb = rb[0], xc = rc[0], ya = ra[1], yb = rb[1], yc = rc[1]
                    let hiX = min(hiW, max(xa, xb, xc)), hiY = min(hiH, max(ya, yb, yc))
                    guard hiX >= 0, hiY >= 0, hiX.isFinite, hiY.isFinite else { continue }
                    if Float(Int(hiX)) < max(0, min(xa, xb, xc)) || Float(Int(hiY)) < max(0, min(ya, yb, yc)) { continue }
                    // Back faces: in front of the eye, TinyRenderer's test in the world (the eye on the back side of
                    // the triangle's plane) is clockwise winding on the screen.
                    if (xb - xa) * (yc - ya) - (xc - xa) * (yb - ya) <= 0 { continue }
                } else if wa < 0 && wb < 0 && wc < 0 {
                    continue
                } else {
                    // Back faces, as TinyRenderer culls them: seen from the eye, in the world.
                    let w0 = point(a).0, e1 = point(b).0 - w0, e2 = point(c).0 - w0
                    let normal = SIMD3(e1.y * e2.z - e1.z * e2.y, e1.z * e2.x - e1.x * e2.z, e1.x * e2.y - e1.y * e2.x)
                    if ((w0 - eyeF) * normal).sum() >= 0 { continue }
                }
                drawTriangle(a, b, c, triangle: t, flat: packedFlat[t], shading: s, target: target)
            }
        }
    }

    /// Moves an instance's vertices into clip space and its normals into the world.
    private func transform(_ instance: Instance, world: BulletWorld, width: Int, height: Int) {
        let positions = packedPositions, normals = packedNormals
        let hw = Float(width) / 2, hh = Float(height) / 2
        var r = (Float(1), Float(0), Float(0), Float(0), Float(1), Float(0), Float(0), Float(0), Float(1))
        var t = SIMD3<Float>(0, 0, 0)
        switch instance.placement {
        case .fixed:
            break
        case .link(let body, let link):
            world.linkPose(body: Int(body), link: Int(link), position: pose, quaternion: pose + 3)
            (r, t) = Self.rigid(pose)
        case .object(let object):
            world.objectPose(Int(object), position: pose, quaternion: pose + 3)
            (r, t) = Self.rigid(pose)
        }
        rotation = r
        translation = t
        let m = viewProjection
        let smooth = instance.smooth
        let screen = self.screen, cells = self.cells, worldNormal = self.worldNormal
        for v in instance.firstVertex ..< instance.firstVertex + instance.vertexCount {
            // The same arithmetic as `point(_:)`, on locals.
            let px = positions[3 * v], py = positions[3 * v + 1], pz = positions[3 * v + 2]
            let wx = r.0 * px + r.1 * py + r.2 * pz + t.x
            let wy = r.3 * px + r.4 * py + r.5 * pz + t.y
            let wz = r.6 * px + r.7 * py + r.8 * pz + t.z
            let cx = m[0] * wx + m[4] * wy + m[8] * wz + m[12]
            let cy = m[1] * wx + m[5] * wy + m[9] * wz + m[13]
            let cz = m[2] * wx + m[6] * wy + m[10] * wz + m[14]
            let cw = m[3] * wx + m[7] * wy + m[11] * wz + m[15]
            // The viewport transform and divide in single precision, as TinyRenderer does them.
            let rec = screen + 4 * v
            let sx = (hw * cx + hw * cw) / cw, sy = (hh * cy + hh * cw) / cw
            rec[0] = sx
            rec[1] = sy
            if cw > 0 && abs(sx) < 1e6 && abs(sy) < 1e6 {
                // ⌊·⌋ by truncation (one instruction; rounding functions are library calls on baseline x86-64).
                var fx = Int(sx), fy = Int(sy)
                if Float(fx) > sx { fx -= 1 }
                if Float(fy) > sy { fy -= 1 }
                cells[v] = Float(fx) == sx || Float(fy) == sy ? Int64.min + Int64(v) : Int64(fy) << 32 | Int64(fx & 0xffff_ffff)
            } else {
                cells[v] = Int64.min + Int64(v)
            }
            rec[2] = (0.5 * cz + 0.5 * cw) / cw
            rec[3] = 1 / cw
            guard smooth else { continue }
            let nx = normals[3 * v], ny = normals[3 * v + 1], nz = normals[3 * v + 2]
            worldNormal[3 * v] = r.0 * nx + r.1 * ny + r.2 * nz
            worldNormal[3 * v + 1] = r.3 * nx + r.4 * ny + r.5 * nz
            worldNormal[3 * v + 2] = r.6 * nx + r.7 * ny + r.8 * nz
        }
    }

    /// Vertex `v` of the instance being drawn in the world and in clip space (only clipped and crossing triangles ask
    /// again after `transform`, which computes the same numbers).
    @inline(__always)
    private func point(_ v: Int) -> (SIMD3<Float>, SIMD4<Float>) {
        let positions = packedPositions, r = rotation, t = translation, m = viewProjection
        let px = positions[3 * v], py = positions[3 * v + 1], pz = positions[3 * v + 2]
        let wx = r.0 * px + r.1 * py + r.2 * pz + t.x
        let wy = r.3 * px + r.4 * py + r.5 * pz + t.y
        let wz = r.6 * px + r.7 * py + r.8 * pz + t.z
        return (SIMD3(wx, wy, wz), SIMD4(m[0] * wx + m[4] * wy + m[8] * wz + m[12], m[1] * wx + m[5] * wy + m[9] * wz + m[13],
                                         m[2] * wx + m[6] * wy + m[10] * wz + m[14], m[3] * wx + m[7] * wy + m[11] * wz + m[15]))
    }

    private static func rigid(_ p: UnsafeMutablePointer<Double>)
        -> ((Float, Float, Float, Float, Float, Float, Float, Float, Float), SIMD3<Float>) {
        let x = p[3], y = p[4], z = p[5], w = p[6]
        let r = (Float(1 - 2 * (y * y + z * z)), Float(2 * (x * y - z * w)), Float(2 * (x * z + y * w)),
                 Float(2 * (x * y + z * w)), Float(1 - 2 * (x * x + z * z)), Float(2 * (y * z - x * w)),
                 Float(2 * (x * z - y * w)), Float(2 * (y * z + x * w)), Float(1 - 2 * (x * x + y * y)))
        return (r, SIMD3(Float(p[0]), Float(p[1]), Float(p[2])))
    }

    struct Shading {
        var light: SIMD3<Float>
        var lightColor: SIMD3<Float>
        var ambient: Float
        var diffuse: Float
        var specular: Float
        var base: SIMD3<Float>

        /// TinyRenderer's fragment shader for a unit normal, channel by channel in its order of operations.
        @inline(__always)
        func color(_ n: SIMD3<Float>) -> (UInt8, UInt8, UInt8) {
            let nl = (n * light).sum()
            let r = n * (nl * 2) - light
            let rz = r.z / (r * r).sum().squareRoot()
            let s = max(rz, 0)
            let spec = s * s
            let diff = max(0, nl)
            let lit = diffuse * diff + specular * spec
            @inline(__always) func channel(_ c: Float, _ lc: Float) -> UInt8 {
                let v = ambient * c + lit * c * lc
                guard v == v else { return 0 }
                return UInt8(min(255, max(0, Int(v))))
            }
            return (channel(base.x, lightColor.x), channel(base.y, lightColor.y), channel(base.z, lightColor.z))
        }
    }

    struct Target {
        var rgb: UnsafeMutablePointer<UInt8>
        var depth: UnsafeMutablePointer<Float>
        var segmentation: UnsafeMutablePointer<Int32>
        var width: Int
        var height: Int
        var id: Int32 = 0
    }

    /// One clip-space vertex with its world normal.
    struct ClipVertex {
        var p: SIMD4<Float>
        var n: SIMD3<Float>
    }

    /// A vertex ready to fill: viewport x and y, depth-buffer value and 1/w, and its world normal (smooth only).
    struct ScreenVertex {
        var s: SIMD4<Float>
        var n: SIMD3<Float>
    }

    @inline(__always)
    private func worldNormalOf(_ i: Int) -> SIMD3<Float> {
        SIMD3(worldNormal[3 * i], worldNormal[3 * i + 1], worldNormal[3 * i + 2])
    }

    /// A front-facing triangle that may cover a pixel (the caller dropped the others): near-plane clipping, colour.
    @inline(never)
    private func drawTriangle(_ a: Int, _ b: Int, _ c: Int, triangle: Int, flat: Bool, shading: Shading,
                              target: Target) {
        let ra = screen + 4 * a, rb = screen + 4 * b, rc = screen + 4 * c
        let wa = ra[3], wb = rb[3], wc = rc[3]
        if wa < 0 && wb < 0 && wc < 0 { return }
        let inFront = wa >= 0 && wb >= 0 && wc >= 0
        var flatNormal: SIMD3<Float>?
        if flat {
            let r = rotation
            let t = packedTriangleNormals + 3 * triangle
            flatNormal = SIMD3(r.0 * t[0] + r.1 * t[1] + r.2 * t[2], r.3 * t[0] + r.4 * t[1] + r.5 * t[2],
                               r.6 * t[0] + r.7 * t[1] + r.8 * t[2])
        }
        if inFront {
            rasterize(ScreenVertex(s: SIMD4(ra[0], ra[1], ra[2], ra[3]), n: flat ? .zero : worldNormalOf(a)),
                      ScreenVertex(s: SIMD4(rb[0], rb[1], rb[2], rb[3]), n: flat ? .zero : worldNormalOf(b)),
                      ScreenVertex(s: SIMD4(rc[0], rc[1], rc[2], rc[3]), n: flat ? .zero : worldNormalOf(c)),
                      flatNormal: flatNormal, discardOutside: true, shading: shading, target: target)
            return
        }
        // Clip against the near plane (z > -w), then draw the fan.
        @inline(__always) func clipVertex(_ i: Int) -> ClipVertex {
            ClipVertex(p: point(i).1, n: flat ? .zero : worldNormalOf(i))
        }
        let v0 = clipVertex(a), v1 = clipVertex(b), v2 = clipVertex(c)
        var polygon = (v0, v0, v0, v0)
        var count = 0
        @inline(__always) func emit(_ v: ClipVertex) {
            switch count {
            case 0: polygon.0 = v
            case 1: polygon.1 = v
            case 2: polygon.2 = v
            default: polygon.3 = v
            }
            count += 1
        }
        let vs = (v0, v1, v2)
        @inline(__always) func vertex(_ i: Int) -> ClipVertex { i == 0 ? vs.0 : (i == 1 ? vs.1 : vs.2) }
        for i in 0 ..< 3 {
            let p = vertex(i), q = vertex((i + 1) % 3)
            let dp = p.p.z + p.p.w, dq = q.p.z + q.p.w
            let pIn = p.p.w > 0 && dp > 0, qIn = q.p.w > 0 && dq > 0
            if pIn { emit(p) }
            if pIn != qIn, count < 4 {
                let t = dp / (dp - dq)
                emit(ClipVertex(p: p.p + t * (q.p - p.p), n: p.n + t * (q.n - p.n)))
            }
        }
        guard count >= 3 else { return }
        let hw = Float(target.width) / 2, hh = Float(target.height) / 2
        @inline(__always) func project(_ v: ClipVertex) -> ScreenVertex {
            let p = v.p
            return ScreenVertex(s: SIMD4((hw * p.x + hw * p.w) / p.w, (hh * p.y + hh * p.w) / p.w, (0.5 * p.z + 0.5 * p.w) / p.w, 1 / p.w),
                                n: v.n)
        }
        rasterize(project(polygon.0), project(polygon.1), project(polygon.2), flatNormal: flatNormal, discardOutside: false,
                  shading: shading, target: target)
        if count == 4 {
            rasterize(project(polygon.0), project(polygon.2), project(polygon.3), flatNormal: flatNormal, discardOutside: false,
                      shading: shading, target: target)
        }
    }

    /// Fills a triangle: TinyRenderer's coverage (barycentrics ≥ 0 at integer pixel positions of the viewport, in
    /// double precision), found per row as a span of the three edge functions rather than tested pixel by pixel.
    @inline(__always)
    private func rasterize(_ v0: ScreenVertex, _ v1: ScreenVertex, _ v2: ScreenVertex, flatNormal: SIMD3<Float>?,
                           discardOutside: Bool, shading: Shading, target: Target) {
        let width = target.width, height = target.height
        let ax = Double(v0.s.x), ay = Double(v0.s.y), bx = Double(v1.s.x), by = Double(v1.s.y)
        let cx = Double(v2.s.x), cy = Double(v2.s.y)
        let da = Double(v0.s.z), db = Double(v1.s.z), dc = Double(v2.s.z)
        let uz = (cx - ax) * (by - ay) - (bx - ax) * (cy - ay)
        guard abs(uz) > 1e-2 else { return } // TinyRenderer drops degenerate triangles
        guard ax.isFinite, ay.isFinite, bx.isFinite, by.isFinite, cx.isFinite, cy.isFinite else { return }
        let inv = 1 / uz
        // Barycentric weights of B and C as affine functions of the pixel (x, y); A's is 1 − wB − wC.
        let bX = -(cy - ay) * inv, bY = (cx - ax) * inv, b0 = (ax * (cy - ay) - (cx - ax) * ay) * inv
        let cX = (by - ay) * inv, cY = -(bx - ax) * inv, c0 = ((bx - ax) * ay - ax * (by - ay)) * inv
        let aX = -bX - cX, aY = -bY - cY, a0 = 1 - b0 - c0
        let dX = aX * da + bX * db + cX * dc, dY = aY * da + bY * db + cY * dc, d0 = a0 * da + b0 * db + c0 * dc
        // ⌈lo⌉ and ⌊hi⌋ by truncation (both are ≥ 0 once clamped; see drawTriangle).
        @inline(__always) func ceilNonNegative(_ v: Double) -> Int { let t = Int(v); return Double(t) < v ? t + 1 : t }
        let hiY = min(Double(height - 1), max(ay, by, cy)), hiX = min(Double(width - 1), max(ax, bx, cx))
        guard hiY >= 0, hiX >= 0 else { return }
        let minY = ceilNonNegative(max(0, min(ay, by, cy))), maxY = Int(hiY)
        let minX = ceilNonNegative(max(0, min(ax, bx, cx))), maxX = Int(hiX)
        guard minY <= maxY, minX <= maxX else { return }

        // Normals over w are affine in the screen (perspective-correct interpolation up to a scale, which the
        // normalization removes).
        let m0 = v0.n * v0.s.w, m1 = v1.n * v1.s.w, m2 = v2.n * v2.s.w
        // A flat triangle's one colour, computed at its first visible pixel (many small ones have none).
        let flat = flatNormal != nil
        var flatRGB: (UInt8, UInt8, UInt8) = (0, 0, 0)
        var flatShaded = false
        let rgb = target.rgb, depth = target.depth, seg = target.segmentation, id = target.id

        @inline(__always) func shade(_ i: Int, _ d: Float, _ wa: Double, _ wb: Double, _ wc: Double) {
            let color: (UInt8, UInt8, UInt8)
            if flat {
                if !flatShaded, let n = flatNormal {
                    flatRGB = shading.color(n / (n * n).sum().squareRoot())
                    flatShaded = true
                }
                color = flatRGB
            } else {
                let n = Float(wa) * m0 + Float(wb) * m1 + Float(wc) * m2
                color = shading.color(n / (n * n).sum().squareRoot())
            }
            depth[i] = d
            seg[i] = id
            rgb[3 * i] = color.0
            rgb[3 * i + 1] = color.1
            rgb[3 * i + 2] = color.2
        }
        if maxX - minX < 4 {
            // A few pixels wide (most triangles of a detailed mesh): test each pixel position of the box.
            for y in minY ... maxY {
                let fy = Double(y)
                let ra = aY * fy + a0, rb = bY * fy + b0, rc = cY * fy + c0, dRow = dY * fy + d0
                let row = (height - 1 - y) * width
                for x in minX ... maxX {
                    let fx = Double(x)
                    let wa = aX * fx + ra, wb = bX * fx + rb, wc = cX * fx + rc
                    guard wa >= 0, wb >= 0, wc >= 0 else { continue }
                    let d = Float(dX * fx + dRow)
                    let i = row + x
                    if depth[i] < d { continue }
                    if discardOutside && (d < 0 || d > 1) { continue }
                    shade(i, d, wa, wb, wc)
                }
            }
            return
        }
        for y in minY ... maxY {
            let fy = Double(y)
            let ra = aY * fy + a0, rb = bY * fy + b0, rc = cY * fy + c0
            @inline(__always) func inside(_ x: Int) -> Bool {
                let fx = Double(x)
                return aX * fx + ra >= 0 && bX * fx + rb >= 0 && cX * fx + rc >= 0
            }
            // The span where all three weights are ≥ 0, from the edge equations, then fixed up exactly.
            var lo = Double(minX), hi = Double(maxX)
            @inline(__always) func bound(_ s: Double, _ r: Double) {
                if s > 0 { lo = max(lo, -r / s) } else if s < 0 { hi = min(hi, -r / s) } else if r < 0 { lo = hi + 2 }
            }
            bound(aX, ra)
            bound(bX, rb)
            bound(cX, rc)
            guard lo <= hi + 1 else { continue }
            // lo and hi lie within [minX, maxX] here; the fix-up below makes the span exact.
            var x0 = max(minX, Int(lo) - 1), x1 = min(maxX, Int(hi) + 1)
            while x0 <= x1 && !inside(x0) { x0 += 1 }
            while x1 >= x0 && !inside(x1) { x1 -= 1 }
            guard x0 <= x1 else { continue }
            let row = (height - 1 - y) * width
            let dRow = dY * fy + d0
            for x in x0 ... x1 {
                let fx = Double(x)
                let d = Float(dX * fx + dRow)
                let i = row + x
                if depth[i] < d { continue }
                if discardOutside && (d < 0 || d > 1) { continue }
                if flat { shade(i, d, 0, 0, 0) } else { shade(i, d, aX * fx + ra, bX * fx + rb, cX * fx + rc) }
            }
        }
    }
}
