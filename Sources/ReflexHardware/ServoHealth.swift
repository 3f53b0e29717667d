// Servo health while running: temperature, supply voltage, load or current and hardware-error status of each
// servo, read one servo at a time beside the control traffic and judged against the servo's own limits. Users
// ask how to tell a sick servo from a bad cable: a cable loses replies (noReply, bus retries), a sick servo
// answers with heat, a sagging supply or error bits.
import ReflexCore
import Synchronization

/// What a health reading found wrong with one servo.
public struct ServoHealthProblems: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Within `ServoHealthMonitor.temperatureMargin` of the servo's own temperature limit, or above it.
    public static let overTemperature = ServoHealthProblems(rawValue: 1 << 0)
    /// Supply below the servo's Min_Voltage_Limit.
    public static let underVoltage = ServoHealthProblems(rawValue: 1 << 1)
    /// Supply above the servo's Max_Voltage_Limit.
    public static let overVoltage = ServoHealthProblems(rawValue: 1 << 2)
    /// Hardware-error bits set (Feetech Status; Dynamixel Hardware_Error_Status).
    public static let hardwareError = ServoHealthProblems(rawValue: 1 << 3)
    /// The servo's last read (health or control) got no reply.
    public static let noReply = ServoHealthProblems(rawValue: 1 << 4)

    static let names: [(ServoHealthProblems, String)] = [
        (.overTemperature, "over_temperature"), (.underVoltage, "under_voltage"), (.overVoltage, "over_voltage"),
        (.hardwareError, "hardware_error"), (.noReply, "no_reply"),
    ]

    /// Names of the set bits (`over_temperature`, …), as `/v1/status` and `/metrics` spell them.
    public var names: [String] { Self.names.filter { contains($0.0) }.map(\.1) }
}

/// One servo's latest health reading with its limits and what is wrong, in °C, V, % and A.
public struct ServoHealth: Sendable, Codable, Equatable {
    public var joint: String
    public var id: Int
    public var model: String
    /// Present temperature (°C); nil before the first reading.
    public var temperature: Int?
    /// The servo's own limit (Feetech Max_Temperature_Limit, Dynamixel Temperature_Limit), °C.
    public var temperatureLimit: Int
    /// Present supply voltage (V).
    public var voltage: Double?
    /// The servo's Min/Max_Voltage_Limit (V).
    public var minVoltage: Double
    public var maxVoltage: Double
    /// Present load, % of the servo's maximum torque, signed (Feetech and XL430 Present_Load).
    public var load: Double?
    /// Present current (A): XL330 Present_Current (1 mA units), Feetech Present_Current (6.5 mA units).
    public var current: Double?
    /// The raw hardware-error bits and their names in the vendor's words.
    public var hardwareError: Int
    public var hardwareErrorNames: [String]
    /// `ServoHealthProblems.names` of what is wrong.
    public var problems: [String]
    /// Each problem in words, naming the joint and the servo (in the order of `problems`).
    public var messages: [String]
    /// Health reads answered and missed since `configure`.
    public var readings: Int
    public var missedReadings: Int
    /// Seconds since the last answered reading (nil: none yet).
    public var age: Double?
}

/// A bus arm's health as the daemon reports it: each servo's latest reading and the bus's counters.
public struct BusHealthReport: Sendable, Codable, Equatable {
    /// The bus's device path.
    public var bus: String
    public var servos: [ServoHealth]
    /// Requests, retries, timeouts, corrupt replies and failed transactions since `configure`.
    public var statistics: ServoBusStatistics
    /// The bus's retry budget (nil: none), how many times it ran out, and why motion stopped (while it is spent).
    public var retryBudget: BusRetryBudget?
    public var retryBudgetExhaustions: Int
    public var retryBudgetMessage: String?

    public init(bus: String, servos: [ServoHealth], statistics: ServoBusStatistics, retryBudget: BusRetryBudget? = nil,
                retryBudgetExhaustions: Int = 0, retryBudgetMessage: String? = nil) {
        self.bus = bus
        self.servos = servos
        self.statistics = statistics
        self.retryBudget = retryBudget
        self.retryBudgetExhaustions = retryBudgetExhaustions
        self.retryBudgetMessage = retryBudgetMessage
    }
}

/// Where a model keeps its health registers.
struct ServoHealthLayout: Sendable {
    /// One contiguous block read in one request: load/current, voltage, temperature (and Feetech's Status).
    let first: ServoRegister
    let last: ServoRegister
    let temperature: ServoRegister
    let voltage: ServoRegister
    let load: ServoRegister?
    let current: ServoRegister?
    /// A/unit of `current`.
    let ampsPerUnit: Double
    /// Hardware-error bits: inside the block on Feetech (Status, 65); a second read on Dynamixel (70).
    let error: ServoRegister
    let errorInBlock: Bool
    let temperatureLimit: ServoRegister
    let minVoltage: ServoRegister
    let maxVoltage: ServoRegister

    init(_ t: ServoControlTable) {
        if t.wireProtocol == .feetech {
            typealias R = STS3215.Register
            first = R.presentLoad
            last = R.presentCurrent
            temperature = R.presentTemperature
            voltage = R.presentVoltage
            load = R.presentLoad
            current = R.presentCurrent
            ampsPerUnit = 0.0065
            error = R.status
            errorInBlock = true
            temperatureLimit = R.maxTemperatureLimit
            minVoltage = R.minVoltageLimit
            maxVoltage = R.maxVoltageLimit
        } else {
            first = t.presentLoad // Present_Current (XL330) or Present_Load (XL430), 126
            last = DynamixelX.presentTemperature
            temperature = DynamixelX.presentTemperature
            voltage = DynamixelX.presentInputVoltage
            let isCurrent = t.presentLoad.name == "Present_Current"
            load = isCurrent ? nil : t.presentLoad
            current = isCurrent ? t.presentLoad : nil
            ampsPerUnit = 0.001
            error = DynamixelX.hardwareErrorStatus
            errorInBlock = false
            temperatureLimit = DynamixelX.temperatureLimit
            minVoltage = DynamixelX.minVoltageLimit
            maxVoltage = DynamixelX.maxVoltageLimit
        }
    }

    /// Hardware-error bits in the vendor's words.
    func errorNames(_ bits: UInt8, _ proto: ServoProtocol) -> [String] {
        let named: [(UInt8, String)] = proto == .feetech
            ? [(1, "input voltage"), (2, "angle sensor"), (4, "overheating"), (8, "overcurrent"), (32, "overload")]
            : [(1, "input voltage"), (4, "overheating"), (8, "motor encoder"), (16, "electrical shock"), (32, "overload")]
        var out = named.filter { bits & $0.0 != 0 }.map(\.1)
        let known = named.reduce(UInt8(0)) { $0 | $1.0 }
        if bits & ~known != 0 { out.append("bits 0x\(String(bits & ~known, radix: 16))") }
        return out
    }
}

/// The latest raw reading of one servo (plain values: the loop stores it without allocating).
struct ServoHealthSample: Sendable {
    var temperature: Int32 = 0
    var voltage: Int32 = 0
    var load: Int32 = 0
    var current: Int32 = 0
    var error: UInt8 = 0
    /// Reads of this servo in a row that got no reply (a failed cold read, after its retries, counts in full).
    var missStreak = 0
    /// One lost reply is line noise (the retry budget's business); this many in a row is a servo gone.
    static let missesForNoReply = 3
    var missing: Bool { missStreak >= Self.missesForNoReply }
    var sampled: UInt64 = 0
    var readings = 0
    var misses = 0
    // The servo's limits, read once at configure.
    var temperatureLimit: Int32 = 0
    var minVoltage: Int32 = 0
    var maxVoltage: Int32 = 0
}

/// Reads each servo's health at a low rate and keeps the latest reading per servo for telemetry, the daemon and
/// `reflex servo health`.
///
/// `step` (one servo, one request, no retry) runs inside the control tick every `BusRobot.healthInterval` ticks;
/// it allocates nothing, and the readings cross to other threads under a mutex the loop only tries. (Unchecked
/// Sendable: the request groups are used only by the thread that owns the bus; the readings sit behind the mutex.)
public final class ServoHealthMonitor: @unchecked Sendable {
    public let jointNames: [String]
    public let ids: [UInt8]
    let tables: [ServoControlTable]
    let layouts: [ServoHealthLayout]
    /// A servo within this many °C of its own temperature limit counts as over-temperature (the servo shuts
    /// itself down at the limit; this warns first).
    public let temperatureMargin: Int
    private let samples: Mutex<[ServoHealthSample]>
    /// The bus's counters as of the last health read or failed control read (the loop owns the live ones).
    private let counters = Mutex(ServoBusStatistics())
    /// The bus's device path, set at configure.
    let busName = Mutex("")
    /// Retries in the window when the retry budget ran out (0: not spent), and how often it ran out.
    private let retryBudget = Mutex((exhaustedWith: 0, exhaustions: 0))
    /// One request per slot: a servo's block, and on Dynamixel its Hardware_Error_Status.
    private let slots: [(servo: Int, group: ServoSyncRead, isError: Bool)]
    private let cursor = Atomic<Int>(0)

    /// A monitor for servos `ids` (joint order) of `tables`.
    /// - Warning: Not real-time safe.
    init(jointNames: [String], ids: [UInt8], tables: [ServoControlTable], temperatureMargin: Int = 5) throws {
        self.jointNames = jointNames
        self.ids = ids
        self.tables = tables
        self.temperatureMargin = temperatureMargin
        layouts = tables.map(ServoHealthLayout.init)
        samples = Mutex([ServoHealthSample](repeating: ServoHealthSample(), count: ids.count))
        var slots: [(Int, ServoSyncRead, Bool)] = []
        for (k, id) in ids.enumerated() {
            let l = layouts[k]
            slots.append((k, try ServoSyncRead(from: l.first, through: l.last, ids: [id]), false))
            if !l.errorInBlock { slots.append((k, try ServoSyncRead(from: l.error, through: l.error, ids: [id]), true)) }
        }
        self.slots = slots
    }

    /// Reads every servo's limits (cold path, at configure); a servo that does not answer is marked missing.
    /// - Warning: Not real-time safe.
    func readLimits(_ bus: any ServoBusDriver) {
        for k in ids.indices {
            let l = layouts[k]
            guard let t = try? bus.read(l.temperatureLimit, id: ids[k]), let lo = try? bus.read(l.minVoltage, id: ids[k]),
                  let hi = try? bus.read(l.maxVoltage, id: ids[k])
            else {
                samples.withLock { $0[k].missStreak = ServoHealthSample.missesForNoReply; $0[k].misses += 1 }
                continue
            }
            samples.withLock {
                $0[k].temperatureLimit = t
                $0[k].minVoltage = lo
                $0[k].maxVoltage = hi
            }
        }
    }

    /// Reads every servo once (cold path: start-up checks, `reflex servo health`).
    /// - Warning: Not real-time safe.
    func readAll(_ bus: any ServoBusDriver) {
        for _ in slots { step(bus, blocking: true) }
    }

    /// Reads the next slot's servo: one request, its reply stored as that servo's latest reading.
    /// - Note: Real-time safe.
    func step(_ bus: any ServoBusDriver, blocking: Bool = false) {
        let n = cursor.load(ordering: .relaxed)
        cursor.store(n + 1 == slots.count ? 0 : n + 1, ordering: .relaxed)
        let slot = slots[n]
        // Cold readings get the bus's retries; the tick's get one attempt (a retry would cost the tick its period).
        let outcome = blocking ? bus.trySyncRead(slot.group) : bus.trySyncReadOnce(slot.group)
        let now = monotonicNanoseconds()
        let statistics = bus.statistics
        if blocking {
            samples.withLock { Self.record(&$0, slot, layouts[slot.servo], outcome, now, missWeight: ServoHealthSample.missesForNoReply) }
            counters.withLock { $0 = statistics }
        } else {
            _ = samples.withLockIfAvailable { Self.record(&$0, slot, layouts[slot.servo], outcome, now) }
            _ = counters.withLockIfAvailable { $0 = statistics }
        }
    }

    /// Publishes the bus's counters for other threads.
    /// - Note: Real-time safe.
    func publish(_ statistics: ServoBusStatistics) {
        _ = counters.withLockIfAvailable { $0 = statistics }
    }

    /// Records the retry budget running out (`exhaustedWith` > 0) or starting afresh (0). It waits for the lock,
    /// unlike the readings: it happens once per stop and must not be lost (readers hold the lock for a copy).
    /// - Note: Real-time safe.
    func noteRetryBudget(exhaustedWith: Int) {
        retryBudget.withLock {
            if exhaustedWith > 0 { $0.exhaustions += 1 }
            $0.exhaustedWith = exhaustedWith
        }
    }

    /// The retry budget's state as last noted.
    public var retryBudgetState: (exhaustedWith: Int, exhaustions: Int) { retryBudget.withLock { $0 } }

    /// The bus's counters as last published by the thread that owns the bus.
    public var busStatistics: ServoBusStatistics { counters.withLock { $0 } }

    /// Stores a health read's outcome as its servo's latest reading.
    /// - Note: Real-time safe.
    private static func record(_ s: inout [ServoHealthSample], _ slot: (servo: Int, group: ServoSyncRead, isError: Bool),
                               _ l: ServoHealthLayout, _ outcome: BusOutcome, _ now: UInt64, missWeight: Int = 1) {
        let k = slot.servo, g = slot.group
        guard outcome == .ok else {
            s[k].missStreak += missWeight
            s[k].misses += 1
            return
        }
        s[k].missStreak = 0
        s[k].readings += 1
        s[k].sampled = now
        if slot.isError {
            s[k].error = UInt8(truncatingIfNeeded: g.value(l.error, servo: 0))
            return
        }
        s[k].temperature = g.value(l.temperature, servo: 0)
        s[k].voltage = g.value(l.voltage, servo: 0)
        if let r = l.load { s[k].load = g.value(r, servo: 0) }
        if let r = l.current { s[k].current = g.value(r, servo: 0) }
        if l.errorInBlock { s[k].error = UInt8(truncatingIfNeeded: g.value(l.error, servo: 0)) | g.statusErrors[0] }
    }

    /// Counts a failed control read against the servos it did not hear from, and clears the streak of those it
    /// did (no extra traffic). Returns false when a reader held the lock (nothing recorded).
    /// - Note: Real-time safe.
    @discardableResult
    func recordMissing(_ group: ServoSyncRead) -> Bool {
        let done: Bool? = samples.withLockIfAvailable { s -> Bool in
            for k in 0 ..< min(s.count, group.received.count) {
                if group.received[k] {
                    s[k].missStreak = 0
                } else {
                    s[k].missStreak += 1
                    s[k].misses += 1
                }
            }
            return true
        }
        return done ?? false
    }

    /// A control read heard every servo: no streak of misses goes on. Returns false when a reader held the lock.
    /// - Note: Real-time safe.
    func clearMissStreaks() -> Bool {
        let done: Bool? = samples.withLockIfAvailable { s -> Bool in
            for k in s.indices { s[k].missStreak = 0 }
            return true
        }
        return done ?? false
    }

    /// Every servo's latest reading, judged against its limits.
    /// - Warning: Not real-time safe.
    public func snapshot() -> [ServoHealth] {
        // Copy the elements, never share the buffer: a shared buffer would make the loop's next store copy it.
        let raw = samples.withLock { $0.map { $0 } }
        let now = monotonicNanoseconds()
        return raw.indices.map { k in health(k, raw[k], now: now) }
    }

    /// The first problem found, in words, with the servo it concerns.
    /// - Warning: Not real-time safe.
    public func firstProblem() -> (message: String, id: UInt8)? {
        for h in snapshot() { if let m = h.messages.first { return (m, UInt8(h.id)) } }
        return nil
    }

    func health(_ k: Int, _ s: ServoHealthSample, now: UInt64) -> ServoHealth {
        let l = layouts[k], t = tables[k]
        let answered = s.readings > 0
        let volts = Double(s.voltage) / 10, lo = Double(s.minVoltage) / 10, hi = Double(s.maxVoltage) / 10
        var p: ServoHealthProblems = []
        var messages: [String] = []
        let who = "joint \(jointNames[k]): servo \(ids[k])"
        if answered {
            if Int(s.temperature) >= Int(s.temperatureLimit) - temperatureMargin {
                p.insert(.overTemperature)
                messages.append("\(who) is at \(s.temperature) °C, its limit is \(s.temperatureLimit) °C: let it cool, lighten its load")
            }
            if s.voltage < s.minVoltage || s.voltage > s.maxVoltage {
                p.insert(s.voltage < s.minVoltage ? .underVoltage : .overVoltage)
                messages.append("\(who) sees a supply of \(volts) V, outside its \(lo)–\(hi) V: check the power supply")
            }
            if s.error != 0 {
                p.insert(.hardwareError)
                messages.append("\(who) reports a hardware error: \(l.errorNames(s.error, t.wireProtocol).joined(separator: ", "))")
            }
        }
        // Last, as in `ServoHealthProblems.names`: `messages` and `problems` pair up in order.
        if s.missing {
            p.insert(.noReply)
            messages.append("\(who) did not answer (\(s.misses) reads missed): check its cable, power and id")
        }
        return ServoHealth(
            joint: jointNames[k], id: Int(ids[k]), model: t.modelName,
            temperature: answered ? Int(s.temperature) : nil, temperatureLimit: Int(s.temperatureLimit),
            voltage: answered ? volts : nil, minVoltage: lo, maxVoltage: hi,
            load: answered && l.load != nil ? Double(s.load) / 10 : nil,
            current: answered && l.current != nil ? Double(s.current) * l.ampsPerUnit : nil,
            hardwareError: Int(s.error), hardwareErrorNames: l.errorNames(s.error, t.wireProtocol),
            problems: p.names, messages: messages, readings: s.readings, missedReadings: s.misses,
            age: answered ? Double(now &- s.sampled) * 1e-9 : nil)
    }
}
