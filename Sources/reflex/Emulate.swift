import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import ReflexCore
import ReflexHardware
import ReflexDeployment
import ReflexRobot

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
    @Option(help: "SCHED_FIFO priority of the thread answering the bus (0: normal priority); below reflex run's loop (80), so the loop preempts it, above builds and other noise, as real servos would be.")
    var priority: Int32 = 70

    func run() throws {
        var servos: [EmulatedServo] = []
        var title = "servo bus"
        var bullet: BulletServoModel?
        if let robot {
            let description = try wrap { try RobotDescription.named(robot) }
            let hw = try wrap { try ArmBusConfiguration(description: description) }
            title = "\(description.name) (\(hw.bus), \(hw.servos.count) servos)"
            if let sim {
                bullet = try wrap { try BulletServoModel(description: description, hardware: hw, task: sim, seed: seed) }
                title += ", moved by the Bullet arm of '\(sim)'"
            }
            for s in hw.servos {
                // Start where the simulated arm is, or at joint zero (the description's offset) as a freshly
                // calibrated arm would.
                servos.append(EmulatedServo(table: s.controlTable, id: s.id, position: bullet?.initialTicks(id: s.id) ?? Double(s.offset)))
            }
        } else {
            guard sim == nil else { throw ValidationError("--sim needs --robot") }
            guard let bus, let ids else { throw ValidationError("give --robot FILE, or --bus and --ids") }
            let idList = try ids.split(separator: ",").map { part -> UInt8 in
                guard let v = UInt8(part.trimmingCharacters(in: .whitespaces)), v <= 252 else {
                    throw ValidationError("bad servo id '\(part)'")
                }
                return v
            }
            let modelName = model ?? (bus == .feetech ? "sts3215" : "xl330")
            guard let table = ServoControlTable.named(modelName), table.wireProtocol == bus else {
                throw ValidationError("model \(modelName) does not fit the \(bus) bus")
            }
            servos = idList.map { EmulatedServo(table: table, id: $0) }
            title = "\(bus) bus with \(table.modelName) ids \(idList)"
        }
        let emulator = try wrap {
            if let bullet { return try ServoBusEmulator(servos: servos, model: bullet) }
            return try ServoBusEmulator(servos: servos)
        }
        for spec in (faults ?? "").split(separator: ",") {
            guard let f = ServoFault(parsing: String(spec)) else {
                throw ValidationError("bad fault '\(spec)': kind[@id][xcount], kinds \(ServoFaultKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            emulator.inject(f)
        }
        let rates = try faultRates.map { spec in try wrap { try ServoFaultRates(parsing: spec) } }
        if let rates { emulator.setFaultRates(rates, seed: faultSeed) }
        if rates?.cameraStall != nil && camera == nil { throw ValidationError("--fault-rates camera=… stalls the camera channel: give --camera") }
        // The camera channel's stalls: frames not published while one lasts (resets are still taken).
        var stalls = rates?.cameraStall.map { FaultEpisodeSchedule(rate: $0, seed: faultSeed &+ 100) }
        var framesStalled = 0
        if camera != nil {
            guard let bullet else { throw ValidationError("--camera needs --sim (the scene the camera looks at)") }
            guard bullet.environment.cubeBody >= 0 else {
                throw ValidationError("--camera publishes the cube's pose: use --sim lift or push, not \(sim ?? "")")
            }
            guard cameraRate > 0 && cameraRate <= 1000 else { throw ValidationError("--camera-rate must be in (0, 1000]") }
        }
        let publisher = try camera.map { path in try wrap { try CameraPublisher(path: path) } }
        let linkObject = try wrap {
            try EmulatorLink(emulator: emulator, link: link, realTimePriority: priority > 0 ? priority : nil)
        }
        print("emulating \(title) at \(link) -> \(linkObject.terminal.slavePath)")
        if let camera { print("camera channel at \(camera), \(cameraRate) frames/s") }
        if priority > 0 {
            var granted = linkObject.realTimeGranted
            for _ in 0 ..< 100 where granted == nil {
                usleep(1000)
                granted = linkObject.realTimeGranted
            }
            print("bus thread: SCHED_FIFO \(priority) \(granted == true ? "granted" : "refused; normal priority")")
        }
        if let faults { print("armed faults: \(faults)") }
        if let rates { print("fault rates: \(rates), seed \(faultSeed)") }
        signal(SIGINT) { _ in stopRequested = 1 }
        signal(SIGTERM) { _ in stopRequested = 1 }
        let start = monotonicNanoseconds()
        var lastReport = start
        let frame = UInt64(1e9 / (publisher == nil ? 10 : cameraRate))
        var nextFrame = start
        var sequence: UInt64 = 0
        while stopRequested == 0 {
            nextFrame += frame
            var ts = timespec(tv_sec: Int(nextFrame / 1_000_000_000), tv_nsec: Int(nextFrame % 1_000_000_000))
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil)
            if let publisher, let bullet {
                while let r = publisher.nextReset() {
                    // The runner repeats a reset it has not seen acknowledged (every 200 ms); a repeat of the episode
                    // just reset is acknowledged again, not reset again: a second reset, holding the bus thread
                    // off while the world is rebuilt, would land on the runner's first sync read of the episode.
                    let current = linkObject.withEmulator { _ in bullet.episode }
                    if r.episode == current && r.episode != 0 {
                        publisher.acknowledgeReset(episode: r.episode, seed: r.seed)
                        continue
                    }
                    linkObject.withEmulator { e in bullet.reset(seed: r.seed, episode: r.episode, servos: e.servos) }
                    publisher.acknowledgeReset(episode: r.episode, seed: r.seed)
                    print("episode \(r.episode): scene reset with seed \(r.seed)")
                }
                _ = stalls?.advance(dt: Double(frame) * 1e-9)
                if stalls?.isActive == true {
                    framesStalled += 1
                } else {
                    sequence += 1
                    let estimate = linkObject.withEmulator { _ in bullet.estimate(sequence: sequence, time: monotonicNanoseconds()) }
                    publisher.publish(estimate)
                }
            }
            let now = monotonicNanoseconds()
            if nextFrame + frame < now { nextFrame = now } // fell behind: no burst of catch-up frames
            if let seconds, Double(now - start) * 1e-9 >= seconds { break }
            if now - lastReport >= 10_000_000_000 {
                lastReport = now
                print(linkObject.withEmulator(summary) + stallSummary(stalls, framesStalled))
            }
        }
        print(linkObject.withEmulator(summary) + stallSummary(stalls, framesStalled))
        linkObject.stop()
    }

    private func summary(_ e: ServoBusEmulator) -> String {
        let counts = ServoFaultKind.allCases.compactMap { k in e.injected[k].map { "\(k.rawValue)=\($0)" } }
        var text = "requests \(e.requestsHandled), noise bytes \(e.discardedBytes), faults injected: "
            + (counts.isEmpty ? "none" : counts.joined(separator: " "))
        let episodes = ServoFaultKind.allCases.compactMap { k in e.faultEpisodes[k].map { "\(k.rawValue)=\($0)" } }
        if !episodes.isEmpty { text += ", fault episodes: " + episodes.joined(separator: " ") }
        if let bullet = e.model as? BulletServoModel {
            let c = bullet.environment.cubePosition
            text += String(format: ", cube at (%.3f, %.3f, %.3f) m", c.x, c.y, c.z)
        }
        return text
    }

    private func stallSummary(_ s: FaultEpisodeSchedule?, _ frames: Int) -> String {
        s.map { ", camera stalls: \($0.started) (\(frames) frames not sent)" } ?? ""
    }

    private func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as ReflexError { throw HardwareCommandError(description: e.description) }
    }
}

nonisolated(unsafe) private var stopRequested: sig_atomic_t = 0
