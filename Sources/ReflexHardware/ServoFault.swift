// Counted fault injection for the servo-bus emulator (swift-system's style: every injected fault is counted,
// so a test can say "3 dropped replies were injected, and the bus retried 3 times").

/// A fault the emulator can inject into its replies.
public enum ServoFaultKind: String, Sendable, CaseIterable, Hashable {
    /// The reply is not sent.
    case droppedReply = "drop"
    /// The reply is sent `lateReplyDelay` later (after a bus's timeout).
    case lateReply = "late"
    /// The reply's checksum (Feetech) or CRC (Dynamixel) is wrong.
    case badChecksum = "checksum"
    /// Noise bytes go out before the reply.
    case garbage = "garbage"
    /// The servo stops answering altogether.
    case silent = "silent"
    /// The servo reports overload (Feetech status bit 5; Dynamixel alert + Hardware Error Status bit 5).
    case overload = "overload"
    /// The servo reports overheating (Feetech status bit 2; Dynamixel alert + Hardware Error Status bit 2).
    case overheat = "overheat"
    /// The supply sags below the servo's Min_Voltage_Limit: Present voltage reads 0.5 V under it, and the servo
    /// reports it (Feetech status bit 0; Dynamixel alert + Hardware Error Status bit 0).
    case underVoltage = "undervoltage"
    /// A hardware-error bit for a failing position sensor (Feetech angle-sensor bit 1; Dynamixel alert + Hardware
    /// Error Status bit 3, motor encoder).
    case encoder = "encoder"
}

/// One armed fault: which servo (nil = any), how many replies it affects (nil = until cleared).
public struct ServoFault: Sendable, Hashable, CustomStringConvertible {
    public var kind: ServoFaultKind
    public var id: UInt8?
    public var remaining: Int?

    public init(_ kind: ServoFaultKind, id: UInt8? = nil, count: Int? = 1) {
        self.kind = kind
        self.id = id
        self.remaining = count
    }

    public var description: String {
        "\(kind.rawValue)\(id.map { "@\($0)" } ?? "")\(remaining.map { "x\($0)" } ?? "")"
    }

    /// Parses `kind[@id][xcount]`, e.g. `drop@3x5`, `silent@2`, `overload@1` (no count = until cleared for
    /// silent/overload/overheat/undervoltage/encoder, once otherwise).
    /// - Warning: Not real-time safe.
    public init?(parsing text: String) {
        var rest = Substring(text)
        var count: Int?
        var id: UInt8?
        if let x = rest.lastIndex(of: "x"), let n = Int(rest[rest.index(after: x)...]) {
            count = n
            rest = rest[..<x]
        }
        if let at = rest.firstIndex(of: "@") {
            guard let n = UInt8(rest[rest.index(after: at)...]) else { return nil }
            id = n
            rest = rest[..<at]
        }
        guard let kind = ServoFaultKind(rawValue: String(rest)) else { return nil }
        let persistent: Set<ServoFaultKind> = [.silent, .overload, .overheat, .underVoltage, .encoder]
        self.init(kind, id: id, count: count ?? (persistent.contains(kind) ? nil : 1))
    }
}
