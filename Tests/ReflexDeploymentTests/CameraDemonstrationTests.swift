import Foundation
import Testing
import ReflexCore
import ReflexPolicy
import ReflexRobot
@testable import ReflexSim

/// `reflex collect --camera`: demonstrations with rendered frames, uint8 in the same safetensors file — written by
/// ReflexSim's collector, read back by ReflexPolicy's demonstration reader.
@Suite struct CameraDemonstrationTests {
    @Test func cameraSpecsParseAndRefuseWithTheReason() throws {
        let s = try TaskCameraSpec(parsing: "front:96x72")
        #expect(s.placement == .front && s.width == 96 && s.height == 72 && s.tensorName == "images.front")
        #expect(s.description == "front:96x72")
        for bad in ["front", "front:96", "top:96x96", "wrist:0x10", "wrist:10x5000", "front:ax9", "front:9x9:1"] {
            #expect(throws: ReflexError.self, "\(bad)") { try TaskCameraSpec(parsing: bad) }
        }
        let env = try SimTask.make(robot: RobotDescription.named("so101"), task: "lift")
        let twice = [try TaskCameraSpec(parsing: "front:8x8"), try TaskCameraSpec(parsing: "front:16x16")]
        #expect(throws: ReflexError.self) { try TaskCameraRig(environment: env, specs: twice) }
    }

    /// Two lift episodes with a front and a wrist camera: the frames are U8 [N, H, W, 3] beside the F32 tensors,
    /// frame k is what the camera saw with observation k (the first frame of an episode equals a frame rendered at
    /// the same seed's start on another environment), the meta lists the cameras, and the state-only reader still
    /// reads the directory.
    @Test func framesAreRecordedWithTheirObservations() throws {
        let robot = try RobotDescription.named("so101")
        let specs = [try TaskCameraSpec(parsing: "front:32x24"), try TaskCameraSpec(parsing: "wrist:16x16")]
        let episodes = try DemonstrationCollector.collect(robot: robot, task: .lift, episodes: 2, seed: 40, workers: 2, cameras: specs)
        let env = try SimTask.make(robot: robot, task: "lift")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("camera-demos-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try DemonstrationCollector.write(episodes, robot: "so101", task: .lift, controlHz: env.config.controlHz,
                                         observationNames: env.observationSpace.names ?? [],
                                         actionNames: env.actionSpace.names ?? [], cameras: specs, to: dir)
        let n = episodes.reduce(0) { $0 + $1.length }
        let file = try SafetensorsFile(path: dir + "/demos.safetensors")
        for s in specs {
            let e = try #require(file.entry(s.tensorName))
            #expect(e.dtype == .u8 && e.shape == [n, s.height, s.width, 3])
        }
        // The second episode's first frames, against the same start rendered on another environment.
        var observation = [Float](repeating: 0, count: env.observationSpace.size)
        env.reset(seed: 41, observation: &observation)
        let rig = try TaskCameraRig(environment: env, specs: specs)
        rig.render()
        let start = episodes[0].length
        for (c, s) in specs.enumerated() {
            let all = try file.rawBytes(s.tensorName)
            let first = Array(all[start * s.frameBytes ..< (start + 1) * s.frameBytes])
            #expect(first == Array(UnsafeBufferPointer(rig.images[c].rgb)), "\(s) frame at the start of seed 41")
            let last = Array(all[(n - 1) * s.frameBytes ..< n * s.frameBytes])
            #expect(last != first, "\(s): the arm moved during the episode")
        }
        let observations = try file.tensor("observations")
        #expect(Array(UnsafeBufferPointer(start: observations.data + start * observation.count, count: observation.count)) == observation)
        let meta = try readFile(dir + "/meta.json").withUnsafeBufferPointer { try JSONParser.parse($0) }
        let cameras = try #require(meta["cameras"]?.arrayValue)
        #expect(cameras.map { $0["tensor"]?.stringValue } == ["images.front", "images.wrist"])
        let (loaded, _) = try Demonstrations.load(directory: dir)
        #expect(loaded.stepCount == n)
        // The reader gives each episode's frames per camera, as the file holds them.
        #expect(loaded.cameras == specs.map { Demonstrations.Camera(name: $0.placement.rawValue, tensor: $0.tensorName, height: $0.height, width: $0.width) })
        for (c, s) in specs.enumerated() {
            let all = try file.rawBytes(s.tensorName)
            #expect(loaded.episodes[0].frames[c] + loaded.episodes[1].frames[c] == all, "\(s)")
        }
        // meta.json naming a tensor the file lacks, or a camera of another size: refused, naming the tensor.
        let metaText = try readTextFile(dir + "/meta.json")
        try writeFileAtomically(Array(metaText.replacingOccurrences(of: "\"images.wrist\"", with: "\"images.side\"").utf8), to: dir + "/meta.json")
        let missing = try #require(throws: ReflexError.self) { try Demonstrations.load(directory: dir) }
        #expect(missing.description.contains("images.side"))
        try writeFileAtomically(Array(metaText.replacingOccurrences(of: "\"width\":16", with: "\"width\":17").utf8), to: dir + "/meta.json")
        let shape = try #require(throws: ReflexError.self) { try Demonstrations.load(directory: dir) }
        #expect(shape.description.contains("images.wrist"), "\(shape)")
    }
}
