import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import ReflexCore
import ReflexHardware
import ReflexRobot

/// `reflex calibrate`: the range sweep LeRobot users know, writing the calibration file `BusRobot` reads.
struct Calibrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Calibrate an arm on a servo bus: record each joint's zero and the range swept by hand.",
        discussion: """
        Torque stays off throughout. Step 1: put the arm in its zero pose (the description's joint zero) and press
        Enter; those ticks become the offsets. Step 2: move every joint through its whole range and press Enter;
        the lowest and highest ticks seen become the range. Directions come from the robot description.
        With --lerobot FILE --record: LeRobot's own procedure instead (SO-101/SO-100, Koch), writing a LeRobot
        calibration file: the arm at the middle of its range, Enter (half-turn homing offsets); every joint but the
        full-turn ones through its range, Enter (the ranges); then the offsets and limits go to the servos.
        """
    )

    @Option(help: "Robot name or description file with a hardware: section, e.g. so101.") var robot: String
    @Option(help: "Serial device (default: the description's port).") var port: String?
    @Option(help: "Calibration file to write.") var out: String?
    @Option(help: "A LeRobot calibration file (~/.cache/huggingface/lerobot/calibration/robots/<type>/<id>.json): with --check, check the servos hold its offsets and limits (and pass the start-up checks); with --write, write them as LeRobot's calibrate does.")
    var lerobot: String?
    @Flag(help: "With --lerobot: check the arm against the file.") var check = false
    @Flag(help: "With --lerobot: write the file's offsets and limits to the servos (torque off).") var write = false
    @Flag(help: "With --lerobot: record a new calibration as LeRobot's calibrate does and write it to FILE and the servos.") var record = false
    @Option(help: "Stop the sweep after this many seconds (default: wait for Enter).") var seconds: Double?
    @Flag(help: "Do not wait for Enter (take the present pose as zero; sweep for --seconds).") var yes = false

    func validate() throws {
        if lerobot != nil {
            guard [check, write, record].filter({ $0 }).count == 1 else {
                throw ValidationError("--lerobot goes with one of --check, --write or --record")
            }
            if out != nil { throw ValidationError("--out writes a Reflex calibration from a sweep; not with --lerobot") }
        } else {
            guard out != nil else { throw ValidationError("give --out FILE (a sweep), or --lerobot FILE --check") }
            if check || write || record { throw ValidationError("--check, --write and --record go with --lerobot FILE") }
        }
    }

    /// `--lerobot FILE --check|--write`: configure the arm on the file (which checks or writes it), then show each
    /// joint where it is in LeRobot's units.
    func runLeRobot(_ path: String) throws {
        let description = try RobotDescription.named(robot)
        let units = LeRobotArmUnits(calibration: try LeRobotCalibration.load(path: path), useDegrees: true, file: path)
        let arm = try BusRobot(description: description, port: port, lerobot: units)
        arm.writesLeRobotCalibration = write
        try arm.configure()
        defer { arm.finalize() }
        let state = JointState(count: arm.jointCount)
        let status = arm.read(into: state)
        guard status == .ok else { throw ReflexError(.device, "reading the arm failed: \(status)") }
        let motorUnits = arm.motorUnits ?? []
        print(table(["joint", "id", "homing offset", "range", "mode", "present"], arm.jointNames.indices.map { k in
            let c = units.calibration[arm.jointNames[k]]
            return [arm.jointNames[k], c.map { String($0.id) } ?? "?", c.map { String($0.homingOffset) } ?? "?",
                    c.map { "\($0.rangeMin)…\($0.rangeMax)" } ?? "?", motorUnits[k].mode.rawValue,
                    String((state.position[k] * 100).rounded() / 100)]
        }))
        print(write ? "wrote \(path) to the servos; start-up checks passed" : "the servos hold \(path); start-up checks passed")
    }

    func run() throws {
        do {
            if let lerobot, record { return try recordLeRobot(lerobot) }
            if let lerobot { return try runLeRobot(lerobot) }
            guard let out else { throw ValidationError("give --out FILE") }
            let description = try RobotDescription.named(robot)
            let arm = try BusRobot(description: description, port: port)
            try arm.configure()
            defer { arm.finalize() }
            let names = arm.jointNames
            if !yes {
                print("Torque is off. Put \(description.name) in its zero pose, then press Enter.")
                _ = readLine()
            }
            let zero = try arm.readTicks()
            print("zero pose: " + zip(names, zero).map { "\($0)=\($1)" }.joined(separator: " "))
            var lo = zero, hi = zero
            if !yes { print("Move every joint through its full range; press Enter when done.") }
            let start = monotonicNanoseconds()
            let limit = seconds ?? (yes ? 0 : .infinity)
            var samples = 0
            while Double(monotonicNanoseconds() - start) * 1e-9 < limit {
                let t = try arm.readTicks()
                samples += 1
                for k in t.indices { lo[k] = min(lo[k], t[k]); hi[k] = max(hi[k], t[k]) }
                if !yes && stdinHasLine() { _ = readLine(); break }
                var ts = timespec(tv_sec: 0, tv_nsec: 20_000_000)
                nanosleep(&ts, nil)
            }
            let hw = arm.hardware
            let cal = BusCalibration(robot: description.name, joints: hw.servos.indices.map { k in
                JointCalibration(joint: hw.servos[k].joint, id: Int(hw.servos[k].id), offset: Int(zero[k]),
                                 direction: hw.servos[k].direction, rangeMin: Int(lo[k]), rangeMax: Int(hi[k]))
            })
            try cal.save(path: out)
            print(table(["joint", "id", "offset", "direction", "range min", "range max"], cal.joints.map {
                [$0.joint, String($0.id), String($0.offset), String($0.direction), String($0.rangeMin), String($0.rangeMax)]
            }))
            print("\(samples) samples; wrote \(out)")
        } catch let e as ReflexError {
            throw HardwareCommandError(description: e.description)
        }
    }

    /// `--lerobot FILE --record`: LeRobot's calibration procedure on the arm (`LeRobotCalibrationRecorder`).
    func recordLeRobot(_ path: String) throws {
        let description = try RobotDescription.named(robot)
        let hardware = try ArmBusConfiguration(description: description)
        guard let type = LeRobotRobotType.forArm(named: description.name) else {
            throw ReflexError(.invalidArgument, "LeRobot calibrates so100/so101 and koch followers; \(description.name) is neither")
        }
        let recorder = try LeRobotCalibrationRecorder(bus: try openServoBus(hardware, port: port), hardware: hardware, robotType: type)
        if !yes {
            print("Torque is off. Move \(description.name) to the middle of its range of motion, then press Enter.")
            _ = readLine()
        }
        let homings = try recorder.setHalfTurnHomings()
        print("half-turn homing offsets: " + zip(type.motors, homings).map { "\($0)=\($1)" }.joined(separator: " "))
        if !yes {
            print("Move every joint except \(recorder.fullTurnMotors.joined(separator: " and ")) through its entire range; press Enter to stop.")
        }
        let start = monotonicNanoseconds()
        let limit = seconds ?? (yes ? 0 : .infinity)
        repeat {
            try recorder.sample()
            if !yes && stdinHasLine() { _ = readLine(); break }
            var ts = timespec(tv_sec: 0, tv_nsec: 20_000_000)
            nanosleep(&ts, nil)
        } while Double(monotonicNanoseconds() - start) * 1e-9 < limit
        let calibration = try recorder.finish()
        try calibration.save(path: path)
        print(table(["motor", "id", "homing offset", "range min", "range max"], calibration.motors.map {
            [$0.motor, String($0.calibration.id), String($0.calibration.homingOffset), String($0.calibration.rangeMin),
             String($0.calibration.rangeMax)]
        }))
        print("\(recorder.samples) samples; wrote \(path) and the servos' offsets and limits")
    }

    private func stdinHasLine() -> Bool {
        var p = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) > 0
    }
}
