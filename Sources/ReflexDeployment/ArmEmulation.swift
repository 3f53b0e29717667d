import Foundation
#if canImport(Glibc)
import Glibc
#endif
import ReflexCore
import ReflexHardware
import ReflexRobot
import ReflexSim

/// `reflex emulate`'s engine, usable in-process (tests, embedders): a servo bus behind a pseudo-terminal, its servos
/// moved by first-order motors or — hardware in the loop — by the Bullet arm of a task, whose scene is published over
/// a camera channel (the cube's pose as a camera's estimate, the scorer's verdict) while episode resets are taken
/// from the runner on the same channel. Faults are armed up front or drawn at rates.
public final class ArmEmulation: @unchecked Sendable { // `run` on one thread; the bus on the link's own
    /// What to emulate.
    public struct Options: Sendable {
        /// A robot name or description file with a `hardware:` section; or, without one, `bus` + `ids` (+ `model`).
        public var robot: String?
        public var bus: ServoProtocol?
        public var ids: [UInt8] = []
        /// Servo model without `robot` (default: sts3215 on Feetech, xl330 on Dynamixel).
        public var model: String?
        /// Path of the symlink to the pseudo-terminal.
        public var link: String
        /// Faults armed before the first request.
        public var faults: [ServoFault] = []
        public var faultRates: ServoFaultRates?
        public var faultSeed: UInt64 = 1
        /// Hardware in the loop: the task (reach, push, lift) whose Bullet arm moves the servos; needs `robot`.
        public var sim: String?
        public var seed: UInt64 = 0
        /// With `sim`: the camera channel's socket path, and its frames per second.
        public var camera: String?
        public var cameraRate: Double = 30
        /// With `camera`: task cameras rendered into the frame ring beside the channel (`FrameRing.defaultPath`, or
        /// `framesPath`), at `frameRate` frames per second (default `cameraRate`), for camera policies.
        public var frames: [TaskCameraSpec] = []
        public var framesPath: String?
        public var frameRate: Double?
        /// SCHED_FIFO priority of the bus thread (nil: normal priority).
        public var priority: Int32?

        public init(link: String) { self.link = link }
    }

    public let options: Options
    /// E.g. "so101 (feetech, 6 servos), moved by the Bullet arm of 'lift'".
    public let title: String
    public let link: EmulatorLink
    public let bullet: BulletServoModel?
    public let publisher: CameraPublisher?
    /// The frame ring and the cameras rendered into it (`options.frames`).
    public let frameWriter: FrameRingWriter?
    private let rig: TaskCameraRig?
    /// Camera-stall episodes drawn so far and the frames they kept back.
    public private(set) var stalls: FaultEpisodeSchedule?
    public private(set) var framesStalled = 0

    /// Builds the bus and its servos, arms the faults, opens the pseudo-terminal (and the camera channel); the bus
    /// answers from here on. Every inconsistent combination is refused with the reason.
    public init(options: Options) throws {
        let o = options
        var servos: [EmulatedServo] = []
        var title: String
        var bullet: BulletServoModel?
        if let robot = o.robot {
            guard o.bus == nil, o.ids.isEmpty, o.model == nil else {
                throw ReflexError(.invalidArgument, "a robot description names its bus, servo ids and models: give the robot or bus + ids, not both")
            }
            let description = try RobotDescription.named(robot)
            let hw = try ArmBusConfiguration(description: description)
            title = "\(description.name) (\(hw.bus), \(hw.servos.count) servos)"
            if let sim = o.sim {
                bullet = try BulletServoModel(description: description, hardware: hw, task: sim, seed: o.seed)
                title += ", moved by the Bullet arm of '\(sim)'"
            }
            // Start where the simulated arm is, or at joint zero (the description's offset) as a freshly calibrated
            // arm would.
            servos = hw.servos.map { s in
                EmulatedServo(table: s.controlTable, id: s.id, position: bullet?.initialTicks(id: s.id) ?? Double(s.offset))
            }
        } else {
            guard o.sim == nil else { throw ReflexError(.invalidArgument, "hardware in the loop (a sim task) needs a robot description") }
            guard let bus = o.bus, !o.ids.isEmpty else { throw ReflexError(.invalidArgument, "give a robot description, or a bus and servo ids") }
            if let bad = o.ids.first(where: { $0 > 252 }) { throw ReflexError(.invalidValue, "servo id \(bad) is outside 0…252") }
            let modelName = o.model ?? (bus == .feetech ? "sts3215" : "xl330")
            guard let table = ServoControlTable.named(modelName), table.wireProtocol == bus else {
                throw ReflexError(.invalidArgument, "servo model \(modelName) does not fit the \(bus) bus")
            }
            servos = o.ids.map { EmulatedServo(table: table, id: $0) }
            title = "\(bus) bus with \(table.modelName) ids \(o.ids)"
        }
        if o.faultRates?.cameraStall != nil && o.camera == nil {
            throw ReflexError(.invalidArgument, "camera stalls (fault rate camera=…) need a camera channel")
        }
        if o.camera != nil {
            guard let bullet else { throw ReflexError(.invalidArgument, "a camera channel needs a sim task (the scene the camera looks at)") }
            guard bullet.environment.cubeBody >= 0 else {
                throw ReflexError(.invalidArgument, "the camera channel publishes the cube's pose: use the lift or push task, not \(o.sim ?? "")")
            }
            guard o.cameraRate > 0 && o.cameraRate <= 1000 else {
                throw ReflexError(.invalidValue, "camera frames per second must be in (0, 1000], got \(o.cameraRate)")
            }
        }
        let emulator: ServoBusEmulator
        if let bullet { emulator = try ServoBusEmulator(servos: servos, model: bullet) } else { emulator = try ServoBusEmulator(servos: servos) }
        for f in o.faults { emulator.inject(f) }
        if let rates = o.faultRates { emulator.setFaultRates(rates, seed: o.faultSeed) }
        stalls = o.faultRates?.cameraStall.map { FaultEpisodeSchedule(rate: $0, seed: o.faultSeed &+ 100) }
        publisher = try o.camera.map { try CameraPublisher(path: $0) }
        if !o.frames.isEmpty {
            guard let camera = o.camera, let bullet else {
                throw ReflexError(.invalidArgument, "frames go with a camera channel (--camera) and a sim task (--sim)")
            }
            if let r = o.frameRate, !(r > 0 && r <= 1000) {
                throw ReflexError(.invalidValue, "frames per second must be in (0, 1000], got \(r)")
            }
            let rig = try TaskCameraRig(environment: bullet.environment, specs: o.frames)
            rig.render() // sizes the renderer's scratch before the first published frame
            self.rig = rig
            frameWriter = try FrameRingWriter(path: o.framesPath ?? FrameRing.defaultPath(forChannel: camera),
                                              cameras: o.frames.map { try FrameRingCamera(name: $0.placement.rawValue, width: $0.width, height: $0.height) })
        } else {
            if o.framesPath != nil || o.frameRate != nil { throw ReflexError(.invalidArgument, "a frame ring path or rate needs cameras (--frames front:64x64)") }
            rig = nil
            frameWriter = nil
        }
        link = try EmulatorLink(emulator: emulator, link: o.link, realTimePriority: o.priority)
        self.options = o
        self.title = title
        self.bullet = bullet
    }

    /// Runs the camera side until `shouldStop` (polled every frame) or `seconds` are up: takes the runner's episode
    /// resets, publishes a frame at `cameraRate` (none while a camera stall lasts). Without a camera channel it only
    /// waits. `resetDone` hears each scene reset; `report` is called every `reportEvery` seconds and at the end.
    /// The bus is answered on the link's own thread all along; `stop()` ends it.
    public func run(seconds: Double? = nil, reportEvery: Double = 10, shouldStop: () -> Bool,
                    resetDone: (_ episode: UInt32, _ seed: UInt64) -> Void = { _, _ in }, report: (String) -> Void = { _ in }) {
        let start = monotonicNanoseconds()
        var lastReport = start
        let estimatePeriod = UInt64(1e9 / (publisher == nil ? 10 : options.cameraRate))
        let framePeriod = UInt64(1e9 / (options.frameRate ?? options.cameraRate))
        // One wake-up per estimate or frame, whichever comes more often; each is published when it is due.
        let frame = rig == nil ? estimatePeriod : min(estimatePeriod, framePeriod)
        var nextFrame = start
        var nextEstimate = start, nextImage = start
        var sequence: UInt64 = 0
        while !shouldStop() {
            nextFrame += frame
            var ts = timespec(tv_sec: Int(nextFrame / 1_000_000_000), tv_nsec: Int(nextFrame % 1_000_000_000))
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil)
            if let publisher, let bullet {
                while let r = publisher.nextReset() {
                    // The runner repeats a reset it has not seen acknowledged (every 200 ms); a repeat of the episode
                    // just reset is acknowledged again, not reset again: a second reset, holding the bus thread off
                    // while the world is rebuilt, would land on the runner's first sync read of the episode.
                    let current = link.withEmulator { _ in bullet.episode }
                    if r.episode == current && r.episode != 0 {
                        publisher.acknowledgeReset(episode: r.episode, seed: r.seed)
                        continue
                    }
                    link.withEmulator { e in bullet.reset(seed: r.seed, episode: r.episode, servos: e.servos) }
                    publisher.acknowledgeReset(episode: r.episode, seed: r.seed)
                    resetDone(r.episode, r.seed)
                }
                _ = stalls?.advance(dt: Double(frame) * 1e-9)
                let now = monotonicNanoseconds()
                if stalls?.isActive == true {
                    framesStalled += 1
                } else {
                    if now >= nextEstimate {
                        nextEstimate = max(nextEstimate + estimatePeriod, now)
                        sequence += 1
                        let estimate = link.withEmulator { _ in bullet.estimate(sequence: sequence, time: monotonicNanoseconds()) }
                        publisher.publish(estimate)
                    }
                    if let rig, let frameWriter, now >= nextImage {
                        nextImage = max(nextImage + framePeriod, now)
                        // Rendered under the bus's lock (the bus thread steps the world), stamped when the world
                        // was seen; the copy into the ring happens after.
                        let taken = link.withEmulator { _ in
                            rig.render()
                            return monotonicNanoseconds()
                        }
                        for (k, image) in rig.images.enumerated() {
                            frameWriter.publish(camera: k, pixels: UnsafeRawPointer(image.rgb.baseAddress!), captureTime: taken)
                        }
                    }
                }
            }
            let now = monotonicNanoseconds()
            if nextFrame + frame < now { nextFrame = now } // fell behind: no burst of catch-up frames
            if let seconds, Double(now - start) * 1e-9 >= seconds { break }
            if Double(now - lastReport) * 1e-9 >= reportEvery {
                lastReport = now
                report(summary)
            }
        }
        report(summary)
    }

    /// Stops answering the bus and closes the pseudo-terminal.
    public func stop() { link.stop() }

    /// Runs `run` on a thread of its own — hardware in the loop within one process (tests, an embedder's bench) — until
    /// the handle's `stop()`, which also ends the bus.
    public func runInBackground(resetDone: @escaping @Sendable (_ episode: UInt32, _ seed: UInt64) -> Void = { _, _ in })
        -> BackgroundRun {
        let handle = BackgroundRun(emulation: self)
        Thread.detachNewThread {
            self.run(shouldStop: { handle.stopRequested.withLock { $0 } }, resetDone: resetDone)
            handle.done.signal()
        }
        return handle
    }

    /// A `runInBackground` run.
    public final class BackgroundRun: Sendable {
        fileprivate let stopRequested = PIMutex(false)
        fileprivate let done = DispatchSemaphore(value: 0)
        private let emulation: ArmEmulation
        fileprivate init(emulation: ArmEmulation) { self.emulation = emulation }

        /// Ends the run (waiting for its thread) and the bus; a second call does nothing.
        public func stop() {
            let already = stopRequested.withLock { (stop: inout Bool) -> Bool in defer { stop = true }; return stop }
            guard !already else { return }
            done.wait()
            emulation.stop()
        }
    }

    /// Requests, noise, the faults injected and the fault episodes so far, the cube's position, camera stalls.
    public var summary: String {
        var text = link.withEmulator { e in
            let counts = ServoFaultKind.allCases.compactMap { k in e.injected[k].map { "\(k.rawValue)=\($0)" } }
            var text = "requests \(e.requestsHandled), noise bytes \(e.discardedBytes), faults injected: "
                + (counts.isEmpty ? "none" : counts.joined(separator: " "))
            let episodes = ServoFaultKind.allCases.compactMap { k in e.faultEpisodes[k].map { "\(k.rawValue)=\($0)" } }
            if !episodes.isEmpty { text += ", fault episodes: " + episodes.joined(separator: " ") }
            if let bullet {
                let c = bullet.environment.cubePosition
                text += String(format: ", cube at (%.3f, %.3f, %.3f) m", c.x, c.y, c.z)
            }
            return text
        }
        if let stalls { text += ", camera stalls: \(stalls.started) (\(framesStalled) frames not sent)" }
        return text
    }
}
