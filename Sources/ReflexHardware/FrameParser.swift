// Incremental parsers for both protocols: bytes go in as they arrive, whole verified packets come out, and
// garbage (line noise, half a packet from an earlier timeout, a corrupted packet) is skipped by resyncing on
// the next header, as the vendors' SDKs do — but counted, so the bus can say what came back.

/// One verified packet, located in its parser's buffer (valid until the parser's next `next()` or `append`).
public struct ServoFrame: Sendable, Equatable {
    /// The sender's (status) or addressee's (instruction) id.
    public var id: UInt8
    /// The instruction byte; for a Feetech status packet this is the error byte, for Dynamixel it is 0x55.
    public var instruction: UInt8
    /// Where the (unstuffed) parameters start in the parser's buffer, and how many there are.
    public var parameterOffset: Int
    public var parameterCount: Int
}

/// What `next()` found.
public enum FrameParseResult: Sendable, Equatable {
    /// Not a whole packet yet.
    case needMore
    /// A whole packet whose checksum/CRC matches.
    case frame(ServoFrame)
    /// A whole packet that failed its checksum/CRC (already skipped); carries the id its header claimed.
    case corrupt(id: UInt8)
}

/// The framing a parser looks for.
public enum ServoFraming: Sendable {
    /// Feetech status packets (replies): id ≤ 0xFD, error byte ≤ 0x7F, as scservo_sdk checks.
    case feetechStatus
    /// Feetech instruction packets (requests, for the emulator): broadcast id allowed.
    case feetechInstruction
    /// Dynamixel 2.0 status packets (instruction byte 0x55).
    case dynamixelStatus
    /// Dynamixel 2.0 instruction packets (for the emulator).
    case dynamixelInstruction
}

/// An incremental packet parser over a fixed buffer.
public struct ServoFrameParser: Sendable {
    public let framing: ServoFraming
    private var buffer: [UInt8]
    private var head = 0
    private var tail = 0
    private var pendingConsume = 0
    /// Bytes skipped because they were not part of a valid packet.
    public private(set) var discardedBytes = 0
    /// Packets that failed their checksum or CRC.
    public private(set) var corruptFrames = 0

    /// A parser for `framing` with room for `capacity` unread bytes.
    /// - Warning: Not real-time safe (allocates once).
    public init(framing: ServoFraming, capacity: Int = 4096) {
        self.framing = framing
        buffer = [UInt8](repeating: 0, count: capacity)
    }

    /// Unread bytes held.
    public var bufferedCount: Int { tail - head }

    /// Forgets everything buffered (not the counters).
    /// - Note: Real-time safe.
    public mutating func reset() {
        head = 0; tail = 0; pendingConsume = 0
    }

    /// Adds received bytes. When the buffer is full the oldest bytes are dropped (and counted).
    /// - Note: Real-time safe.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        applyPendingConsume()
        var src = bytes
        if src.count > buffer.count {
            discardedBytes += src.count - buffer.count + (tail - head)
            head = 0; tail = 0
            src = UnsafeRawBufferPointer(rebasing: src[(src.count - buffer.count)...])
        }
        if tail + src.count > buffer.count { compact() }
        if tail + src.count > buffer.count {
            let drop = tail + src.count - buffer.count
            discardedBytes += drop
            head += drop
            compact()
        }
        buffer.withUnsafeMutableBytes { dst in
            dst.baseAddress!.advanced(by: tail).copyMemory(from: src.baseAddress!, byteCount: src.count)
        }
        tail += src.count
    }

    /// Adds received bytes from an array (tests, cold paths).
    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    private mutating func compact() {
        guard head > 0 else { return }
        let n = tail - head
        buffer.withUnsafeMutableBytes { p in
            if n > 0 { p.baseAddress!.copyMemory(from: p.baseAddress! + head, byteCount: n) }
        }
        head = 0; tail = n
    }

    private mutating func applyPendingConsume() {
        head += pendingConsume
        pendingConsume = 0
        if head == tail { head = 0; tail = 0 }
    }

    private mutating func skip(_ n: Int) {
        head += n
        discardedBytes += n
    }

    /// The byte `i` of a returned frame's buffer (parameters are at `frame.parameterOffset + k`).
    /// - Note: Real-time safe.
    @inline(__always) public func byte(at index: Int) -> UInt8 { buffer[index] }

    /// The parameters of a frame just returned by `next()`.
    /// - Note: Real-time safe.
    public func withParameters<R>(of frame: ServoFrame, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeBytes {
            try body(UnsafeRawBufferPointer(rebasing: $0[frame.parameterOffset ..< frame.parameterOffset + frame.parameterCount]))
        }
    }

    /// The raw bytes still buffered, as hex (for error messages: "what came back").
    /// - Warning: Not real-time safe.
    public func bufferedHex(limit: Int = 64) -> String {
        hexString(buffer[head ..< min(tail, head + limit)])
    }

    /// Looks for the next whole packet.
    /// - Note: Real-time safe.
    public mutating func next() -> FrameParseResult {
        applyPendingConsume()
        switch framing {
        case .feetechStatus, .feetechInstruction: return nextFeetech()
        case .dynamixelStatus, .dynamixelInstruction: return nextDynamixel()
        }
    }

    private mutating func nextFeetech() -> FrameParseResult {
        let isStatus = framing == .feetechStatus
        while true {
            // Find FF FF.
            var i = head
            while i + 1 < tail && !(buffer[i] == 0xFF && buffer[i + 1] == 0xFF) { i += 1 }
            if i > head { skip(i - head) }
            if tail - head < 6 { return .needMore }
            let id = buffer[head + 2]
            let length = Int(buffer[head + 3])
            let instruction = buffer[head + 4]
            if (isStatus && id > 0xFD) || id == 0xFF || length < 2 || length > FeetechPacket.maxPacketLength - 4
                || (isStatus && instruction > 0x7F) {
                skip(1)
                continue
            }
            let total = length + 4
            if tail - head < total { return .needMore }
            var sum: UInt32 = 0
            for k in (head + 2) ..< (head + total - 1) { sum &+= UInt32(buffer[k]) }
            if ~UInt8(truncatingIfNeeded: sum) != buffer[head + total - 1] {
                corruptFrames += 1
                skip(1)
                return .corrupt(id: id)
            }
            let frame = ServoFrame(id: id, instruction: instruction, parameterOffset: head + 5,
                                   parameterCount: length - 2)
            pendingConsume = total
            return .frame(frame)
        }
    }

    private mutating func nextDynamixel() -> FrameParseResult {
        let isStatus = framing == .dynamixelStatus
        while true {
            var i = head
            while i + 3 < tail && !(buffer[i] == 0xFF && buffer[i + 1] == 0xFF && buffer[i + 2] == 0xFD
                                     && buffer[i + 3] != 0xFD) {
                i += 1
            }
            if i + 3 >= tail {
                // Keep a possible partial header (up to 3 bytes) at the end.
                let keep = min(3, tail - head)
                if tail - keep > head { skip(tail - keep - head) }
                return .needMore
            }
            if i > head { skip(i - head) }
            if tail - head < 10 { return .needMore }
            let id = buffer[head + 4]
            let length = Int(buffer[head + 5]) | Int(buffer[head + 6]) << 8
            let instruction = buffer[head + 7]
            if buffer[head + 3] != 0 || length < 3 || length + 7 > buffer.count || id == 0xFF || (isStatus && id > 0xFC)
                || (isStatus && instruction != DynamixelPacket.Instruction.status.rawValue) {
                skip(1)
                continue
            }
            let total = length + 7
            if tail - head < total { return .needMore }
            let crc = buffer.withUnsafeBytes {
                DynamixelPacket.crc16(UnsafeRawBufferPointer(rebasing: $0[head ..< head + total - 2]))
            }
            let got = UInt16(buffer[head + total - 2]) | UInt16(buffer[head + total - 1]) << 8
            if crc != got {
                corruptFrames += 1
                skip(1)
                return .corrupt(id: id)
            }
            // Remove stuffing from the parameters in place: FF FF FD FD -> FF FF FD.
            let start = head + 8
            let end = head + total - 2
            var r = start
            var w = start
            while r < end {
                let b = buffer[r]
                buffer[w] = b
                // The two bytes before this one in the unstuffed output (header bytes at the start).
                let stuffed = b == 0xFD && r + 1 < end && buffer[r + 1] == 0xFD
                    && buffer[w - 1] == 0xFF && buffer[w - 2] == 0xFF
                w += 1
                if stuffed {
                    r += 2
                } else {
                    r += 1
                }
            }
            let frame = ServoFrame(id: id, instruction: instruction, parameterOffset: start, parameterCount: w - start)
            pendingConsume = total
            return .frame(frame)
        }
    }
}

/// Bytes as `FF FF 01 …` for messages.
public func hexString<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    let digits: [Character] = Array("0123456789ABCDEF")
    var s = ""
    for (k, b) in bytes.enumerated() {
        if k > 0 { s.append(" ") }
        s.append(digits[Int(b >> 4)]); s.append(digits[Int(b & 15)])
    }
    return s
}
