import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import ReflexCore
import ReflexHardware
import ReflexDeployment
import ReflexRobot
import ReflexSim

/// `reflex emulate`: a device node that behaves like the arm's servo bus, for trying the stack without hardware.
struct Emulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Emulate a robot's servo bus behind a pseudo-terminal (STS3215 / XL330 servos, first-order motors, injected faults).",
        discussion: """
        Clients (reflex servo, reflex run, LeRobot, the vendors' SDKs) open --link as if it were the arm's USB adapter.
        Faults: comma-separated kind[@id][xcount], kinds: drop, late, checksum, garbage, silent, overload, overheat, undervoltage, encoder.
        Example: reflex emulate --robot robots/so101.yaml --link /tmp/so101 --faults drop@3x5,overload@2
        Fault rates (a campaign): --fault-rates drop=0.002,checksum=0.001,garbage=0.001,late=0.001,overload=0.0005,silent=0.01/s:0.3s,overheat=0.005/s:2s,camera=0.02/s:0.5s \
        (per-reply kinds: a probability per reply; silent, overheat, undervoltage and camera (frames stalling): episodes per second and a duration).
        """
    )

    @Option(help: "Robot name or description file with a hardware: section (servo ids, bus, models), e.g. so101.") var robot: String?
    @Option(help: "Bus protocol, when no --robot is given.") var bus: ServoProtocol?
    @Option(help: "Comma-separated servo ids, when no --robot is given.") var ids: String?
    @Option(help: "Servo model, when no --robot is given (sts3215, xl330, xl430).") var model: String?
    @Option(help: "Path of the symlink to the pseudo-terminal (e.g. /tmp/so101).") var link: String
    @Option(help: "Faults to inject, e.g. drop@3x5,silent@2.") var faults: String?
    @Option(help: "Faults at rates, e.g. drop=0.002,checksum=0.001,silent=0.01/s:0.3s,camera=0.02/s:0.5s (see above).")
    var faultRates: String?
    @Option(help: "Seed of the --fault-rates draws.") var faultSeed: UInt64 = 1
    @Option(help: "Stop after this many seconds (default: until Ctrl-C).") var seconds: Double?
    @Option(help: "Hardware in the loop: move the servos with the Bullet arm of this task (reach, push, lift) instead of the motor model; needs --robot.")
    var sim: String?
    @Option(help: "Seed of the simulated task's reset (with --sim).") var seed: UInt64 = 0
    @Option(help: "With --sim: publish the cube's pose (a camera's estimate) and the task's success on a Unix datagram socket at this path, and take episode resets from the runner (reflex run --camera).")
    var camera: String?
    @Option(help: "Camera frames per second on --camera.") var cameraRate: Double = 30
    @Option(help: "With --camera: render this task camera (PLACEMENT:WIDTHxHEIGHT, e.g. front:64x64; repeat for wrist:…) into the frame ring beside the channel, for camera policies (reflex run --camera).")
    var frames: [String] = []
    @Option(help: "The frame ring's file (default /dev/shm/<camera channel name>.frames).") var framesPath: String?
    @Option(help: "Frames per second rendered into the ring (default --camera-rate).") var frameHz: Double?
    @Option(help: "SCHED_FIFO priority of the thread answering the bus (0: normal priority); below reflex run's loop (80), so the loop preempts it, above builds and other noise, as real servos would be.")
    var priority: Int32 = 70

    func run() throws {
        var o = ArmEmulation.Options(link: link)
        o.robot = robot
        o.bus = bus
        o.ids = try (ids ?? "").split(separator: ",").map { part in
            guard let v = UInt8(part.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("bad servo id '\(part)'") }
            return v
        }
        o.model = model
        o.faults = try (faults ?? "").split(separator: ",").map { spec in
            guard let f = ServoFault(parsing: String(spec)) else {
                throw ValidationError("bad fault '\(spec)': kind[@id][xcount], kinds \(ServoFaultKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return f
        }
        o.faultRates = try faultRates.map { spec in try wrap { try ServoFaultRates(parsing: spec) } }
        o.faultSeed = faultSeed
        o.sim = sim
        o.seed = seed
        o.camera = camera
        o.cameraRate = cameraRate
        o.frames = try frames.map { spec in try wrap { try TaskCameraSpec(parsing: spec) } }
        o.framesPath = framesPath
        o.frameRate = frameHz
        o.priority = priority > 0 ? priority : nil
        let emulation = try wrap { try ArmEmulation(options: o) }
        print("emulating \(emulation.title) at \(link) -> \(emulation.link.terminal.slavePath)")
        if let camera { print("camera channel at \(camera), \(cameraRate) frames/s") }
        if let ring = emulation.frameWriter {
            print("frame ring at \(ring.path): \(o.frames.map(\.description).joined(separator: ", ")), \(frameHz ?? cameraRate) frames/s")
        }
        if priority > 0 {
            var granted = emulation.link.realTimeGranted
            for _ in 0 ..< 100 where granted == nil {
                usleep(1000)
                granted = emulation.link.realTimeGranted
            }
            print("bus thread: SCHED_FIFO \(priority) \(granted == true ? "granted" : "refused; normal priority")")
        }
        if !o.faults.isEmpty { print("armed faults: \(faults ?? "")") }
        if let rates = o.faultRates { print("fault rates: \(rates), seed \(faultSeed)") }
        signal(SIGINT) { _ in stopRequested = 1 }
        signal(SIGTERM) { _ in stopRequested = 1 }
        emulation.run(seconds: seconds, shouldStop: { stopRequested != 0 },
                      resetDone: { episode, seed in print("episode \(episode): scene reset with seed \(seed)") },
                      report: { print($0) })
        emulation.stop()
    }

    private func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as ReflexError { throw HardwareCommandError(description: e.description) }
    }
}

nonisolated(unsafe) private var stopRequested: sig_atomic_t = 0
