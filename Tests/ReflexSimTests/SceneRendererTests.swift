import AllocationCounter
import Foundation
import ReflexCore
import ReflexRobot
import Testing

@testable import ReflexSim

/// Reflex's camera against pybullet's TinyRenderer on the SO-101 lift scene: the images of
/// Fixtures/render_so101.safetensors, made by Fixtures/make_render.py (same URDF, joint angles, table, cube, cameras).
@Suite struct SceneRendererTests {
    static let fixturePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/render_so101.safetensors").path

    struct Scene {
        var world: BulletWorld
        var renderer: SceneRenderer
        var file: SafetensorsFile
    }

    static func doubles(_ file: SafetensorsFile, _ name: String) throws -> [Double] {
        let bytes = try file.rawBytes(name)
        return (0 ..< bytes.count / 8).map { i in
            Double(bitPattern: bytes[8 * i ..< 8 * i + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) })
        }
    }

    /// The fixture's scene in a Bullet world, added to the renderer in pybullet's creation order.
    static func scene() throws -> Scene {
        let file = try SafetensorsFile(path: fixturePath)
        let model = try URDFParser.load(path: URL(fileURLWithPath: so101Path).deletingLastPathComponent().path + "/so101.urdf")
        let world = BulletWorld()
        let arm = try world.addMultiBody(model)
        var q = try doubles(file, "joints")
        q += [Double](repeating: 0, count: world.linkCount(body: arm) - q.count)
        world.resetJoints(body: arm, positions: q)
        world.addPlane()
        let c = try doubles(file, "cube"), t = try doubles(file, "table")
        let cube = world.addBox(halfExtents: Vector3(c[0], c[0], c[0]), mass: 0.03, friction: 1, position: Vector3(c[1], c[2], c[3]),
                                yaw: c[4])
        let renderer = SceneRenderer()
        #expect(try renderer.addMultiBody(model, body: arm) == 0)
        #expect(renderer.addStaticBox(halfExtents: Vector3(t[0], t[1], t[2]), position: Vector3(t[3], t[4], t[5]),
                                      color: SIMD4(t[6], t[7], t[8], 1)) == 1)
        #expect(renderer.addBox(object: cube, halfExtents: Vector3(c[0], c[0], c[0]), color: SIMD4(c[5], c[6], c[7], 1)) == 2)
        return Scene(world: world, renderer: renderer, file: file)
    }

    static func camera(_ file: SafetensorsFile, _ name: String) throws -> (SimCamera, SceneRenderer.Segmentation) {
        let p = try doubles(file, "\(name).camera")
        let k = CameraIntrinsics(width: Int(p[0]), height: Int(p[1]), fov: p[2], aspect: p[0] / p[1], near: p[3], far: p[4])
        let link = Int(p[14])
        let pose = CameraPose(eye: Vector3(p[5], p[6], p[7]), target: Vector3(p[8], p[9], p[10]), up: Vector3(p[11], p[12], p[13]),
                              mount: link >= -1 ? .link(body: 0, link: link) : .world)
        return (SimCamera(intrinsics: k, pose: pose), p[15] != 0 ? .objectAndLinkIndex : .object)
    }

    struct Agreement: CustomStringConvertible {
        var segmentation: Double
        var depthMedian: Double
        var depthMax: Double
        var colorMean: Double
        var colorMax: Int
        var description: String {
            String(format: "seg %.4f, depth |Δ| median %.2e max %.2e, colour |Δ| mean %.3f max %d", segmentation, depthMedian,
                   depthMax, colorMean, colorMax)
        }
    }

    static func agreement(_ image: CameraImage, _ file: SafetensorsFile, _ name: String) throws -> Agreement {
        let rgb = try file.rawBytes("\(name).rgb")
        let depthBytes = try file.rawBytes("\(name).depth"), segBytes = try file.rawBytes("\(name).seg")
        func u32(_ b: [UInt8], _ i: Int) -> UInt32 {
            UInt32(b[4 * i]) | UInt32(b[4 * i + 1]) << 8 | UInt32(b[4 * i + 2]) << 16 | UInt32(b[4 * i + 3]) << 24
        }
        let n = image.width * image.height
        var same = 0
        var depthErrors: [Double] = []
        for i in 0 ..< n {
            let seg = Int32(bitPattern: u32(segBytes, i))
            if seg == image.segmentation[i] {
                same += 1
                if seg >= 0 { depthErrors.append(abs(Double(Float(bitPattern: u32(depthBytes, i))) - Double(image.depth[i]))) }
            }
        }
        var colorError = 0.0, colorMax = 0
        for i in 0 ..< 3 * n {
            let e = abs(Int(rgb[i]) - Int(image.rgb[i]))
            colorError += Double(e)
            colorMax = max(colorMax, e)
        }
        depthErrors.sort()
        return Agreement(segmentation: Double(same) / Double(n), depthMedian: depthErrors.isEmpty ? 0 : depthErrors[depthErrors.count / 2],
                         depthMax: depthErrors.last ?? 0, colorMean: colorError / Double(3 * n), colorMax: colorMax)
    }

    /// Reached on all three cameras (release build, x86-64): every pixel's segmentation and colour equal to
    /// pybullet's, depth within 2.4e-7 (2 float ulps near 1; median ≤ 6e-8). The tolerances leave room for a few edge
    /// pixels and a byte of colour rounding on another machine.
    @Test(arguments: ["front", "oblique", "wrist"])
    func matchesTinyRenderer(camera name: String) throws {
        let s = try Self.scene()
        let (camera, mode) = try Self.camera(s.file, name)
        s.renderer.segmentation = mode
        let image = CameraImage(camera.intrinsics)
        try s.renderer.render(camera, world: s.world, into: image)
        let a = try Self.agreement(image, s.file, name)
        #expect(a.segmentation >= 0.999, "\(a)")
        #expect(a.depthMedian <= 1e-7, "\(a)")
        #expect(a.depthMax <= 1e-6, "\(a)")
        #expect(a.colorMean <= 0.05, "\(a)")
        #expect(a.colorMax <= 1 || a.segmentation < 1, "\(a)")
    }

    /// A frame allocates nothing once the scene is set up: fixed and link-mounted cameras, both segmentation modes,
    /// with the arm and the cube moving between frames (the physics step itself is not counted).
    @Test func renderingAllocatesNothing() throws {
        let s = try Self.scene()
        let (front, _) = try Self.camera(s.file, "front")
        let (wrist, _) = try Self.camera(s.file, "wrist")
        let a = CameraImage(front.intrinsics), b = CameraImage(wrist.intrinsics)
        try s.renderer.render(front, world: s.world, into: a)
        #expect(rx_allocation_counter_active() == 1)
        var allocations: UInt64 = 0
        for k in 0 ..< 20 {
            s.world.step(dt: 1.0 / 240)
            let before = rx_thread_allocation_count()
            s.renderer.segmentation = k % 2 == 0 ? .object : .objectAndLinkIndex
            try s.renderer.render(front, world: s.world, into: a)
            try s.renderer.render(wrist, world: s.world, into: b)
            allocations += rx_thread_allocation_count() - before
        }
        #expect(allocations == 0)
    }

    /// The depth convention is pybullet's: 1 and id -1 on the background; a plane facing the camera at distance z
    /// reads far·near / (far − (far − near)·d) = z.
    @Test func depthConvention() throws {
        let world = BulletWorld()
        let renderer = SceneRenderer()
        renderer.addStaticBox(halfExtents: Vector3(0.1, 0.1, 0.01), position: Vector3(0, 0, -0.01), color: SIMD4(0.5, 0.5, 0.5, 1))
        let k = CameraIntrinsics(width: 16, height: 12, fov: 40, near: 0.05, far: 5)
        let camera = SimCamera(intrinsics: k, pose: CameraPose(eye: Vector3(0, 0, 0.5), target: .zero, up: Vector3(0, 1, 0)))
        let image = CameraImage(k)
        try renderer.render(camera, world: world, into: image)
        let centre = 6 * 16 + 8
        #expect(image.segmentation[centre] == 0)
        let d = Double(image.depth[centre])
        #expect(abs(k.far * k.near / (k.far - (k.far - k.near) * d) - 0.5) < 1e-4)
        // A 16×12 view at 40° from 0.5 m sees past the 0.2 m box at its corners.
        #expect(image.segmentation[0] == -1 && image.depth[0] == 1 && image.rgb[0] == 255)
        // Mid-grey (127 per channel) under pybullet's light from above: 0.6·127 + (0.35·cos + 0.05·spec)·127.
        #expect(image.rgb[3 * centre] == image.rgb[3 * centre + 1] && image.rgb[3 * centre] > 110 && image.rgb[3 * centre] < 127)
    }

    @Test func badCamerasGetErrors() throws {
        let world = BulletWorld()
        let renderer = SceneRenderer()
        let pose = CameraPose(eye: Vector3(1, 0, 0), target: .zero)
        let good = CameraIntrinsics(width: 8, height: 6)
        #expect(throws: ReflexError.self) {
            try renderer.render(SimCamera(intrinsics: good, pose: pose), world: world, into: CameraImage(width: 6, height: 8))
        }
        for bad in [CameraIntrinsics(width: 8, height: 6, fov: 0), CameraIntrinsics(width: 8, height: 6, near: 0),
                    CameraIntrinsics(width: 8, height: 6, near: 2, far: 1)] {
            #expect(throws: ReflexError.self) {
                try renderer.render(SimCamera(intrinsics: bad, pose: pose), world: world, into: CameraImage(bad))
            }
        }
    }
}
