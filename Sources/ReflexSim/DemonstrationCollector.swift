import Foundation
import ReflexCore
import ReflexRobot

/// One recorded episode: per step, the observation seen, the action taken and the reward received.
public struct RecordedEpisode: Sendable {
    public var seed: UInt64
    public var length: Int
    public var success: Bool
    public var episodeReturn: Double
    /// length × observation size, row-major.
    public var observations: [Float]
    /// length × action size.
    public var actions: [Float]
    public var rewards: [Float]
    /// Per camera of the collection (in its order): length frames of height × width × 3 bytes (RGB, top row first),
    /// frame k seen with observation k.
    public var frames: [[UInt8]] = []
}

/// Runs a scripted expert for many seeded episodes (on worker threads, each with its own world) and writes them
/// in Reflex's demonstration format: `demos.safetensors` + `meta.json` (see docs/simulation.md).
public enum DemonstrationCollector {
    /// Episode `k` uses seed `seed + k`; results come back in episode order whatever the worker count.
    public static func collect(robot: RobotDescription, task: TaskKind, episodes: Int, seed: UInt64 = 0, workers: Int = 1,
                               sparseReward: Bool = false, actionNoise: Double = 0, cameras: [TaskCameraSpec] = [],
                               progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws -> [RecordedEpisode] {
        let results = PIMutex<[RecordedEpisode?]>(Array(repeating: nil, count: episodes))
        let next = PIMutex(0)
        let failure = PIMutex<ReflexError?>(nil)
        let counts = PIMutex((done: 0, successes: 0))
        let workerCount = max(1, min(workers, episodes))
        let work: @Sendable () -> Void = {
            do {
                let env = try SimTask.make(robot: robot, task: task.rawValue, sparseReward: sparseReward)
                let expert = try SimTask.expert(for: env)
                let rig = cameras.isEmpty ? nil : try TaskCameraRig(environment: env, specs: cameras)
                while true {
                    let k = next.withLock { n -> Int in let k = n; n += 1; return k }
                    if k >= episodes { break }
                    let e = run(env: env, expert: expert, seed: seed &+ UInt64(k), actionNoise: actionNoise, cameras: rig)
                    results.withLock { $0[k] = e }
                    let c = counts.withLock { c -> (Int, Int) in
                        c.done += 1
                        if e.success { c.successes += 1 }
                        return (c.done, c.successes)
                    }
                    progress(c.0, c.1)
                }
            } catch let e as ReflexError {
                failure.withLock { $0 = e }
            } catch {
                failure.withLock { $0 = ReflexError(.simulation, "\(error)") }
            }
        }
        var finished: [DispatchSemaphore] = []
        for _ in 1 ..< workerCount {
            let done = DispatchSemaphore(value: 0)
            let t = Thread { work(); done.signal() }
            t.stackSize = 1 << 22
            t.start()
            finished.append(done)
        }
        work()
        for d in finished { d.wait() }
        if let e = failure.withLock({ $0 }) { throw e }
        return results.withLock { $0.compactMap { $0 } }
    }

    /// One expert episode from `seed`. With `actionNoise` σ > 0 the expert is a noisy demonstrator: each joint
    /// target gets N(0, σ²) radians added (seeded from `seed`) and the noisy action is what is executed and recorded,
    /// as with jittery teleoperation. Weak-but-diverse base policies for steering (DSRL, V-GPS) are trained on these.
    /// With `cameras` (built on `env`), each step's frames are rendered with its observation.
    public static func run(env: ArmTaskEnvironment, expert: ScriptedExpert, seed: UInt64, actionNoise: Double = 0,
                           cameras: TaskCameraRig? = nil) -> RecordedEpisode {
        var noise = RandomGenerator(seed: seed ^ 0x6E6F_6973_7920_6465)
        let o = env.observationSpace.size, a = env.actionSpace.size
        var obs = [Float](repeating: 0, count: o)
        var action = [Float](repeating: 0, count: a)
        env.reset(seed: seed, observation: &obs)
        expert.reset()
        var e = RecordedEpisode(seed: seed, length: 0, success: false, episodeReturn: 0, observations: [], actions: [], rewards: [])
        e.observations.reserveCapacity(env.maxEpisodeSteps * o)
        e.actions.reserveCapacity(env.maxEpisodeSteps * a)
        if let cameras {
            e.frames = cameras.specs.map { spec in
                var f: [UInt8] = []
                f.reserveCapacity(env.maxEpisodeSteps * spec.frameBytes)
                return f
            }
        }
        while e.length < env.maxEpisodeSteps {
            expert.action(observation: obs, into: &action)
            if actionNoise > 0 {
                for i in 0 ..< a {
                    let low = env.actionSpace.low[i], high = env.actionSpace.high[i]
                    action[i] = min(max(action[i] + Float(actionNoise * noise.gaussian()), low), high)
                }
            }
            e.observations += obs
            e.actions += action
            if let cameras {
                cameras.render()
                for (c, image) in cameras.images.enumerated() { e.frames[c].append(contentsOf: UnsafeBufferPointer(image.rgb)) }
            }
            let out = env.step(action, observation: &obs)
            e.rewards.append(Float(out.reward))
            e.episodeReturn += out.reward
            e.length += 1
            if out.success { e.success = true }
            if out.done { break }
        }
        return e
    }

    /// Writes `DIR/demos.safetensors` (F32 `observations` [N, obs], `actions` [N, act], `rewards` [N], and per camera
    /// U8 `images.<placement>` [N, height, width, 3]; episodes concatenated in order) and `DIR/meta.json` (with a
    /// `cameras` list when there are frames), both atomically. Frames are streamed to the file, not gathered.
    public static func write(_ episodes: [RecordedEpisode], robot: String, task: TaskKind, controlHz: Int,
                             observationNames: [String], actionNames: [String], cameras: [TaskCameraSpec] = [],
                             to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let n = episodes.reduce(0) { $0 + $1.length }
        let o = observationNames.count, a = actionNames.count
        let obs = Tensor(zeros: [n, o]), act = Tensor(zeros: [n, a]), rew = Tensor(zeros: [n])
        var row = 0
        for e in episodes {
            guard e.observations.count == e.length * o, e.actions.count == e.length * a else {
                throw ReflexError(.shapeMismatch, "episode with seed \(e.seed) does not match \(o) observations and \(a) actions")
            }
            guard e.rewards.count == e.length else {
                throw ReflexError(.shapeMismatch, "episode with seed \(e.seed) has \(e.rewards.count) rewards for \(e.length) steps")
            }
            guard e.frames.count == cameras.count,
                  zip(e.frames, cameras).allSatisfy({ $0.count == e.length * $1.frameBytes }) else {
                throw ReflexError(.shapeMismatch, "episode with seed \(e.seed) does not hold \(e.length) frames of each camera \(cameras)")
            }
            if e.length == 0 { continue }
            e.observations.withUnsafeBufferPointer { b in b.baseAddress.map { (obs.data + row * o).update(from: $0, count: b.count) } }
            e.actions.withUnsafeBufferPointer { b in b.baseAddress.map { (act.data + row * a).update(from: $0, count: b.count) } }
            e.rewards.withUnsafeBufferPointer { b in b.baseAddress.map { (rew.data + row).update(from: $0, count: b.count) } }
            row += e.length
        }
        let dataPath = (directory as NSString).appendingPathComponent("demos.safetensors")
        try writeSafetensors([("observations", obs), ("actions", act), ("rewards", rew)],
                             bytes: cameras.indices.map { c in
                                 (cameras[c].tensorName, [n, cameras[c].height, cameras[c].width, 3], episodes.map { $0.frames[c] })
                             }, to: dataPath)
        var members: [(key: String, value: JSONValue)] = [
            ("format", .string("reflex-demonstrations")),
            ("version", .number(1)),
            ("robot", .string(robot)),
            ("task", .string(task.rawValue)),
            ("control_hz", .number(Double(controlHz))),
            ("observation_names", .array(observationNames.map { .string($0) })),
            ("action_names", .array(actionNames.map { .string($0) })),
        ]
        if !cameras.isEmpty {
            members.append(("cameras", .array(cameras.map { c in
                .object([("name", .string(c.placement.rawValue)), ("tensor", .string(c.tensorName)),
                         ("width", .number(Double(c.width))), ("height", .number(Double(c.height)))])
            })))
        }
        members.append(("episodes", .array(episodes.map { e in
            .object([("seed", .number(Double(e.seed))), ("length", .number(Double(e.length))),
                     ("success", .bool(e.success)), ("return", .number(e.episodeReturn))])
        })))
        let meta = JSONValue.object(members)
        try writeFileAtomically(Array(meta.serialized.utf8), to: (directory as NSString).appendingPathComponent("meta.json"))
    }
}
