import ReflexCore
import ReflexHardware
import ReflexPolicy
import ReflexRobot
import ReflexRuntime
import ReflexSim
import ReflexSteering
import Synchronization

/// The frames a camera policy saw in a run (`reflex run`'s report): how many chunks got fresh frames, how many were
/// held for a stale, torn or missing frame, and the age of the frames used (capture to hand-over, ms).
public struct CameraFrameReport: Codable, Sendable, Equatable {
    /// Frames handed to the policy (one per camera per chunk).
    public var framesUsed: Int
    /// Frames older than the max age when a chunk wanted them (a slow or vanished publisher): the chunk was held.
    public var stale: Int
    /// Frames overwritten on every attempt while being copied: the chunk was held.
    public var torn: Int
    /// No frame published yet (or no feed): the chunk was held.
    public var missing: Int
    /// Chunks held (NaN actions, which the safety layer turns into no move) for any of the three.
    public var heldChunks: Int
    public var ageMedianMilliseconds: Double?
    public var ageMaxMilliseconds: Double?

    public static let empty = CameraFrameReport(framesUsed: 0, stale: 0, torn: 0, missing: 0, heldChunks: 0)

    public var summary: String {
        let ages = ageMedianMilliseconds.map { "ages median \(fmt($0)) ms, max \(fmt(ageMaxMilliseconds ?? $0)) ms" } ?? "no frame used"
        return "frames: \(framesUsed) used (\(ages)), \(stale) stale, \(torn) torn, \(missing) missing; \(heldChunks) chunks held"
    }

    private func fmt(_ v: Double) -> String {
        let r = (v * 100).rounded() / 100
        return "\(r)"
    }
}

/// Where a camera policy's frames come from in a loop: a frame ring (the camera channel's, or one this process
/// renders into), its cameras matched to the policy's by name and size.
public final class CameraFrameFeed: @unchecked Sendable {
    public let reader: FrameRingReader
    /// Ring camera index of each policy camera.
    public let ringCameras: [Int]
    public let maxAgeNanoseconds: UInt64
    /// Called on the loop thread before the frames' freshness is checked (an in-process scene renders here).
    let capture: (() -> Void)?
    let buffers: [UnsafeMutableRawPointer]

    /// Matches `config.cameras` to `reader`'s cameras by name and frame size; a ring without one of them, or with
    /// it at another size, is refused with the reason.
    /// - Warning: Not real-time safe.
    public init(reader: FrameRingReader, config: PolicyConfig, maxAge: Double, capture: (() -> Void)? = nil) throws {
        guard let cameras = config.cameras, !cameras.isEmpty else {
            throw ReflexError(.invalidPolicy, "not a camera policy: it takes no frames")
        }
        guard maxAge > 0, maxAge.isFinite else { throw ReflexError(.invalidValue, "frame max age must be positive, got \(maxAge)") }
        do {
            ringCameras = try cameras.map { c in
                try reader.camera(named: c.name, width: c.encoder.imageWidth, height: c.encoder.imageHeight)
            }
        } catch let e as FrameRingError {
            throw e.reflexError
        }
        self.reader = reader
        maxAgeNanoseconds = UInt64(maxAge * 1e9)
        self.capture = capture
        buffers = ringCameras.map { reader.cameras[$0].frameBytes }.map {
            let p = UnsafeMutableRawPointer.allocate(byteCount: $0, alignment: 64)
            p.initializeMemory(as: UInt8.self, repeating: 0, count: $0)
            return p
        }
    }

    deinit { buffers.forEach { $0.deallocate() } }

    /// Whether every camera's newest frame is younger than the max age (loop thread: a tick without fresh frames
    /// holds, as one without a fresh cube pose does).
    /// - Note: Real-time safe.
    public func fresh(now: UInt64) -> Bool {
        capture?()
        for k in ringCameras {
            guard let f = reader.newest(camera: k) else { return false }
            if now > f.captureTime && now - f.captureTime > maxAgeNanoseconds { return false }
        }
        return true
    }
}

/// A Reflex camera policy in the real-time loop: before each chunk, on the inference thread, each camera's newest
/// frame is copied from the feed, its age checked, and handed to `CameraDiffusionPolicy.setFrame`. A stale, torn or
/// missing frame yields a chunk of NaN actions — the safety layer holds the arm on NaN, unchanged — and is counted.
public final class CameraFramePolicy: Policy, @unchecked Sendable {
    public let policy: CameraDiffusionPolicy
    public var config: PolicyConfig { policy.config }
    /// The frames; set (with no loop running) by `Deployment.attachFrames(to:)`.
    public var feed: CameraFrameFeed?
    private let counters = CameraFrameCounters()
    private let ages: UnsafeMutablePointer<UInt64>
    private let ageCapacity = 1 << 16

    public init(policy: CameraDiffusionPolicy) {
        self.policy = policy
        ages = .allocate(capacity: ageCapacity)
        ages.initialize(repeating: 0, count: ageCapacity)
    }

    deinit { ages.deallocate() }

    public func reset() { policy.reset() }

    /// Feeds every camera's newest frame; false (counted) if one is missing, torn or stale.
    /// - Note: Real-time safe.
    public func feedFrames(now: UInt64 = monotonicNanoseconds()) -> Bool {
        guard let feed else {
            counters.missing.add(1, ordering: .relaxed)
            return false
        }
        for (k, ring) in feed.ringCameras.enumerated() {
            switch feed.reader.read(camera: ring, into: feed.buffers[k]) {
            case .none:
                counters.missing.add(1, ordering: .relaxed)
                return false
            case .torn:
                counters.torn.add(1, ordering: .relaxed)
                return false
            case .frame(_, let t):
                let age = now > t ? now - t : 0
                guard age <= feed.maxAgeNanoseconds else {
                    counters.stale.add(1, ordering: .relaxed)
                    return false
                }
                policy.setFrame(camera: k, frame: UnsafePointer(feed.buffers[k].assumingMemoryBound(to: UInt8.self)))
                let n = counters.used.add(1, ordering: .relaxed).newValue
                if n <= ageCapacity { ages[n - 1] = age }
            }
        }
        return true
    }

    private func hold(_ output: UnsafeMutablePointer<Float>) -> InferenceInfo {
        counters.held.add(1, ordering: .relaxed)
        output.update(repeating: .nan, count: config.horizon * config.actionSize)
        return InferenceInfo(networkEvaluations: 0, warmStarted: false)
    }

    public func predictChunk(history: UnsafePointer<Float>, stepsExecuted: Int, output: UnsafeMutablePointer<Float>,
                             generator: inout RandomGenerator) -> InferenceInfo {
        guard feedFrames() else { return hold(output) }
        return policy.predictChunk(history: history, stepsExecuted: stepsExecuted, output: output, generator: &generator)
    }

    public func predictChunk(history: UnsafePointer<Float>, context: ChunkContext, output: UnsafeMutablePointer<Float>,
                             generator: inout RandomGenerator) -> InferenceInfo {
        guard feedFrames() else { return hold(output) }
        return policy.predictChunk(history: history, context: context, output: output, generator: &generator)
    }

    /// The counts and ages so far (read with no loop running, or as a snapshot that may lag a frame).
    public func report() -> CameraFrameReport {
        let used = counters.used.load(ordering: .relaxed)
        let n = min(used, ageCapacity)
        var sorted = (0 ..< n).map { ages[$0] }
        sorted.sort()
        return CameraFrameReport(framesUsed: used, stale: counters.stale.load(ordering: .relaxed),
                                 torn: counters.torn.load(ordering: .relaxed), missing: counters.missing.load(ordering: .relaxed),
                                 heldChunks: counters.held.load(ordering: .relaxed),
                                 ageMedianMilliseconds: sorted.isEmpty ? nil : Double(sorted[sorted.count / 2]) * 1e-6,
                                 ageMaxMilliseconds: sorted.last.map { Double($0) * 1e-6 })
    }

    /// Forgets the counts and ages (between runs).
    public func resetReport() {
        counters.used.store(0, ordering: .relaxed)
        counters.stale.store(0, ordering: .relaxed)
        counters.torn.store(0, ordering: .relaxed)
        counters.missing.store(0, ordering: .relaxed)
        counters.held.store(0, ordering: .relaxed)
    }
}

final class CameraFrameCounters: Sendable {
    let used = Atomic<Int>(0), stale = Atomic<Int>(0), torn = Atomic<Int>(0), missing = Atomic<Int>(0), held = Atomic<Int>(0)
}

/// The task cameras of an in-process simulated scene (`reflex run --sim` with a camera policy): on the loop thread,
/// each tick, the scene is rendered straight into the slots of a frame ring in this process's memory, which the
/// policy reads on the inference thread as it would read the camera channel's.
public final class SimSceneCameras: @unchecked Sendable {
    public let writer: FrameRingWriter
    private let renderer: SceneRenderer
    private let cameras: [SimCamera]
    private let depth: [UnsafeMutablePointer<Float>]
    private let segmentation: [UnsafeMutablePointer<Int32>]
    private let world: BulletWorld

    /// The policy's cameras (`front`, `wrist`, at its frame sizes) in `scene`'s world.
    public init(robot: SimulatedRobot, scene: SimScene, config: PolicyConfig) throws {
        guard let world = robot.simulation else { throw ReflexError(.device, "the simulated arm is not configured") }
        let model = robot.description.model
        var wristLink = -1
        if let ee = model.linkIndex(robot.description.endEffectorLink), ee > 0 {
            let joint = model.joints[ee - 1]
            wristLink = joint.type == .fixed ? (model.linkIndex(joint.parent).map { $0 - 1 } ?? -1) : ee - 1
        }
        var cameras: [SimCamera] = [], ring: [FrameRingCamera] = []
        for c in config.cameras ?? [] {
            let (w, h) = (c.encoder.imageWidth, c.encoder.imageHeight)
            switch TaskCameraSpec.Placement(rawValue: c.name) {
            case .front: cameras.append(TaskSceneLook.frontCamera(width: w, height: h))
            case .wrist:
                guard wristLink >= 0 else { throw ReflexError(.invalidArgument, "\(robot.description.name) has no end-effector link to carry a wrist camera") }
                cameras.append(TaskSceneLook.wristCamera(width: w, height: h, link: wristLink))
            case nil:
                throw ReflexError(.invalidArgument, "the policy's camera '\(c.name)' is not one the sim tasks render (\(TaskCameraSpec.Placement.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            try cameras.last?.intrinsics.validate()
            ring.append(try FrameRingCamera(name: c.name, width: w, height: h))
        }
        renderer = SceneRenderer()
        try renderer.addMultiBody(model, body: 0)
        renderer.addStaticBox(halfExtents: TaskSceneLook.tableHalfExtents, position: TaskSceneLook.tableCenter, color: TaskSceneLook.tableColor)
        if scene.cubeBody >= 0 {
            let h = scene.cubeHalfExtent
            renderer.addBox(object: scene.cubeBody, halfExtents: Vector3(h, h, h), color: TaskSceneLook.cubeColor)
        }
        self.cameras = cameras
        self.world = world
        depth = ring.map { UnsafeMutablePointer<Float>.allocate(capacity: $0.width * $0.height) }
        segmentation = ring.map { UnsafeMutablePointer<Int32>.allocate(capacity: $0.width * $0.height) }
        writer = try FrameRingWriter(path: nil, cameras: ring, slots: 2)
        capture() // the renderer sizes its scratch on the first frame, before any loop runs
    }

    deinit {
        depth.forEach { $0.deallocate() }
        segmentation.forEach { $0.deallocate() }
    }

    /// Renders every camera into its next slot, stamped now.
    /// - Note: Real-time safe.
    public func capture() {
        let now = monotonicNanoseconds()
        for k in cameras.indices {
            let rgb = writer.beginFrame(camera: k).assumingMemoryBound(to: UInt8.self)
            renderer.render(cameras[k], world: world, rgb: rgb, depth: depth[k], segmentation: segmentation[k])
            writer.commitFrame(camera: k, captureTime: now)
        }
    }
}

extension Deployment {
    /// Gives `policy` this arm's frames: on a simulated arm its scene rendered in process each tick, on a bus arm
    /// with a camera channel the channel's frame ring (`FrameRing.defaultPath(forChannel:)`). From then on the
    /// observation holds while a frame is older than the camera max age. Call with no loop running.
    /// - Warning: Not real-time safe.
    public func attachFrames(to policy: CameraFramePolicy) throws {
        let maxAge = config.cameraMaxAge ?? ArmConfig.defaultCameraMaxAge
        if let scene, let arm = robot as? SimulatedRobot {
            let cameras = try SimSceneCameras(robot: arm, scene: scene, config: policy.config)
            let feed = try CameraFrameFeed(reader: FrameRingReader(sharing: cameras.writer), config: policy.config, maxAge: maxAge,
                                           capture: { cameras.capture() })
            policy.feed = feed
            frames = feed
            return
        }
        guard givesFrames, let channel = config.camera else {
            throw ReflexError(.invalidArgument, "a camera policy needs frames: run it on --sim, or on --port with --camera (a camera channel with a frame ring)")
        }
        let path = config.frames ?? FrameRing.defaultPath(forChannel: channel)
        let reader: FrameRingReader
        do { reader = try FrameRingReader(path: path) } catch { throw error.reflexError }
        let feed = try CameraFrameFeed(reader: reader, config: policy.config, maxAge: maxAge)
        policy.feed = feed
        frames = feed
    }
}

extension Deployment {
    /// Whether `attachFrames(to:)` has frames to give: a simulated arm with its scene, or a bus arm with a camera
    /// channel (its frame ring beside it).
    public var givesFrames: Bool {
        (scene != nil && robot is SimulatedRobot) || (config.camera != nil && camera != nil)
    }

    /// Observations built from now on check no frames (a policy without cameras after a camera policy's episode).
    /// Call with no loop running.
    public func detachFrames() { frames = nil }
}

extension PolicyLoader {
    /// `load(directory:…)` for the real-time loop of `reflex run`: a camera policy comes back as a
    /// `CameraFramePolicy` waiting for its frames (`Deployment.attachFrames(to:)`), with its sampler, DSRL actor and
    /// V-GPS critics (`SteeringPipeline`).
    /// - Warning: Not real-time safe.
    public static func loadForLoop(directory: String, sampler: SamplerSpec? = nil, steering: SteeringDefaults = SteeringDefaults())
        throws -> Policy {
        // A LeRobot checkpoint (config.json, no policy.yaml) goes through the steering pipeline as any non-camera
        // policy does; its camera checkpoints are refused there with the reason (the loop has no frames for them).
        guard PolicyDirectory.isPolicyDirectory(directory),
              try PolicyDirectory.readConfig(directory).cameras != nil else {
            return try load(directory: directory, sampler: sampler, steering: steering)
        }
        let pipeline = try SteeringPipeline(directory: directory, sampler: sampler, overrides: steering)
        guard let policy = try pipeline.makePolicy(acceptingFrames: true) as? CameraDiffusionPolicy else {
            throw ReflexError(.invalidPolicy, "not a camera policy", at: .init(file: directory))
        }
        return CameraFramePolicy(policy: policy)
    }
}
