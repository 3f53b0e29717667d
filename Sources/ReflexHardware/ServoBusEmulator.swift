// The servo-bus emulator: emulated STS3215 / XL330 servos with their control tables, answering the real
// protocol bytes. Transport-free: bytes in, timed bytes out; `EmulatorLink` puts it behind a pseudo-terminal and
// `LoopbackTransport` connects a bus to it in-process.
import ReflexCore

/// One emulated servo: its control-table memory and its motion.
public final class EmulatedServo {
    public let table: ServoControlTable
    /// The control table's bytes.
    public internal(set) var memory: [UInt8]
    public internal(set) var motion: ServoMotionState

    /// A servo of `table`'s model with id `id`, its registers at factory defaults, sitting at `position` ticks.
    public init(table: ServoControlTable, id: UInt8, position: Double = 2048) {
        self.table = table
        memory = [UInt8](repeating: 0, count: table.memorySize)
        motion = ServoMotionState(id: id, goal: position, position: position, velocity: 0, load: 0,
                                  torqueEnabled: false, minPosition: 0, maxPosition: Double(table.resolution - 1),
                                  resolution: table.resolution)
        for (r, v) in table.defaults { store(r, v) }
        store(table.id, Int32(id))
        store(table.goalPosition, Int32(position))
        syncPresent()
    }

    public var id: UInt8 { memory[Int(table.id.address)] }

    /// Reads a register's decoded value.
    public func load(_ r: ServoRegister) -> Int32 {
        r.decode(raw: memory.withUnsafeBytes { LittleEndian.load($0, Int(r.address), width: r.width) })
    }

    /// Writes a register's value (no access check: this is the servo itself).
    public func store(_ r: ServoRegister, _ value: Int32) {
        let raw = r.encode(value)
        for b in 0 ..< r.width { memory[Int(r.address) + b] = UInt8(truncatingIfNeeded: raw >> UInt32(8 * b)) }
    }

    /// Puts the servo at `position` ticks, at rest and holding there (goal = position): a scene reset in
    /// hardware in the loop moves the arm without going through the bus.
    public func place(at position: Double) {
        motion.position = position
        motion.goal = position
        motion.velocity = 0
        store(table.goalPosition, Int32(position.rounded()))
        syncPresent()
    }

    /// Copies the motion state into the present-value registers, in the servo's units: velocity in ticks/s
    /// (Feetech) or 0.229 rpm (Dynamixel X, Present Velocity 128); XL330 Present_Current in mA (the model's load,
    /// 0.1 % of stall, as a share of the 1750 mA Current_Limit, so `BusRobot`'s effort reads the same load on
    /// either bus); Feetech Present_Current in 6.5 mA units (the STS3215 stalls near 2.7 A); Moving 1 while the
    /// servo moves (Dynamixel: faster than Moving_Threshold, 0.229 rpm units; Feetech: short of its goal or turning).
    func syncPresent() {
        store(table.presentPosition, Int32(motion.position.rounded()))
        let rpmUnits = motion.velocity * 60 / (Double(table.resolution) * 0.229)
        store(table.presentVelocity, Int32((table.wireProtocol == .feetech ? motion.velocity : rpmUnits).rounded()))
        if table.presentLoad.name == "Present_Current" {
            store(table.presentLoad, Int32((motion.load * 1.75).rounded()))
        } else {
            store(table.presentLoad, Int32(motion.load.rounded()))
        }
        if table.wireProtocol == .feetech {
            let moving = motion.torqueEnabled && (abs(motion.goal - motion.position) >= 1 || abs(motion.velocity) >= 1)
            store(STS3215.Register.moving, moving ? 1 : 0)
            store(STS3215.Register.presentCurrent, Int32((abs(motion.load) / 1000 * 2700 / 6.5).rounded()))
        } else {
            store(DynamixelX.moving, abs(rpmUnits) > Double(load(DynamixelX.movingThreshold)) ? 1 : 0)
        }
    }

    /// Dynamixel Operating_Mode 4, extended position: multi-turn, the position limits unused, goals within
    /// ±1,048,575 ticks (±256 turns; e-Manual, Operating Mode 11 and Goal Position 116).
    public var isExtendedPosition: Bool {
        table.wireProtocol == .dynamixel && load(DynamixelX.operatingMode) == 4
    }

    /// The goal range the servo follows: the position limits, or the extended-position range in mode 4.
    func applyPositionRange() {
        if isExtendedPosition {
            motion.minPosition = -1_048_575
            motion.maxPosition = 1_048_575
            return
        }
        let lo = Double(load(table.minPositionLimit))
        let hi = Double(load(table.maxPositionLimit))
        if hi > lo { motion.minPosition = lo; motion.maxPosition = hi }
    }

    /// The control table's Homing_Offset (Feetech 31, sign-magnitude bit 11; Dynamixel X 20, 4-byte signed).
    var homingOffsetRegister: ServoRegister {
        table.wireProtocol == .feetech ? STS3215.Register.homingOffset : DynamixelX.homingOffset
    }

    /// Present position minus the encoder's own reading, as Homing_Offset makes it: real Feetech servos report
    /// Present = Actual − Homing_Offset, Dynamixel X Present = Actual + Homing_Offset (what LeRobot's
    /// `_get_half_turn_homings` relies on). Motion runs in the present frame, where goals and limits are written.
    public var homingShift: Double {
        let h = Double(load(homingOffsetRegister))
        return table.wireProtocol == .feetech ? -h : h
    }

    /// Dynamixel Drive_Mode bit 0 (reverse): −1 when set. The e-Manual: reverse mode inverts Goal and Present
    /// Position ("CCW negative"), and "the sign of the Homing Offset is not reversed", so with Present = Actual +
    /// Homing_Offset a reversed servo reports Present = −Actual + Homing_Offset. Feetech STS3215 has no such bit.
    public var direction: Double {
        table.wireProtocol == .dynamixel && load(DynamixelX.driveMode) & 1 != 0 ? -1 : 1
    }

    /// The encoder's reading before Homing_Offset and direction (the joint's physical place, whatever either).
    public var actualPosition: Double { direction * (motion.position - homingShift) }

    /// Keeps a Feetech position on the encoder's single turn (0…resolution−1): an STS3215 in position mode has no
    /// turn count, so an offset that pushes a reading past either end wraps it (LeRobot's wrist_roll range 0…4095).
    func wrapped(_ p: Double) -> Double {
        guard table.wireProtocol == .feetech else { return p }
        let r = Double(table.resolution)
        let w = p.truncatingRemainder(dividingBy: r)
        return w < 0 ? w + r : w
    }

    /// Moves the joint by hand to `actual` encoder ticks (torque off, as LeRobot's range recording asks the user
    /// to): the emulator's hook for interactive calibration.
    public func moveByHand(toActual actual: Double) {
        motion.position = wrapped(direction * actual + homingShift)
        motion.velocity = 0
        syncPresent()
    }

    /// Picks up what a write changed: goal, torque, limits.
    func applyWrite(address: Int, count: Int, previousShift: Double, previousDirection: Double = 1) {
        func touched(_ r: ServoRegister) -> Bool {
            Int(r.address) < address + count && address < Int(r.address) + r.width
        }
        if touched(homingOffsetRegister) || (table.wireProtocol == .dynamixel && touched(DynamixelX.driveMode)) {
            // The joint stays where it is; its reading moves. The goal register keeps its value (so a torqued
            // servo would move: LeRobot writes offsets with torque off, and both are EEPROM on Dynamixel X).
            let actual = previousDirection * (motion.position - previousShift)
            motion.position = wrapped(direction * actual + homingShift)
            syncPresent()
        }
        if touched(table.goalPosition) { motion.goal = Double(load(table.goalPosition)) }
        if touched(table.torqueEnable) { motion.torqueEnabled = load(table.torqueEnable) != 0 }
        let mode = table.wireProtocol == .dynamixel && touched(DynamixelX.operatingMode)
        if touched(table.minPositionLimit) || touched(table.maxPositionLimit) || mode { applyPositionRange() }
        if touched(table.id) { motion.id = id }
    }
}

/// Bytes the emulator sends, and when (monotonic ns).
public struct EmulatorOutput: Sendable {
    public var bytes: [UInt8]
    public var releaseAt: UInt64
}

/// Emulated servos on one bus, answering requests as the real ones do, with counted fault injection.
public final class ServoBusEmulator {
    public let wireProtocol: ServoProtocol
    public private(set) var servos: [EmulatedServo]
    /// What moves the servos between requests.
    public var model: any ServoModel
    /// How late a `.lateReply` arrives (default 50 ms: past any sensible bus timeout).
    public var lateReplyDelayNanoseconds: UInt64 = 50_000_000
    /// Faults currently armed.
    public private(set) var faults: [ServoFault] = []
    /// How many replies each fault kind affected so far.
    public private(set) var injected: [ServoFaultKind: Int] = [:]
    /// Requests understood, and bytes that were not part of a valid request.
    public private(set) var requestsHandled = 0
    public var discardedBytes: Int { parser.discardedBytes }

    private var parser: ServoFrameParser
    private var out = PacketBuffer(capacity: 1024)
    private var pending: [EmulatorOutput] = []
    private var motionScratch: [ServoMotionState] = []
    private var noise = RandomGenerator(seed: 0x5EED)
    /// Time since the last instruction packet on the bus (the Bus Watchdog's measure; ServoBusWatchdog.swift).
    var secondsSinceInstruction: Double = 0
    /// Bus Watchdog trips so far (all servos).
    public internal(set) var busWatchdogTrips = 0
    /// The rates of `setFaultRates` (nil: only faults armed with `inject`).
    public private(set) var faultRates: ServoFaultRates?
    /// Per kind: episodes (silent, overheat, undervoltage) started so far by the rates.
    public var faultEpisodes: [ServoFaultKind: Int] { episodeSchedules.mapValues(\.started) }
    private var perReplyRates: [(ServoFaultKind, Double)] = []
    private var episodeSchedules: [ServoFaultKind: FaultEpisodeSchedule] = [:]
    /// The servo each kind's episode under way affects.
    private var episodeServo: [ServoFaultKind: UInt8] = [:]
    private var rateRandom = RandomGenerator(seed: 0)

    /// An emulator for servos on one bus (all the same protocol).
    public init(servos: [EmulatedServo], model: any ServoModel = FirstOrderMotorModel()) throws {
        guard let first = servos.first else {
            throw ReflexError(.invalidArgument, "an emulated bus needs at least one servo")
        }
        let proto = first.table.wireProtocol
        guard servos.allSatisfy({ $0.table.wireProtocol == proto }) else {
            throw ReflexError(.invalidArgument, "all emulated servos on one bus must speak the same protocol")
        }
        guard Set(servos.map(\.id)).count == servos.count else {
            throw ReflexError(.invalidArgument, "emulated servo ids must be distinct, got \(servos.map(\.id))")
        }
        wireProtocol = proto
        self.servos = servos
        self.model = model
        parser = ServoFrameParser(framing: proto == .feetech ? .feetechInstruction : .dynamixelInstruction)
    }

    /// A bus of `table` servos with `ids`, all at mid-range.
    public convenience init(table: ServoControlTable, ids: [UInt8], model: any ServoModel = FirstOrderMotorModel()) throws {
        try self.init(servos: ids.map { EmulatedServo(table: table, id: $0, position: Double(table.resolution / 2)) },
                      model: model)
    }

    /// The servo with `id`, if present.
    public func servo(id: UInt8) -> EmulatedServo? { servos.first { $0.id == id } }

    /// Arms a fault.
    public func inject(_ fault: ServoFault) { faults.append(fault) }

    /// Injects faults at `rates` from now on, drawn from `seed`: each reply gets each per-reply kind with its
    /// probability (a one-shot fault on that servo, counted in `injected` when it takes effect); episodes start
    /// on a random servo as the emulator's clock (`advance`) runs and are disarmed when they end.
    public func setFaultRates(_ rates: ServoFaultRates, seed: UInt64) {
        faultRates = rates
        rateRandom = RandomGenerator(seed: seed)
        perReplyRates = ServoFaultKind.allCases.compactMap { k in rates.perReply[k].map { (k, $0) } }.filter { $0.1 > 0 }
        episodeSchedules = [:]
        for (n, k) in ServoFaultKind.allCases.enumerated() {
            if let r = rates.episodes[k] { episodeSchedules[k] = FaultEpisodeSchedule(rate: r, seed: seed &+ 1 &+ UInt64(n)) }
        }
    }

    /// Disarms every fault (or those of one kind).
    public func clearFaults(_ kind: ServoFaultKind? = nil) {
        faults.removeAll { kind == nil || $0.kind == kind }
    }

    /// Moves the servos by `dt` seconds through the model.
    public func advance(dt: Double) {
        motionScratch.removeAll(keepingCapacity: true)
        for s in servos { motionScratch.append(s.motion) }
        model.advance(&motionScratch, dt: dt)
        for (k, s) in servos.enumerated() {
            s.motion.position = motionScratch[k].position
            s.motion.velocity = motionScratch[k].velocity
            s.motion.load = motionScratch[k].load
            s.syncPresent()
        }
        secondsSinceInstruction += dt
        applyBusWatchdogs()
        advanceFaultEpisodes(dt: dt)
    }

    /// Feeds received bytes; replies become available from `takeOutput`.
    public func receive(_ bytes: UnsafeRawBufferPointer, now: UInt64) {
        parser.append(bytes)
        while true {
            switch parser.next() {
            case .needMore: return
            case .corrupt: continue // a real servo ignores a packet with a bad checksum
            case .frame(let f):
                requestsHandled += 1
                secondsSinceInstruction = 0
                let params = parser.withParameters(of: f) { Array($0) }
                handle(id: f.id, instruction: f.instruction, params: params, now: now)
            }
        }
    }

    /// Convenience for tests.
    public func receive(_ bytes: [UInt8], now: UInt64 = monotonicNanoseconds()) {
        bytes.withUnsafeBytes { receive($0, now: now) }
    }

    /// Outputs due at or before `now`, in order; later ones stay queued.
    public func takeOutput(dueBy now: UInt64) -> [UInt8] {
        var result: [UInt8] = []
        var keep: [EmulatorOutput] = []
        for o in pending {
            if o.releaseAt <= now { result += o.bytes } else { keep.append(o) }
        }
        pending = keep
        return result
    }

    /// When the next queued output is due, if any.
    public var nextReleaseTime: UInt64? { pending.map(\.releaseAt).min() }

    // MARK: - Requests

    private func handle(id: UInt8, instruction: UInt8, params: [UInt8], now: UInt64) {
        switch wireProtocol {
        case .feetech: handleFeetech(id: id, instruction: instruction, p: params, now: now)
        case .dynamixel: handleDynamixel(id: id, instruction: instruction, p: params, now: now)
        }
    }

    private func targets(_ id: UInt8) -> [EmulatedServo] {
        id == 0xFE ? servos : servos.filter { $0.id == id }
    }

    private func handleFeetech(id: UInt8, instruction: UInt8, p: [UInt8], now: UInt64) {
        typealias I = FeetechPacket.Instruction
        switch I(rawValue: instruction) {
        case .ping:
            // Real STS servos answer a broadcast ping one after another (LeRobot's broadcast_ping and
            // lerobot-setup-motors count on it).
            var delay: UInt64 = 0
            for s in targets(id) { delay += reply(s, data: [], now: now, after: delay) }
        case .read:
            guard p.count >= 2, id != 0xFE, let s = servo(id: id) else { return }
            reply(s, data: readMemory(s, Int(p[0]), Int(p[1])), now: now)
        case .write, .regWrite:
            guard p.count >= 1 else { return }
            for s in targets(id) {
                writeMemory(s, Int(p[0]), Array(p[1...]))
                if id != 0xFE { reply(s, data: [], now: now, addressedAs: id) }
            }
        case .syncWrite:
            guard p.count >= 2 else { return }
            let address = Int(p[0]), width = Int(p[1])
            var k = 2
            while k + 1 + width <= p.count {
                if let s = servo(id: p[k]) { writeMemory(s, address, Array(p[(k + 1) ..< (k + 1 + width)])) }
                k += 1 + width
            }
        case .syncRead:
            guard p.count >= 2 else { return }
            let address = Int(p[0]), length = Int(p[1])
            var delay: UInt64 = 0
            for target in p[2...] {
                guard let s = servo(id: target) else { continue }
                delay += reply(s, data: readMemory(s, address, length), now: now, after: delay)
            }
        case .action, .none:
            return
        }
    }

    private func handleDynamixel(id: UInt8, instruction: UInt8, p: [UInt8], now: UInt64) {
        typealias I = DynamixelPacket.Instruction
        func word(_ k: Int) -> Int { Int(p[k]) | Int(p[k + 1]) << 8 }
        switch I(rawValue: instruction) {
        case .ping:
            var delay: UInt64 = 0
            for s in targets(id) {
                let model = UInt16(s.table.modelNumber)
                let fw = UInt8(truncatingIfNeeded: s.load(DynamixelX.firmwareVersion))
                delay += reply(s, data: [UInt8(model & 0xFF), UInt8(model >> 8), fw], now: now, after: delay)
            }
        case .read:
            guard p.count >= 4, id != 0xFE, let s = servo(id: id) else { return }
            let address = word(0), length = word(2)
            guard address + length <= s.memory.count else { reply(s, data: [], error: DynamixelPacket.accessError, now: now); return }
            reply(s, data: readMemory(s, address, length), now: now)
        case .write, .regWrite:
            guard p.count >= 2 else { return }
            let address = word(0)
            let data = Array(p[2...])
            for s in targets(id) {
                let ok = address + data.count <= s.memory.count && writable(s, address, data.count)
                if ok { writeMemory(s, address, data) }
                if id != 0xFE { reply(s, data: [], error: ok ? 0 : DynamixelPacket.accessError, now: now, addressedAs: id) }
            }
        case .syncWrite:
            guard p.count >= 4 else { return }
            let address = word(0), width = word(2)
            var k = 4
            while k + 1 + width <= p.count {
                if let s = servo(id: p[k]), writable(s, address, width) {
                    writeMemory(s, address, Array(p[(k + 1) ..< (k + 1 + width)]))
                }
                k += 1 + width
            }
        case .syncRead:
            guard p.count >= 4 else { return }
            let address = word(0), length = word(2)
            var delay: UInt64 = 0
            for target in p[4...] {
                guard let s = servo(id: target) else { continue }
                delay += reply(s, data: readMemory(s, address, length), now: now, after: delay)
            }
        case .fastSyncRead:
            guard p.count >= 4 else { return }
            let present = p[4...].compactMap { servo(id: $0) }.filter { !faultActive(.silent, $0.id) }
            if !present.isEmpty { fastSyncReply(present, address: word(0), length: word(2), now: now) }
        case .bulkRead:
            var delay: UInt64 = 0
            var k = 0
            while k + 5 <= p.count {
                if let s = servo(id: p[k]) {
                    delay += reply(s, data: readMemory(s, word(k + 1), word(k + 3)), now: now, after: delay)
                }
                k += 5
            }
        case .reboot, .action, .factoryReset, .clear:
            if id != 0xFE, let s = servo(id: id) { reply(s, data: [], now: now) }
        default:
            if id != 0xFE, let s = servo(id: id) { reply(s, data: [], error: 2, now: now) } // instruction error
        }
    }

    /// Dynamixel X rules: read-only registers refuse, and so does the EEPROM area while Torque_Enable is 1
    /// (e-Manual: "EEPROM area can only be written when Torque Enable is 0").
    private func writable(_ s: EmulatedServo, _ address: Int, _ count: Int) -> Bool {
        for r in s.table.registers where Int(r.address) < address + count && address < Int(r.address) + r.width {
            if !r.writable { return false }
            if r.area == .eeprom && s.motion.torqueEnabled { return false }
        }
        if s.busWatchdogTripped && s.touchesGoal(address, count) { return false } // read-only until cleared
        return true
    }

    private func readMemory(_ s: EmulatedServo, _ address: Int, _ length: Int) -> [UInt8] {
        s.syncPresent()
        var d = [UInt8](repeating: 0, count: length)
        for k in 0 ..< length where address + k < s.memory.count { d[k] = s.memory[address + k] }
        // Armed health faults show in what is read, not in memory: clearing the fault brings the servo back.
        let layout = ServoHealthLayout(s.table)
        func overlay(_ r: ServoRegister, _ value: Int32) {
            let raw = r.encode(value)
            for b in 0 ..< r.width where (0 ..< length).contains(Int(r.address) + b - address) {
                d[Int(r.address) + b - address] = UInt8(truncatingIfNeeded: raw >> UInt32(8 * b))
            }
        }
        if faultActive(.overheat, s.id) { overlay(layout.temperature, max(80, s.load(layout.temperatureLimit) + 10)) }
        if faultActive(.underVoltage, s.id) { overlay(layout.voltage, s.load(layout.minVoltage) - 5) }
        let bits = activeHardwareBits(s.id)
        if bits != 0 { overlay(layout.error, s.load(layout.error) | Int32(bits)) }
        return d
    }

    /// The hardware-error bits the armed faults of servo `id` set (the same positions in both protocols, but
    /// for the encoder: Feetech's angle-sensor bit 1, Dynamixel's motor-encoder bit 3).
    private func activeHardwareBits(_ id: UInt8) -> UInt8 {
        var bits: UInt8 = 0
        if faultActive(.overload, id) { bits |= 1 << 5 }
        if faultActive(.overheat, id) { bits |= 1 << 2 }
        if faultActive(.underVoltage, id) { bits |= 1 << 0 }
        if faultActive(.encoder, id) { bits |= wireProtocol == .feetech ? 1 << 1 : 1 << 3 }
        return bits
    }

    private func writeMemory(_ s: EmulatedServo, _ address: Int, _ data: [UInt8]) {
        let shift = s.homingShift, direction = s.direction
        for (k, b) in data.enumerated() where address + k < s.memory.count && address + k >= 0 {
            s.memory[address + k] = b
        }
        s.applyWrite(address: address, count: data.count, previousShift: shift, previousDirection: direction)
    }

    // MARK: - Replies and faults

    private func advanceFaultEpisodes(dt: Double) {
        for kind in ServoFaultKind.allCases {
            guard var schedule = episodeSchedules[kind] else { continue }
            let transition = schedule.advance(dt: dt)
            episodeSchedules[kind] = schedule
            switch transition {
            case .started:
                let id = servos[Int(rateRandom.next() % UInt64(servos.count))].id
                episodeServo[kind] = id
                faults.append(ServoFault(kind, id: id, count: nil))
            case .ended:
                if let id = episodeServo.removeValue(forKey: kind) {
                    faults.removeAll { $0.kind == kind && $0.id == id && $0.remaining == nil }
                }
            case nil: break
            }
        }
    }

    /// Arms this reply's per-reply faults at their rates (one-shot, on the replying servo).
    private func drawRateFaults(_ id: UInt8) {
        for (kind, p) in perReplyRates where FaultEpisodeSchedule.uniform(&rateRandom) < p {
            faults.append(ServoFault(kind, id: id, count: 1))
        }
    }

    private func faultActive(_ kind: ServoFaultKind, _ id: UInt8) -> Bool {
        faults.contains { $0.kind == kind && ($0.id == nil || $0.id == id) && ($0.remaining ?? 1) > 0 }
    }

    /// Uses up one reply's worth of the first matching armed fault; true when one applied.
    private func consume(_ kind: ServoFaultKind, _ id: UInt8) -> Bool {
        guard let k = faults.firstIndex(where: { $0.kind == kind && ($0.id == nil || $0.id == id) && ($0.remaining ?? 1) > 0 })
        else { return false }
        if let r = faults[k].remaining {
            faults[k].remaining = r - 1
            if r - 1 <= 0 { faults.remove(at: k) }
        }
        injected[kind, default: 0] += 1
        return true
    }

    /// The one status packet a Fast Sync Read gets (e-Manual, Protocol 2.0, 0x8A): ID 0xFE, instruction 0x55,
    /// then per servo its error, id, data and a CRC of the packet so far; the last servo's CRC is the packet's own.
    /// Each servo appends its part in turn, so the length counts them all: 1 + N × (length + 4). No byte stuffing
    /// (dynamixel_sdk reads it unstuffed).
    private func fastSyncReply(_ servos: [EmulatedServo], address: Int, length: Int, now: UInt64) {
        let total = 1 + servos.count * (length + 4)
        var bytes: [UInt8] = [0xFF, 0xFF, 0xFD, 0x00, 0xFE, UInt8(total & 0xFF), UInt8(total >> 8), 0x55]
        for s in servos {
            bytes.append(activeHardwareBits(s.id) != 0 ? DynamixelPacket.alertBit : 0)
            bytes.append(s.id)
            bytes += readMemory(s, address, length)
            let crc = bytes.withUnsafeBytes { DynamixelPacket.crc16($0) }
            bytes += [UInt8(truncatingIfNeeded: crc), UInt8(truncatingIfNeeded: crc >> 8)]
        }
        pending.append(EmulatorOutput(bytes: bytes, releaseAt: now))
    }

    /// Queues a status packet from `s`; returns how long it occupies the line (so sync-read replies queue up).
    @discardableResult
    /// `addressedAs`: the id the instruction named, which the status packet carries even when the instruction
    /// just changed the servo's ID register (the SDKs wait for a status with the id they sent to; LeRobot's motor
    /// setup renumbers each servo that way).
    private func reply(_ s: EmulatedServo, data: [UInt8], error: UInt8 = 0, now: UInt64, after: UInt64 = 0,
                       addressedAs: UInt8? = nil) -> UInt64 {
        let id = addressedAs ?? s.id
        if !perReplyRates.isEmpty { drawRateFaults(id) }
        if consume(.silent, id) || consume(.droppedReply, id) { return 0 }
        var err = error
        var hw: UInt8 = 0
        if consume(.overload, id) { hw |= 1 << 5 }
        if consume(.overheat, id) { hw |= 1 << 2 }
        if consume(.underVoltage, id) { hw |= 1 << 0 }
        if consume(.encoder, id) { hw |= wireProtocol == .feetech ? 1 << 1 : 1 << 3 }
        if wireProtocol == .feetech {
            err |= hw // the same bit positions: overload 0x20, overheat 0x04
        } else {
            s.store(DynamixelX.hardwareErrorStatus, Int32(hw))
            if hw != 0 { err |= DynamixelPacket.alertBit }
        }
        data.withUnsafeBytes { d in
            if wireProtocol == .feetech {
                FeetechPacket.status(&out, id: id, error: err, parameters: d)
            } else {
                DynamixelPacket.status(&out, id: id, error: err, parameters: d)
            }
        }
        var bytes = out.bytes
        if consume(.badChecksum, id) { bytes[bytes.count - 1] ^= 0x5A }
        if consume(.garbage, id) {
            var junk: [UInt8] = [0xFF, 0x00]
            for _ in 0 ..< 6 { junk.append(UInt8(truncatingIfNeeded: noise.next())) }
            bytes = junk + bytes
        }
        var release = now + after
        if consume(.lateReply, id) { release += lateReplyDelayNanoseconds }
        pending.append(EmulatorOutput(bytes: bytes, releaseAt: release))
        // 10 bits a byte at 1 Mbit/s; the line is busy that long before the next servo's turn.
        return UInt64(bytes.count) * 10_000
    }
}
