// A chain of servos on one half-duplex line: request, wait for the status packet, retry, and when a servo keeps
// failing say which id it was and what came back (LeRobot users lose hours to "There is no status packet").
import ReflexCore

/// Counts of what happened on a bus since it was opened.
public struct ServoBusStatistics: Sendable, Equatable, Codable {
    /// Requests sent (each retry counts).
    public var requests = 0
    /// Requests sent again after a failed attempt.
    public var retries = 0
    /// Attempts that saw no status packet from some servo.
    public var timeouts = 0
    /// Status packets that failed their checksum/CRC.
    public var corruptReplies = 0
    /// Status packets with error bits set.
    public var statusErrors = 0
    /// Transactions that failed after all retries.
    public var failures = 0
    /// Bytes skipped while resyncing on a packet header.
    public var discardedBytes = 0

    public init() {}
}

/// How a failed attempt went, for the message that finally gets thrown.
private enum AttemptOutcome { case ok, noReply, corrupt, refused }

/// A servo bus speaking `Codec` over `transport`.
///
/// Every buffer is made in `init`, so `syncRead`/`syncWrite` on preallocated groups allocate nothing while they
/// succeed (an `AllocationCounter` test holds this). Failures throw `ReflexError` with the servo id in the location
/// and the bytes sent and received in the message.
public final class ServoBus<Codec: ServoWireCodec> {
    public let transport: any ServoTransport
    /// Line rate, used only to size reply timeouts.
    public var baud: Int
    /// Extra attempts after a failed read (or acknowledged write); 0 disables retries.
    public var retries: Int
    /// Time allowed for the first byte of a reply, on top of the bytes' transmission time
    /// (USB adapters add up to a latency-timer period; the STS3215 and XL330 answer in well under 1 ms).
    public var replyTimeoutNanoseconds: UInt64
    /// Counters since opening.
    public private(set) var statistics = ServoBusStatistics()
    /// The last error byte each id reported (index = id).
    public private(set) var lastStatusError: [UInt8]
    /// Failed transactions per id (index = id).
    public private(set) var failuresByID: [Int]
    /// A name for messages (the device path).
    public let name: String

    var tx: PacketBuffer
    var parser: ServoFrameParser
    private var rx: [UInt8]
    private var capture: PacketBuffer
    private var readData: [UInt8]

    /// A bus over `transport`.
    /// - Warning: Not real-time safe.
    public init(transport: any ServoTransport, baud: Int = 1_000_000, retries: Int = 2,
                replyTimeoutNanoseconds: UInt64 = 10_000_000, name: String? = nil) {
        self.transport = transport
        self.baud = baud
        self.retries = retries
        self.replyTimeoutNanoseconds = replyTimeoutNanoseconds
        self.name = name ?? ((transport as? SerialPort)?.path ?? "bus")
        tx = PacketBuffer(capacity: 1024)
        parser = ServoFrameParser(framing: Codec.statusFraming, capacity: 4096)
        rx = [UInt8](repeating: 0, count: 512)
        capture = PacketBuffer(capacity: 256)
        readData = [UInt8](repeating: 0, count: 256)
        lastStatusError = [UInt8](repeating: 0, count: 256)
        failuresByID = [Int](repeating: 0, count: 256)
    }

    /// Opens `port` at `baud` and makes a bus on it.
    /// - Warning: Not real-time safe.
    public convenience init(port: String, baud: Int = 1_000_000, retries: Int = 2) throws {
        let serial = try SerialPort(path: port, baud: baud)
        self.init(transport: serial, baud: baud, retries: retries, name: port)
    }

    private func deadline(expectingBytes n: Int) -> UInt64 {
        let wire = UInt64(n) * 10 * 1_000_000_000 / UInt64(max(baud, 1))
        return monotonicNanoseconds() + replyTimeoutNanoseconds + wire
    }

    private func send() throws {
        guard !tx.overflowed else {
            throw ReflexError(.badServoRequest, "request does not fit in a \(tx.capacity)-byte packet")
        }
        transport.discardInput()
        parser.reset()
        capture.reset()
        statistics.requests += 1
        try tx.withUnsafeBytes { try transport.write($0) }
    }

    /// Reads from the transport until `deadline`; returns false when nothing more arrived in time.
    private func receiveMore(until deadline: UInt64) throws -> Bool {
        let n = try rx.withUnsafeMutableBytes { try transport.read(into: $0, deadline: deadline) }
        guard n > 0 else { return false }
        rx.withUnsafeBytes { p in
            let chunk = UnsafeRawBufferPointer(rebasing: p[0 ..< n])
            parser.append(chunk)
            for b in chunk where capture.count < capture.capacity { capture.append(b) }
        }
        return true
    }

    /// Waits for a status packet from `id`; on success the frame's data is copied to `readData`.
    private func awaitStatus(from id: UInt8, expecting n: Int) throws -> (AttemptOutcome, error: UInt8, count: Int) {
        let end = deadline(expectingBytes: n + Codec.statusOverhead)
        var sawCorrupt = false
        while true {
            switch parser.next() {
            case .frame(let f):
                guard f.id == id else { continue } // another servo's late reply: not ours
                let s = Codec.status(of: f, in: parser)
                // A reply of the wrong size is a stale one (a late answer to an earlier request): keep waiting.
                guard s.dataCount == n || Codec.isRefusal(s.error) else { continue }
                let count = min(s.dataCount, readData.count)
                for k in 0 ..< count { readData[k] = parser.byte(at: s.dataOffset + k) }
                return (Codec.isRefusal(s.error) ? .refused : .ok, s.error, count)
            case .corrupt:
                statistics.corruptReplies += 1
                sawCorrupt = true
                continue
            case .needMore:
                if try !receiveMore(until: end) {
                    if sawCorrupt || parser.bufferedCount > 0 { return (.corrupt, 0, 0) }
                    return (.noReply, 0, 0)
                }
            }
        }
    }

    /// One request to one servo, retried; returns the status error byte, data in `readData[0..<count]`.
    private func transact(id: UInt8, expecting n: Int, what: String) throws -> (error: UInt8, count: Int) {
        var outcome = AttemptOutcome.noReply
        var error: UInt8 = 0
        var lastCapture: [UInt8] = []
        for attempt in 0 ... retries {
            if attempt > 0 { statistics.retries += 1 }
            try send()
            let r = try awaitStatus(from: id, expecting: n)
            outcome = r.0
            error = r.error
            if outcome == .ok || outcome == .refused {
                if r.error != 0 { statistics.statusErrors += 1 }
                lastStatusError[Int(id)] = r.error
                if outcome == .refused {
                    throw failure(id: id, what: what, outcome: .refused, error: error, received: capture.bytes)
                }
                return (r.error, r.count)
            }
            if outcome == .noReply { statistics.timeouts += 1 }
            lastCapture = capture.bytes
        }
        throw failure(id: id, what: what, outcome: outcome, error: error, received: lastCapture)
    }

    private func failure(id: UInt8, what: String, outcome: AttemptOutcome, error: UInt8, received: [UInt8]) -> ReflexError {
        statistics.failures += 1
        failuresByID[Int(id)] += 1
        statistics.discardedBytes = parser.discardedBytes
        let attempts = retries + 1
        let sent = hexString(tx.bytes.prefix(48))
        let got = received.isEmpty ? "nothing" : hexString(received.prefix(64))
        let location = ReflexError.Location(file: name, element: "servo \(id)")
        switch outcome {
        case .noReply:
            return ReflexError(.servoNoReply,
                               "no status packet to \(what) after \(attempts) attempt(s) (sent \(sent); got nothing). Check this servo's id, power and wiring, and the baud rate",
                               at: location)
        case .corrupt:
            return ReflexError(.servoCorruptReply,
                               "incorrect status packet to \(what) after \(attempts) attempt(s) (sent \(sent); got \(got)). A bad checksum or cut-off reply points at this servo's cable or a second device answering",
                               at: location)
        case .refused:
            return ReflexError(.servoStatusError, "servo refused \(what): \(Codec.describe(error: error)) (sent \(sent); got \(got))",
                               at: location)
        case .ok:
            return ReflexError(.io, "internal: failure without a cause", at: location)
        }
    }

    private func checkAddress(_ address: Int, _ length: Int) throws {
        guard address >= 0, address + length - 1 <= Codec.maxAddress, length > 0, length <= 255 else {
            throw ReflexError(.badServoRequest, "address \(address) length \(length) is out of range for \(Codec.wireProtocol)")
        }
    }

    private func checkID(_ id: UInt8) throws {
        // Like the vendors' SDKs: anything below the broadcast id 254 can be addressed.
        guard id < 254 else { throw ReflexError(.badServoRequest, "servo id \(id) is out of range 0…253") }
    }

    // MARK: - Single-servo requests (cold paths: set-up, the CLI)

    /// PING `id`; returns its model number (Feetech: read from address 3 after the ping, as scservo_sdk does).
    /// - Warning: Not real-time safe.
    public func ping(id: UInt8) throws -> UInt16 {
        try checkID(id)
        Codec.ping(&tx, id: id)
        let r = try transact(id: id, expecting: Codec.wireProtocol == .dynamixel ? 3 : 0, what: "ping")
        if Codec.wireProtocol == .dynamixel {
            return r.count >= 2 ? UInt16(readData[0]) | UInt16(readData[1]) << 8 : 0
        }
        let bytes = try read(id: id, address: Int(STS3215.Register.modelNumber.address), length: 2)
        return UInt16(bytes[0]) | UInt16(bytes[1]) << 8
    }

    /// Pings ids `range` once each with a short timeout and returns those that answer, with their model numbers.
    /// - Warning: Not real-time safe.
    public func scan(_ range: ClosedRange<UInt8> = 0 ... 252, timeoutNanoseconds: UInt64 = 5_000_000) -> [(id: UInt8, model: UInt16)] {
        let saved = (retries, replyTimeoutNanoseconds)
        retries = 0
        replyTimeoutNanoseconds = timeoutNanoseconds
        defer { (retries, replyTimeoutNanoseconds) = saved }
        var found: [(UInt8, UInt16)] = []
        for id in range where id <= 252 {
            if let model = try? ping(id: id) { found.append((id, model)) }
        }
        return found
    }

    /// READ `length` bytes at `address` from `id`.
    /// - Warning: Not real-time safe (returns an array).
    public func read(id: UInt8, address: Int, length: Int) throws -> [UInt8] {
        try checkID(id)
        try checkAddress(address, length)
        Codec.read(&tx, id: id, address: UInt16(address), length: UInt16(length))
        let r = try transact(id: id, expecting: length, what: "read \(length) byte(s) at \(address)")
        guard r.count >= length else {
            throw ReflexError(.servoCorruptReply, "status packet carried \(r.count) byte(s), asked for \(length)",
                              at: .init(file: name, element: "servo \(id)"))
        }
        return Array(readData[0 ..< length])
    }

    /// Reads `register` from `id` and decodes it (sign convention included).
    /// - Warning: Not real-time safe.
    public func read(_ register: ServoRegister, id: UInt8) throws -> Int32 {
        let b = try read(id: id, address: Int(register.address), length: register.width)
        return register.decode(raw: b.withUnsafeBytes { LittleEndian.load($0, 0, width: register.width) })
    }

    /// WRITE bytes at `address` on `id` and wait for the acknowledgement (none for the broadcast id 254).
    /// - Warning: Not real-time safe.
    public func write(id: UInt8, address: Int, data: [UInt8]) throws {
        guard id <= 252 || id == 254 else { throw ReflexError(.badServoRequest, "servo id \(id) is out of range") }
        try checkAddress(address, data.count)
        data.withUnsafeBytes { Codec.write(&tx, id: id, address: UInt16(address), data: $0) }
        if id == 254 {
            try send()
            return
        }
        _ = try transact(id: id, expecting: 0, what: "write \(data.count) byte(s) at \(address)")
    }

    /// Reads `register` from `id` without throwing or allocating; nil when the servo never answered.
    /// - Note: Real-time safe.
    public func tryRead(_ register: ServoRegister, id: UInt8) -> Int32? {
        guard id < 254 else { return nil }
        Codec.read(&tx, id: id, address: register.address, length: UInt16(register.width))
        for attempt in 0 ... retries {
            if attempt > 0 { statistics.retries += 1 }
            do { try send() } catch { return nil }
            guard let r = try? awaitStatus(from: id, expecting: register.width) else { return nil }
            if r.0 == .ok, r.count >= register.width {
                lastStatusError[Int(id)] = r.error
                var raw: UInt32 = 0
                for k in 0 ..< register.width { raw |= UInt32(readData[k]) << UInt32(8 * k) }
                return register.decode(raw: raw)
            }
            if r.0 == .refused { return nil }
        }
        return nil
    }

    /// Encodes `value` for `register` and writes it to `id`.
    /// - Warning: Not real-time safe.
    public func write(_ register: ServoRegister, id: UInt8, value: Int32) throws {
        let raw = register.encode(value)
        var bytes: [UInt8] = []
        for b in 0 ..< register.width { bytes.append(UInt8(truncatingIfNeeded: raw >> UInt32(8 * b))) }
        try write(id: id, address: Int(register.address), data: bytes)
    }

    // MARK: - Group requests (the control tick)

    /// SYNC WRITE the group's values (no reply). Returns `.ioError` if the transport refused the bytes.
    /// - Note: Real-time safe (never throws, never allocates).
    public func trySyncWrite(_ group: ServoSyncWrite) -> BusOutcome {
        guard Codec.syncWrite(&tx, group: group) else { return .badRequest }
        do { try send() } catch { return .ioError }
        return .ok
    }

    /// SYNC WRITE the group's values (no reply).
    /// - Note: Real-time safe while it succeeds.
    public func syncWrite(_ group: ServoSyncWrite) throws {
        guard Codec.syncWrite(&tx, group: group) else {
            throw ReflexError(.badServoRequest, "sync write of \(group.ids.count) servos does not fit in one packet")
        }
        try send()
    }

    /// SYNC READ into the group's buffers, retrying the whole request while some servo is missing. On anything but
    /// `.ok`, `group.received` says which servos answered in the last attempt.
    /// - Note: Real-time safe (never throws, never allocates).
    public func trySyncRead(_ group: ServoSyncRead) -> BusOutcome {
        guard Codec.syncRead(&tx, group: group) else { return .badRequest }
        return collect(expectedPerServo: group.length, count: group.ids.count, slot: group.slot,
                       reset: { group.markAllMissing() }, length: { _ in group.length },
                       received: { group.received[$0] },
                       store: { k, p, e in group.store(servo: k, from: p, error: e) })
    }

    /// SYNC READ with a single attempt (no retry counted): for low-rate reads beside the control traffic.
    /// - Note: Real-time safe (never throws, never allocates).
    public func trySyncReadOnce(_ group: ServoSyncRead) -> BusOutcome {
        let saved = retries
        retries = 0
        defer { retries = saved }
        return trySyncRead(group)
    }

    /// SYNC READ into the group's buffers; retries the whole request while some servo is missing, then throws
    /// naming the servos that never answered and the bytes that came back.
    /// - Note: Real-time safe while it succeeds.
    public func syncRead(_ group: ServoSyncRead) throws {
        let outcome = trySyncRead(group)
        guard outcome != .ok else { return }
        throw groupFailure(outcome, ids: group.ids, received: group.received,
                           what: "sync read \(group.length) byte(s) at \(group.address)")
    }

    func collect(expectedPerServo: Int, count: Int, slot: [Int16], reset: () -> Void, length: (Int) -> Int,
                         received: (Int) -> Bool, store: (Int, UnsafeRawBufferPointer, UInt8) -> Void) -> BusOutcome {
        var outcome = BusOutcome.noReply
        for attempt in 0 ... retries {
            if attempt > 0 { statistics.retries += 1 }
            reset()
            do { try send() } catch { return .ioError }
            let end = deadline(expectingBytes: count * (expectedPerServo + Codec.statusOverhead))
            var got = 0
            var corruptSeen = false
            var timedOut = false
            while got < count && !timedOut {
                switch parser.next() {
                case .frame(let f):
                    let k = Int(slot[Int(f.id)])
                    guard k >= 0, !received(k) else { continue }
                    let s = Codec.status(of: f, in: parser)
                    guard s.dataCount == length(k) else { continue } // stale or refused: not this request's data
                    if s.error != 0 { statistics.statusErrors += 1 }
                    lastStatusError[Int(f.id)] = s.error
                    parser.withParameters(of: f) { all in
                        let start = s.dataOffset - f.parameterOffset
                        store(k, UnsafeRawBufferPointer(rebasing: all[start ..< start + s.dataCount]), s.error)
                    }
                    got += 1
                case .corrupt:
                    statistics.corruptReplies += 1
                    corruptSeen = true
                case .needMore:
                    do {
                        if try !receiveMore(until: end) { timedOut = true }
                    } catch {
                        return .ioError
                    }
                }
            }
            if got == count { return .ok }
            statistics.timeouts += 1
            outcome = corruptSeen ? .corrupt : .noReply
        }
        statistics.failures += 1
        for k in 0 ..< count where !received(k) {
            failuresByID[Int(slot.firstIndex(of: Int16(k)) ?? 0)] += 1
        }
        statistics.discardedBytes = parser.discardedBytes
        return outcome
    }

    /// The error for a failed group request: which servos never answered, what came back.
    /// - Warning: Not real-time safe.
    func groupFailure(_ outcome: BusOutcome, ids: [UInt8], received: [Bool], what: String) -> ReflexError {
        var missing: [UInt8] = []
        for k in ids.indices where !received[k] { missing.append(ids[k]) }
        let got = capture.count == 0 ? "nothing" : hexString(capture.bytes.prefix(96))
        let list = missing.map(String.init).joined(separator: ", ")
        let location = ReflexError.Location(file: name, element: "servo \(missing.first.map(String.init) ?? "?")")
        switch outcome {
        case .ioError:
            return ReflexError(.io, "\(what): the serial link failed", at: location)
        case .badRequest:
            return ReflexError(.badServoRequest, "\(what) does not fit in one packet", at: location)
        case .corrupt:
            return ReflexError(.servoCorruptReply,
                               "\(what): no valid status packet from servo(s) \(list) after \(retries + 1) attempt(s); corrupt packets seen; received \(got)",
                               at: location)
        case .noReply, .ok:
            return ReflexError(.servoNoReply,
                               "\(what): no valid status packet from servo(s) \(list) after \(retries + 1) attempt(s); received \(got)",
                               at: location)
        }
    }
}

/// How a hot-path group request went (the second tier of errors: a value, no allocation).
public enum BusOutcome: UInt8, Sendable {
    case ok
    /// Some servo never answered (see the group's `received`).
    case noReply
    /// Some servo's replies failed their checksum/CRC or were cut short.
    case corrupt
    /// The transport failed (device unplugged).
    case ioError
    /// The request does not fit in a packet.
    case badRequest
}

extension ServoBus where Codec == DynamixelCodec {
    /// BULK READ into the group's buffers (Dynamixel only), retried like `syncRead`.
    /// - Note: Real-time safe while it succeeds.
    public func bulkRead(_ group: ServoBulkRead) throws {
        let outcome = tryBulkRead(group)
        guard outcome != .ok else { return }
        throw groupFailure(outcome, ids: group.ids, received: group.received, what: "bulk read")
    }

    /// BULK READ without throwing.
    /// - Note: Real-time safe.
    public func tryBulkRead(_ group: ServoBulkRead) -> BusOutcome {
        guard DynamixelCodec.bulkRead(&tx, group: group) else { return .badRequest }
        let longest = group.lengths.max() ?? 0
        return collect(expectedPerServo: longest, count: group.ids.count, slot: group.slot,
                       reset: { for k in 0 ..< group.received.count { group.received[k] = false } },
                       length: { group.lengths[$0] },
                       received: { group.received[$0] },
                       store: { k, p, e in group.store(servo: k, from: p, error: e) })
    }

    /// Reads Hardware Error Status (address 70) of `id`, after a status packet raised the alert bit.
    /// - Warning: Not real-time safe.
    public func hardwareErrorStatus(id: UInt8) throws -> DynamixelHardwareError {
        DynamixelHardwareError(rawValue: UInt8(truncatingIfNeeded: try read(DynamixelX.hardwareErrorStatus, id: id)))
    }
}

/// A Feetech STS/SCS bus (SO-100/SO-101 arms).
public typealias FeetechBus = ServoBus<FeetechCodec>
/// A Dynamixel Protocol 2.0 bus (Koch, ALOHA arms).
public typealias DynamixelBus = ServoBus<DynamixelCodec>
