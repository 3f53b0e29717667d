// An arm on a servo bus as a `Robot`: servo ticks ↔ radians with each joint's offset and direction from the
// calibration, one sync read per tick for state and one sync write for targets, servo error bits mapped to
// `RobotFaults`.
import ReflexCore
import ReflexRobot

/// A LeRobot calibration file and LeRobot's units, for an arm that runs a LeRobot-trained policy: its joint
/// positions (state, commands, limits) are then in LeRobot's units instead of radians.
public struct LeRobotArmUnits: Sendable, Equatable {
    public var calibration: LeRobotCalibration
    /// The robot config's `use_degrees`: body joints in DEGREES, else RANGE_M100_100 (gripper RANGE_0_100 always).
    public var useDegrees: Bool
    /// Where the calibration came from (for messages).
    public var file: String?

    public init(calibration: LeRobotCalibration, useDegrees: Bool, file: String? = nil) {
        self.calibration = calibration
        self.useDegrees = useDegrees
        self.file = file
    }
}

/// A robot arm whose joints are servos on one Feetech or Dynamixel bus (SO-101, Koch, ALOHA).
///
/// Lifecycle as ros2_control's: `configure` opens the port and pings every servo (an error names the joint and id
/// that did not answer), leaving torque off; `activate` writes goal = present position, then torque on, so the arm
/// holds still instead of jumping; `deactivate` turns torque off; `finalize` releases the port.
/// `read` and `write` are the tick's: one sync read, one sync write, nothing allocated, nothing thrown.
public final class BusRobot: Robot {
    public let name: String
    public let jointNames: [String]
    public let limits: [JointLimits]
    public private(set) var lifecycle: LifecycleState = .unconfigured
    public let hardware: ArmBusConfiguration
    public let calibration: BusCalibration
    /// LeRobot's calibration and units, when the arm speaks them (positions in LeRobot's units, not radians).
    public let lerobot: LeRobotArmUnits?
    /// Each joint's LeRobot units (description order), when `lerobot` is set.
    public let motorUnits: [LeRobotMotorUnits]?
    private let lerobotEntries: [LeRobotMotorCalibration]?

    private let openBus: () throws -> any ServoBusDriver
    private var bus: (any ServoBusDriver)?
    private let tables: [ServoControlTable]
    private let ids: [UInt8]
    private let offset: [Double]
    private let direction: [Double]
    private let ticksPerRadian: [Double]
    private let velocityScale: [Double]
    private let effortScale: [Double]
    private let maxTick: [Double]
    private var stateGroup: ServoSyncRead?
    private var goalGroup: ServoSyncWrite?
    private var torqueGroup: ServoSyncWrite?

    /// The bus's counters (retries, timeouts, corrupt replies), on the thread that uses the bus.
    public var busStatistics: ServoBusStatistics { bus?.statistics ?? ServoBusStatistics() }
    /// The bus's device path, once configured (any thread).
    public var busName: String { health.busName.withLock { $0 } }
    /// Each servo's latest temperature, voltage, load/current and hardware-error reading (any thread may read it).
    public let health: ServoHealthMonitor
    /// Control ticks between two health reads (each reads one servo, one request, no retry; 0 turns them off).
    /// At 100 Hz the default reads a 6-servo arm's every servo about twice a second on Feetech, once on Dynamixel
    /// (which needs a second request for Hardware_Error_Status).
    public var healthInterval = 10
    private var healthCountdown = 0
    /// A control read missed some servo: the next full read clears the servos' miss streaks.
    private var missStreaksPending = false
    /// Retries the bus may need per window before the arm stops commanding motion (nil: retry forever). Once
    /// spent, `read` stops reading (so the state ages and the safety layer's watchdog holds the arm or turns
    /// torque off, as configured) and `write` sends nothing, until `activate` or `resetRetryBudget`.
    public var retryBudget: BusRetryBudget? = .standard
    private var budget = RetryBudgetTracker()

    /// An arm from its description (joint order and limits) and bus section, with `calibration` (default: the
    /// description's offsets and directions) on a bus that `openBus` makes at `configure`.
    /// - Warning: Not real-time safe.
    ///
    /// With `lerobot`, positions are in LeRobot's units (its `_normalize` / `_unnormalize`, so the Goal_Position
    /// written is LeRobot's to the tick) and `configure` checks the servos hold the file's homing offsets and limits.
    public init(description: RobotDescription, calibration: BusCalibration? = nil, lerobot: LeRobotArmUnits? = nil,
                openBus: @escaping () throws -> any ServoBusDriver) throws {
        let hw = try ArmBusConfiguration(description: description)
        let cal = calibration ?? BusCalibration.fromDescription(description.name, hw)
        let busUnits = try lerobot.map { try $0.calibration.motorUnits(for: hw, useDegrees: $0.useDegrees, file: $0.file) }
        let busEntries = try lerobot.map { try $0.calibration.entries(for: hw, file: $0.file) }
        var units: [LeRobotMotorUnits] = [], entries: [LeRobotMotorCalibration] = []
        var tables: [ServoControlTable] = [], ids: [UInt8] = [], offset: [Double] = [], direction: [Double] = []
        for j in description.joints {
            guard let k = hw.servos.firstIndex(where: { $0.joint == j.name }) else {
                throw ReflexError(.invalidArgument, "joint \(j.name) has no servo in the hardware: section",
                                  at: .init(file: description.path, keyPath: "hardware.servos"))
            }
            guard let c = cal.joints.first(where: { $0.joint == j.name }), c.id == Int(hw.servos[k].id) else {
                throw ReflexError(.invalidArgument, "calibration has no entry for joint \(j.name) (servo \(hw.servos[k].id))")
            }
            if let busUnits, let busEntries {
                units.append(busUnits[k])
                entries.append(busEntries[k])
            }
            tables.append(hw.servos[k].controlTable)
            ids.append(hw.servos[k].id)
            offset.append(Double(c.offset))
            direction.append(Double(c.direction))
        }
        name = description.name
        jointNames = description.jointNames
        if lerobot != nil {
            // The calibrated range in LeRobot's units; speeds through the encoder (rad/s → ticks/s → units/s).
            limits = description.joints.enumerated().map { k, j in
                let e = units[k].extent
                let perRadian = Double(tables[k].resolution) / (2 * Double.pi) * abs(units[k].perTick)
                return JointLimits(lower: e.lower, upper: e.upper, velocity: j.velocity * perRadian, effort: j.effort)
            }
        } else {
            limits = description.joints.map { JointLimits(lower: $0.lower, upper: $0.upper, velocity: $0.velocity, effort: $0.effort) }
        }
        hardware = hw
        self.calibration = cal
        self.lerobot = lerobot
        motorUnits = lerobot == nil ? nil : units
        lerobotEntries = lerobot == nil ? nil : entries
        self.openBus = openBus
        self.tables = tables
        self.ids = ids
        self.offset = offset
        self.direction = direction
        ticksPerRadian = tables.map { Double($0.resolution) / (2 * Double.pi) }
        // Present velocity: Feetech in ticks/s; Dynamixel X in 0.229 rpm.
        velocityScale = tables.map { $0.wireProtocol == .feetech ? 2 * Double.pi / Double($0.resolution) : 0.229 * 2 * Double.pi / 60 }
        // Effort as a fraction of stall: Feetech and XL430 load in 0.1 %; XL330 current in mA of its 1.75 A limit.
        effortScale = tables.map { $0.presentLoad.name == "Present_Current" ? 1 / 1750 : 1 / 1000 }
        maxTick = tables.map { Double($0.resolution - 1) }
        health = try ServoHealthMonitor(jointNames: description.jointNames, ids: ids, tables: tables)
    }

    /// An arm on the serial port `port` (or the description's), calibrated from `calibrationFile` if given.
    /// - Warning: Not real-time safe.
    public convenience init(description: RobotDescription, port: String? = nil, calibrationFile: String? = nil,
                            lerobot: LeRobotArmUnits? = nil, replyTimeoutNanoseconds: UInt64 = 10_000_000) throws {
        let hw = try ArmBusConfiguration(description: description)
        let cal = try calibrationFile.map { try BusCalibration.load(path: $0, for: hw) }
        try self.init(description: description, calibration: cal, lerobot: lerobot) {
            try openServoBus(hw, port: port, replyTimeoutNanoseconds: replyTimeoutNanoseconds)
        }
    }

    private func present(_ table: ServoControlTable) -> (ServoRegister, ServoRegister) {
        let regs = [table.presentPosition, table.presentVelocity, table.presentLoad]
        let first = regs.min { $0.address < $1.address }!
        let last = regs.max { Int($0.address) + $0.width < Int($1.address) + $1.width }!
        return (first, last)
    }

    public func configure() throws {
        try lifecycle.check(.configure, robot: name)
        let bus = try openBus()
        for (k, id) in ids.enumerated() {
            let model: UInt16
            do {
                model = try bus.ping(id: id)
            } catch let e as ReflexError {
                throw ReflexError(e.code, "joint \(jointNames[k]): \(e.message)", at: e.location)
            }
            guard model == tables[k].modelNumber else {
                throw ReflexError(.device, "joint \(jointNames[k]): servo \(id) is model \(model), expected \(tables[k].modelName) (\(tables[k].modelNumber))",
                                  at: .init(element: "servo \(id)"))
            }
        }
        try checkFirmware(bus)
        try checkHealth(bus)
        if writesLeRobotCalibration { try writeLeRobotCalibration(bus) } else { try checkLeRobotCalibration(bus) }
        let table = tables[0]
        let (first, last) = present(table)
        stateGroup = try ServoSyncRead(from: first, through: last, ids: ids)
        goalGroup = try ServoSyncWrite(register: table.goalPosition, ids: ids)
        torqueGroup = try ServoSyncWrite(register: table.torqueEnable, ids: ids)
        try setTorque(bus, on: false)
        try setBusWatchdog(bus, milliseconds: nil) // clears a watchdog a dead predecessor left tripped
        try bus.syncRead(stateGroup!)
        healthCountdown = healthInterval // the first health read after a full interval of control reads
        health.busName.withLock { $0 = bus.name }
        self.bus = bus
        resetRetryBudget()
        lifecycle = .inactive
    }

    /// Start-up check before torque can be enabled: servos of one model on different firmware (a known cause of
    /// "Incorrect status packet" with LeRobot), naming both servos.
    private func checkFirmware(_ bus: any ServoBusDriver) throws {
        var firmware: [String: (version: String, joint: Int)] = [:]
        for (k, id) in ids.enumerated() {
            let t = tables[k]
            let version: String
            if t.wireProtocol == .feetech {
                version = "\(try bus.read(STS3215.Register.firmwareMajorVersion, id: id)).\(try bus.read(STS3215.Register.firmwareMinorVersion, id: id))"
            } else {
                version = "\(try bus.read(DynamixelX.firmwareVersion, id: id))"
            }
            if let first = firmware[t.modelName], first.version != version {
                throw ReflexError(.device, "joint \(jointNames[k]): servo \(id) (\(t.modelName)) runs firmware \(version) but joint \(jointNames[first.joint]) (servo \(ids[first.joint])) runs \(first.version); mixed firmware gives corrupt status packets: update them to one version",
                                  at: .init(element: "servo \(id)"))
            }
            firmware[t.modelName] = firmware[t.modelName] ?? (version, k)
        }
    }

    /// Start-up check before torque can be enabled: one health reading of every servo against its own limits
    /// (temperature, supply voltage, hardware-error bits); the first problem is thrown, naming joint and servo.
    private func checkHealth(_ bus: any ServoBusDriver) throws {
        health.readLimits(bus)
        health.readAll(bus)
        if let p = health.firstProblem() {
            throw ReflexError(.device, p.message, at: .init(element: "servo \(p.id)"))
        }
    }

    /// Each servo's latest health and the bus's counters, from any thread (the daemon's status and metrics).
    /// - Warning: Not real-time safe.
    public func healthReport() -> BusHealthReport {
        let b = health.retryBudgetState
        let name = busName
        var message: String?
        if b.exhaustedWith > 0, let r = retryBudget {
            message = "bus \(name): \(b.exhaustedWith) retries within \(r.windowSeconds) s exceed its budget of \(r.retries); the arm stopped commanding motion. Check the cable, the power and the baud rate, then start again"
        }
        return BusHealthReport(bus: name, servos: health.snapshot(), statistics: health.busStatistics,
                               retryBudget: retryBudget, retryBudgetExhaustions: b.exhaustions, retryBudgetMessage: message)
    }

    /// Reads every servo's health once and returns it (`reflex servo health`): on the open bus, or, before
    /// `configure`, on a bus opened for this and closed again (no start-up check, no torque change). Not while a
    /// loop runs: the loop owns the bus then, and reads health itself.
    /// - Warning: Not real-time safe.
    public func inspectHealth() throws -> [ServoHealth] {
        if let bus {
            health.readAll(bus)
            return health.snapshot()
        }
        let bus = try openBus()
        health.readLimits(bus)
        health.readAll(bus)
        return health.snapshot()
    }

    /// The registers LeRobot's `write_calibration` sets, per servo: Homing_Offset, Min/Max_Position_Limit.
    private func calibrationRegisters(_ k: Int) -> (offset: ServoRegister, min: ServoRegister, max: ServoRegister) {
        let t = tables[k]
        let offset = t.wireProtocol == .feetech ? STS3215.Register.homingOffset : DynamixelX.homingOffset
        return (offset, t.minPositionLimit, t.maxPositionLimit)
    }

    /// LeRobot's `is_calibrated`: each servo holds the file's Homing_Offset and position limits. A mismatch names
    /// the motor, the servo and both values (torque is still off).
    private func checkLeRobotCalibration(_ bus: any ServoBusDriver) throws {
        guard let entries = lerobotEntries else { return }
        for (k, c) in entries.enumerated() {
            let r = calibrationRegisters(k)
            for (register, expected) in [(r.offset, c.homingOffset), (r.min, c.rangeMin), (r.max, c.rangeMax)] {
                let held = Int(try bus.read(register, id: ids[k]))
                guard held == expected else {
                    throw ReflexError(.invalidCalibration,
                                      "motor \(jointNames[k]) (servo \(ids[k])) holds \(register.name) \(held), the calibration file says \(expected): write it (reflex calibrate --lerobot FILE --write, or BusRobot.writesLeRobotCalibration, as LeRobot's calibrate does) or recalibrate",
                                      at: .init(file: lerobot?.file, keyPath: jointNames[k]))
                }
            }
        }
    }

    /// With a LeRobot calibration: `configure` writes its Homing_Offset and limits to the servos (torque off, as
    /// LeRobot's `write_calibration` does when a user accepts a calibration file) instead of checking them.
    public var writesLeRobotCalibration = false

    private func writeLeRobotCalibration(_ bus: any ServoBusDriver) throws {
        guard let entries = lerobotEntries else { return }
        for (k, id) in ids.enumerated() { try bus.write(tables[k].torqueEnable, id: id, value: 0) }
        for (k, c) in entries.enumerated() {
            let r = calibrationRegisters(k)
            try bus.write(r.offset, id: ids[k], value: Int32(c.homingOffset))
            try bus.write(r.min, id: ids[k], value: Int32(c.rangeMin))
            try bus.write(r.max, id: ids[k], value: Int32(c.rangeMax))
        }
    }

    private func setTorque(_ bus: any ServoBusDriver, on: Bool) throws {
        guard let torqueGroup else { return }
        for k in ids.indices { torqueGroup.set(k, value: on ? 1 : 0) }
        try bus.syncWrite(torqueGroup)
    }

    public func activate() throws {
        try lifecycle.check(.activate, robot: name)
        guard let bus, let stateGroup, let goalGroup else { throw ReflexError(.invalidTransition, "not configured") }
        try bus.syncRead(stateGroup)
        let table = tables[0]
        for k in ids.indices { goalGroup.set(k, value: stateGroup.value(table.presentPosition, servo: k)) }
        try bus.syncWrite(goalGroup) // hold where it is, then take the load
        try setTorque(bus, on: true)
        try setBusWatchdog(bus, milliseconds: busWatchdogMilliseconds)
        resetRetryBudget()
        lifecycle = .active
    }

    /// Dynamixel X-series only: the Bus Watchdog (address 98), armed by `activate` and `rearmBusWatchdog()`, so a
    /// controller that dies without a word (kill -9, a crash, a pulled cable) leaves servos that stop by themselves
    /// after this much bus silence (rounded up to 20 ms units, at most 2540 ms; nil, the default, leaves it off).
    /// It also trips whenever an active arm's bus goes quiet on purpose (no loop running): the servos then hold
    /// where they are, which is what an idle active arm does anyway, but their goals stay read-only until
    /// `rearmBusWatchdog()` — call it before the next loop starts. Feetech STS servos have no such register.
    public var busWatchdogMilliseconds: Int?

    /// Clears a tripped Bus Watchdog and arms it again (before a loop starts on an arm that stayed active).
    /// - Warning: Not real-time safe.
    public func rearmBusWatchdog() throws {
        guard let bus, lifecycle == .active else { return }
        try setBusWatchdog(bus, milliseconds: nil)
        try setBusWatchdog(bus, milliseconds: busWatchdogMilliseconds)
    }

    /// Writes the Bus Watchdog of every servo that has one (0 disarms it and clears a Bus Watchdog Error).
    private func setBusWatchdog(_ bus: any ServoBusDriver, milliseconds: Int?) throws {
        guard busWatchdogMilliseconds != nil, tables[0].wireProtocol == .dynamixel,
              let register = tables[0].registers.first(where: { $0.address == DynamixelX.busWatchdog.address && $0.width == 1 })
        else { return }
        let units = milliseconds.map { min(max(($0 + 19) / 20, 1), 127) } ?? 0
        let group = try ServoSyncWrite(register: register, ids: ids)
        for k in ids.indices { group.set(k, value: Int32(units)) }
        try bus.syncWrite(group)
    }

    public func deactivate() throws {
        try lifecycle.check(.deactivate, robot: name)
        guard let bus else { throw ReflexError(.invalidTransition, "not configured") }
        try setTorque(bus, on: false)
        try setBusWatchdog(bus, milliseconds: nil)
        lifecycle = .inactive
    }

    public func finalize() {
        if lifecycle == .active, let bus { try? setTorque(bus, on: false) }
        if let bus { health.publish(bus.statistics) } // the last counters outlive the port
        bus = nil // closes the port
        lifecycle = .finalized
    }

    /// Joint `k`'s angle (rad) for `ticks`.
    /// - Note: Real-time safe.
    @inline(__always) public func radians(joint k: Int, ticks: Double) -> Double {
        direction[k] * (ticks - offset[k]) / ticksPerRadian[k]
    }

    /// The ticks for joint `k` at `radians`, kept inside what the register can hold.
    /// - Note: Real-time safe.
    @inline(__always) public func ticks(joint k: Int, radians q: Double) -> Int32 {
        let t = offset[k] + direction[k] * q * ticksPerRadian[k]
        return Int32(min(max(t.rounded(), 0), maxTick[k]))
    }

    /// Starts the retry budget afresh (a person decided to go on: `activate`, a new episode).
    /// - Warning: Not real-time safe.
    public func resetRetryBudget() {
        budget.reset(now: monotonicNanoseconds(), retries: bus?.statistics.retries ?? 0)
        health.noteRetryBudget(exhaustedWith: 0)
    }

    /// Whether the bus has spent its retry budget (on the loop's thread; others read `healthReport()`).
    public var retryBudgetExhausted: Bool { budget.exhausted }

    public func read(into state: JointState) -> RobotStatus {
        guard lifecycle == .inactive || lifecycle == .active, let bus, let g = stateGroup else {
            return RobotStatus(.stop, faults: .notActive)
        }
        if budget.exhausted { return RobotStatus(.hold, faults: .retryBudget) }
        let outcome = bus.trySyncRead(g)
        if let retryBudget, budget.check(retryBudget, retries: bus.statistics.retries, now: monotonicNanoseconds()) {
            health.noteRetryBudget(exhaustedWith: budget.exhaustedWith)
            health.publish(bus.statistics)
            return RobotStatus(.hold, faults: .retryBudget)
        }
        guard outcome == .ok else {
            missStreaksPending = true
            health.recordMissing(g)
            health.publish(bus.statistics)
            var joint = -1
            for k in ids.indices where !g.received[k] { joint = k; break }
            return RobotStatus(.hold, faults: outcome == .corrupt ? .corruptReply : .noReply, joint: joint)
        }
        var status = RobotStatus.ok
        let table = tables[0]
        for k in ids.indices {
            let raw = g.value(table.presentPosition, servo: k)
            if let u = motorUnits?[k] {
                state.position[k] = u.normalize(Int(raw))
                state.velocity[k] = Double(g.value(table.presentVelocity, servo: k)) * velocityScale[k] * ticksPerRadian[k] * u.perTick
            } else {
                state.position[k] = radians(joint: k, ticks: Double(raw))
                state.velocity[k] = direction[k] * Double(g.value(table.presentVelocity, servo: k)) * velocityScale[k]
            }
            state.effort[k] = direction[k] * Double(g.value(table.presentLoad, servo: k)) * effortScale[k]
            let faults = servoFaults(bus, k, g.statusErrors[k])
            state.faults[k] = faults
            if !faults.isEmpty { status = status.merged(RobotStatus(.stop, faults: faults, joint: k)) }
        }
        state.timestamp = monotonicNanoseconds()
        if missStreaksPending { missStreaksPending = !health.clearMissStreaks() }
        if healthInterval > 0 {
            healthCountdown -= 1
            if healthCountdown <= 0 {
                healthCountdown = healthInterval
                health.step(bus)
            }
        }
        return status
    }

    /// The servo's error bits in `RobotFaults` words. A Dynamixel alert costs one extra read of Hardware Error
    /// Status, on the way to a safe stop only.
    private func servoFaults(_ bus: any ServoBusDriver, _ k: Int, _ error: UInt8) -> RobotFaults {
        guard error != 0 else { return [] }
        if tables[k].wireProtocol == .feetech {
            let e = STS3215.StatusError(rawValue: error)
            var f: RobotFaults = []
            if e.contains(.voltage) { f.insert(.voltage) }
            if e.contains(.angle) { f.insert(.angleSensor) }
            if e.contains(.overheat) { f.insert(.overheat) }
            if e.contains(.overCurrent) { f.insert(.overcurrent) }
            if e.contains(.overload) { f.insert(.overload) }
            return f
        }
        guard error & DynamixelPacket.alertBit != 0 else { return [] } // a refused request, not a servo fault
        guard let bits = bus.tryRead(DynamixelX.hardwareErrorStatus, id: ids[k]) else { return [.overload] }
        let e = DynamixelHardwareError(rawValue: UInt8(truncatingIfNeeded: bits))
        var f: RobotFaults = []
        if e.contains(.inputVoltage) { f.insert(.voltage) }
        if e.contains(.overheating) { f.insert(.overheat) }
        if e.contains(.motorEncoder) { f.insert(.angleSensor) }
        if e.contains(.electricalShock) { f.insert(.electricalShock) }
        if e.contains(.overload) { f.insert(.overload) }
        return f.isEmpty ? [.overload] : f
    }

    public func write(_ command: JointCommand) -> RobotStatus {
        guard lifecycle == .active, let bus, let g = goalGroup else { return RobotStatus(.stop, faults: .notActive) }
        if budget.exhausted { return RobotStatus(.hold, faults: .retryBudget) }
        for k in ids.indices {
            let q = command.position[k]
            guard q.isFinite else { return RobotStatus(.hold, faults: .nonFiniteState, joint: k) }
            if let u = motorUnits?[k], let t = u.unnormalize(q) {
                g.set(k, value: Int32(clamping: t)) // the register's encoding clamps to what it can hold
            } else {
                g.set(k, value: ticks(joint: k, radians: q))
            }
        }
        switch bus.trySyncWrite(g) {
        case .ok: return .ok
        default: return RobotStatus(.hold, faults: .noReply)
        }
    }

    /// Reads every joint's raw ticks (for calibration).
    /// - Warning: Not real-time safe.
    public func readTicks() throws -> [Int32] {
        guard let bus, let g = stateGroup else { throw ReflexError(.invalidTransition, "not configured") }
        try bus.syncRead(g)
        return ids.indices.map { g.value(tables[0].presentPosition, servo: $0) }
    }
}
