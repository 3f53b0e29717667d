import ArgumentParser
import Foundation
import ReflexCore
import ReflexRobot
import ReflexSim

/// `reflex bench render`: sim camera frames (RGB, depth and segmentation) at 96×96 and 640×480.
struct BenchRender: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Sim camera frame time (RGB + depth + segmentation), 96×96 and 640×480, SO-101 lift scene and Panda.",
        discussion: "The pybullet side (getCameraImage, ER_TINY_RENDERER) is Benchmarks/peers/render.py; run it with --compare "
            + "for the side-by-side table."
    )

    @Option(help: "The Panda URDF (pybullet_data's franka_panda/panda.urdf); found in the peers venv if not given.") var panda: String?
    @Option(help: "Timed rounds per figure.") var rounds = 10
    @Option(help: "Frames per round at 96×96 (a fifth of it at 640×480, at least 2).") var frames = 50
    @Option(help: "Scenes: so101, panda (comma separated).") var only = "so101,panda"
    @Option(help: "Image sizes, width x height (comma separated).") var sizes = "96x96,640x480"
    @Option(help: "Also write each scene and size's frame to DIR as raw little-endian files (SCENE.WxH.rgb.u8, .depth.f32, .seg.i32), for Benchmarks/peers/render.py --agreement.")
    var dump: String?
    @Flag(help: "Time with the thread's CPU clock instead of the wall clock (on a loaded machine, leaves out the time the thread waits for a core).")
    var cpuTime = false
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        let scenes = Set(only.split(separator: ",").map(String.init))
        let sizes = try self.sizes.split(separator: ",").map { text -> (Int, Int) in
            let parts = text.split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts[0] > 0, parts[1] > 0 else { throw ValidationError("--sizes: '\(text)' is not WIDTHxHEIGHT") }
            return (parts[0], parts[1])
        }
        var report: [String: TimingSamples] = [:]
        var triangles: [String: Int] = [:]
        if scenes.contains("so101") {
            let scene = try RenderBenchScene.so101()
            triangles["so101"] = scene.renderer.triangleCount
            for (w, h) in sizes {
                report["so101.\(w)x\(h)"] = time(scene, scene.camera(w, h))
                try write(scene, scene.camera(w, h), "so101")
            }
        }
        if scenes.contains("panda") {
            guard let path = panda ?? RenderBenchScene.peersPanda() else {
                throw ValidationError("--panda PATH is needed (pybullet_data's franka_panda/panda.urdf)")
            }
            let scene = try RenderBenchScene.panda(path)
            triangles["panda"] = scene.renderer.triangleCount
            for (w, h) in sizes {
                report["panda.\(w)x\(h)"] = time(scene, scene.camera(w, h))
                try write(scene, scene.camera(w, h), "panda")
            }
        }
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
            return
        }
        let rows = report.sorted { $0.key < $1.key }.map { key, t -> [String] in
            let scene = String(key.split(separator: ".")[0])
            return ["\(key) (\(triangles[scene] ?? 0) triangles)", fmt(t.median / 1000, 3), fmt(t.p10 / 1000, 3), fmt(t.p90 / 1000, 3),
                    fmt(1e6 / t.median, 0)]
        }
        print(table(["frame, 1 thread", "median ms", "p10 ms", "p90 ms", "frames/s"], rows))
    }

    func write(_ scene: RenderBenchScene, _ camera: SimCamera, _ name: String) throws {
        guard let dump else { return }
        try FileManager.default.createDirectory(atPath: dump, withIntermediateDirectories: true)
        let image = CameraImage(camera.intrinsics)
        try scene.renderer.render(camera, world: scene.world, into: image)
        let base = "\(dump)/\(name).\(camera.intrinsics.width)x\(camera.intrinsics.height)"
        try writeFileAtomically(Array(UnsafeRawBufferPointer(image.rgb)), to: base + ".rgb.u8")
        try writeFileAtomically(Array(UnsafeRawBufferPointer(image.depth)), to: base + ".depth.f32")
        try writeFileAtomically(Array(UnsafeRawBufferPointer(image.segmentation)), to: base + ".seg.i32")
    }

    func time(_ scene: RenderBenchScene, _ camera: SimCamera) -> TimingSamples {
        let image = CameraImage(camera.intrinsics)
        let calls = camera.intrinsics.width > 96 ? max(2, frames / 5) : frames
        let frame = {
            scene.renderer.render(camera, world: scene.world, rgb: image.rgb.baseAddress!, depth: image.depth.baseAddress!,
                                  segmentation: image.segmentation.baseAddress!)
        }
        guard cpuTime else { return measure(warmup: 3, rounds: rounds, calls: calls, frame) }
        for _ in 0 ..< 3 { frame() }
        func threadNanos() -> UInt64 {
            var t = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
            return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
        }
        var out: [Double] = []
        for _ in 0 ..< rounds {
            let t0 = threadNanos()
            for _ in 0 ..< calls { frame() }
            out.append(Double(threadNanos() - t0) / 1000 / Double(calls))
        }
        return TimingSamples(roundMicros: out)
    }
}

/// The scenes of `reflex bench render`, built as Benchmarks/peers/render.py builds them in pybullet.
struct RenderBenchScene {
    var world: BulletWorld
    var renderer: SceneRenderer
    var eye: Vector3
    var target: Vector3
    var fov: Double
    /// Kept alive for its world.
    var environment: ArmTaskEnvironment?

    func camera(_ w: Int, _ h: Int) -> SimCamera {
        SimCamera(intrinsics: CameraIntrinsics(width: w, height: h, fov: fov, near: 0.01, far: 5),
                  pose: CameraPose(eye: eye, target: target))
    }

    /// so101:lift with the arm at home and the cube 0.2 m in front of it, seen by the task's front camera.
    static func so101() throws -> RenderBenchScene {
        let robot = try RobotDescription.named("so101")
        let env = try SimTask.make(robot: robot, task: "lift")
        var obs = [Float](repeating: 0, count: env.observationSpace.size)
        env.reset(seed: 0, observation: &obs)
        var q = [Double](repeating: 0, count: env.world.linkCount(body: env.arm))
        for (i, j) in robot.joints.enumerated() { q[j.urdfIndex] = robot.home[i] }
        env.world.resetJoints(body: env.arm, positions: q)
        env.world.setObjectPose(env.cubeBody, position: Vector3(0.2, 0, env.config.cubeHalfExtent))
        let front = TaskSceneLook.frontCamera(width: 1, height: 1).pose
        return RenderBenchScene(world: env.world, renderer: try env.makeRenderer(), eye: front.eye, target: front.target,
                                fov: 60, environment: env)
    }

    /// pybullet_data's Panda (fixed base, joints at zero), the table and a 5 cm cube in front of it.
    static func panda(_ path: String) throws -> RenderBenchScene {
        let model = try URDFParser.load(path: path)
        let world = BulletWorld()
        let arm = try world.addMultiBody(model)
        world.addPlane()
        let cube = world.addBox(halfExtents: Vector3(0.025, 0.025, 0.025), mass: 0.1, friction: 1, position: Vector3(0.5, 0, 0.025))
        let renderer = SceneRenderer()
        try renderer.addMultiBody(model, body: arm)
        renderer.addStaticBox(halfExtents: TaskSceneLook.tableHalfExtents, position: TaskSceneLook.tableCenter,
                              color: TaskSceneLook.tableColor)
        renderer.addBox(object: cube, halfExtents: Vector3(0.025, 0.025, 0.025), color: TaskSceneLook.cubeColor)
        return RenderBenchScene(world: world, renderer: renderer, eye: Vector3(1.4, 0.3, 0.9), target: Vector3(0.2, 0, 0.4),
                                fov: 60, environment: nil)
    }

    static func peersPanda() -> String? {
        var venvs = [ProcessInfo.processInfo.environment["REFLEX_PEERS_VENV"] ?? NSHomeDirectory() + "/.cache/reflex/peers-venv"]
        venvs.append(FileManager.default.currentDirectoryPath + "/.peers-venv")
        for venv in venvs {
            let lib = venv + "/lib"
            for p in ((try? FileManager.default.contentsOfDirectory(atPath: lib)) ?? []).sorted() {
                let path = "\(lib)/\(p)/site-packages/pybullet_data/franka_panda/panda.urdf"
                if FileManager.default.fileExists(atPath: path) { return path }
            }
        }
        return nil
    }
}
