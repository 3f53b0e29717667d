// Preallocated sync read/write groups: made once at set-up, then every tick reuses their buffers, so a
// hot-path sync read or write allocates nothing.
import ReflexCore

/// One SYNC READ: the same `length` bytes from `address` on each of `ids`, in one request.
public final class ServoSyncRead {
    public let address: UInt16
    public let length: Int
    public let ids: [UInt8]
    /// Received bytes, `length` per servo in `ids` order.
    public private(set) var data: [UInt8]
    /// Each servo's status-packet error byte from the last read.
    public internal(set) var statusErrors: [UInt8]
    /// Whether each servo's reply arrived in the last read.
    public internal(set) var received: [Bool]
    var slot: [Int16]

    /// A group reading `length` bytes at `address` from `ids` (distinct, ≤ 252).
    /// - Warning: Not real-time safe.
    public init(address: UInt16, length: Int, ids: [UInt8]) throws {
        try validateGroup(ids: ids, length: length)
        self.address = address
        self.length = length
        self.ids = ids
        data = [UInt8](repeating: 0, count: ids.count * length)
        statusErrors = [UInt8](repeating: 0, count: ids.count)
        received = [Bool](repeating: false, count: ids.count)
        slot = [Int16](repeating: -1, count: 256)
        for (k, id) in ids.enumerated() { slot[Int(id)] = Int16(k) }
    }

    /// A group covering `first` through `last` (e.g. present position … present load), contiguous registers.
    /// - Warning: Not real-time safe.
    public convenience init(from first: ServoRegister, through last: ServoRegister, ids: [UInt8]) throws {
        try self.init(address: first.address, length: Int(last.address) + last.width - Int(first.address), ids: ids)
    }

    /// The raw register bits of servo `index` (into `ids`) for `register` (which must lie inside the group).
    /// - Note: Real-time safe.
    @inline(__always)
    public func raw(_ register: ServoRegister, servo index: Int) -> UInt32 {
        let offset = index * length + Int(register.address) - Int(address)
        return data.withUnsafeBytes { LittleEndian.load($0, offset, width: register.width) }
    }

    /// The decoded value (sign handled per the register's encoding) of servo `index`'s `register`.
    /// - Note: Real-time safe.
    @inline(__always)
    public func value(_ register: ServoRegister, servo index: Int) -> Int32 {
        register.decode(raw: raw(register, servo: index))
    }

    func markAllMissing() {
        for k in 0 ..< received.count { received[k] = false }
    }

    func store(servo k: Int, from p: UnsafeRawBufferPointer, error: UInt8) {
        data.withUnsafeMutableBytes { d in
            let n = min(length, p.count)
            if n > 0 { d.baseAddress!.advanced(by: k * length).copyMemory(from: p.baseAddress!, byteCount: n) }
        }
        statusErrors[k] = error
        received[k] = true
    }
}

/// One SYNC WRITE: `width` bytes at `address` for each of `ids`, values set per tick, one packet.
public final class ServoSyncWrite {
    public let address: UInt16
    public let width: Int
    public let ids: [UInt8]
    /// The bytes to send, `width` per servo in `ids` order.
    public private(set) var data: [UInt8]
    /// The register the values are encoded for, when the group was made from one.
    public let register: ServoRegister?

    /// A group writing `width` bytes at `address` to `ids` (distinct, ≤ 252).
    /// - Warning: Not real-time safe.
    public init(address: UInt16, width: Int, ids: [UInt8]) throws {
        try validateGroup(ids: ids, length: width)
        self.address = address
        self.width = width
        self.ids = ids
        self.register = nil
        data = [UInt8](repeating: 0, count: ids.count * width)
    }

    /// A group writing `register` to `ids`; `set(_:value:)` encodes with the register's sign convention.
    /// - Warning: Not real-time safe.
    public init(register: ServoRegister, ids: [UInt8]) throws {
        try validateGroup(ids: ids, length: register.width)
        self.address = register.address
        self.width = register.width
        self.ids = ids
        self.register = register
        data = [UInt8](repeating: 0, count: ids.count * width)
    }

    /// Sets servo `index`'s raw bits.
    /// - Note: Real-time safe.
    @inline(__always)
    public func setRaw(_ index: Int, _ raw: UInt32) {
        for b in 0 ..< width { data[index * width + b] = UInt8(truncatingIfNeeded: raw >> UInt32(8 * b)) }
    }

    /// Sets servo `index`'s value, encoded per the group's register (raw bits when made from an address).
    /// - Note: Real-time safe.
    @inline(__always)
    public func set(_ index: Int, value: Int32) {
        setRaw(index, register?.encode(value) ?? UInt32(bitPattern: value))
    }
}

/// One Dynamixel BULK READ: a different address and length per servo, in one request.
public final class ServoBulkRead {
    public let ids: [UInt8]
    public let addresses: [UInt16]
    public let lengths: [Int]
    let offsets: [Int]
    /// Received bytes, each servo's block at its offset.
    public private(set) var data: [UInt8]
    public internal(set) var statusErrors: [UInt8]
    public internal(set) var received: [Bool]
    var slot: [Int16]

    /// A group of (id, address, length) entries, ids distinct.
    /// - Warning: Not real-time safe.
    public init(_ entries: [(id: UInt8, address: UInt16, length: Int)]) throws {
        try validateGroup(ids: entries.map(\.id), length: entries.map(\.length).max() ?? 0)
        ids = entries.map(\.id)
        addresses = entries.map(\.address)
        lengths = entries.map(\.length)
        var o = [Int]()
        var total = 0
        for e in entries { o.append(total); total += e.length }
        offsets = o
        data = [UInt8](repeating: 0, count: total)
        statusErrors = [UInt8](repeating: 0, count: entries.count)
        received = [Bool](repeating: false, count: entries.count)
        slot = [Int16](repeating: -1, count: 256)
        for (k, id) in ids.enumerated() { slot[Int(id)] = Int16(k) }
    }

    /// The decoded value of `register` for entry `index` (the register must lie inside that entry's block).
    /// - Note: Real-time safe.
    public func value(_ register: ServoRegister, servo index: Int) -> Int32 {
        let offset = offsets[index] + Int(register.address) - Int(addresses[index])
        return register.decode(raw: data.withUnsafeBytes { LittleEndian.load($0, offset, width: register.width) })
    }

    func store(servo k: Int, from p: UnsafeRawBufferPointer, error: UInt8) {
        data.withUnsafeMutableBytes { d in
            let n = min(lengths[k], p.count)
            if n > 0 { d.baseAddress!.advanced(by: offsets[k]).copyMemory(from: p.baseAddress!, byteCount: n) }
        }
        statusErrors[k] = error
        received[k] = true
    }
}

private func validateGroup(ids: [UInt8], length: Int) throws {
    guard !ids.isEmpty else { throw ReflexError(.badServoRequest, "a sync group needs at least one servo id") }
    guard Set(ids).count == ids.count else {
        throw ReflexError(.badServoRequest, "servo ids in a group must be distinct, got \(ids)")
    }
    if let bad = ids.first(where: { $0 > 252 }) {
        throw ReflexError(.badServoRequest, "servo id \(bad) is out of range 0…252")
    }
    guard length > 0, length <= 255 else {
        throw ReflexError(.badServoRequest, "group data length \(length) is out of range 1…255")
    }
}
