// Either bus behind one existential, so an arm (`BusRobot`) can be built from a description at run time.
import ReflexCore

/// What an arm needs from its bus. `ServoBus` (Feetech and Dynamixel) conforms.
public protocol ServoBusDriver: AnyObject {
    var wireProtocol: ServoProtocol { get }
    /// The device path (for messages and metrics labels).
    var name: String { get }
    var statistics: ServoBusStatistics { get }
    /// - Note: Real-time safe.
    func trySyncRead(_ group: ServoSyncRead) -> BusOutcome
    /// One attempt, no retry (a health read must not hold the tick for its retries).
    /// - Note: Real-time safe.
    func trySyncReadOnce(_ group: ServoSyncRead) -> BusOutcome
    /// - Note: Real-time safe.
    func trySyncWrite(_ group: ServoSyncWrite) -> BusOutcome
    /// One register of one servo without throwing (nil when it never answered).
    /// - Note: Real-time safe.
    func tryRead(_ register: ServoRegister, id: UInt8) -> Int32?
    func syncRead(_ group: ServoSyncRead) throws
    func syncWrite(_ group: ServoSyncWrite) throws
    func ping(id: UInt8) throws -> UInt16
    func read(_ register: ServoRegister, id: UInt8) throws -> Int32
    func write(_ register: ServoRegister, id: UInt8, value: Int32) throws
}

extension ServoBus: ServoBusDriver {
    public var wireProtocol: ServoProtocol { Codec.wireProtocol }
}

/// Opens the bus a configuration names, on `port` (or the configuration's own port).
/// - Warning: Not real-time safe.
public func openServoBus(_ hardware: ArmBusConfiguration, port: String? = nil, retries: Int = 2,
                         replyTimeoutNanoseconds: UInt64 = 10_000_000) throws -> any ServoBusDriver {
    guard let path = port ?? hardware.port else {
        throw ReflexError(.invalidArgument, "no serial port given and the robot description names none")
    }
    let serial = try SerialPort(path: path, baud: hardware.baudRate)
    return makeServoBus(hardware.bus, transport: serial, baud: hardware.baudRate, retries: retries,
                        replyTimeoutNanoseconds: replyTimeoutNanoseconds, name: path)
}

/// A bus of `kind` over any transport.
public func makeServoBus(_ kind: ServoProtocol, transport: any ServoTransport, baud: Int = 1_000_000, retries: Int = 2,
                         replyTimeoutNanoseconds: UInt64 = 10_000_000, name: String? = nil) -> any ServoBusDriver {
    switch kind {
    case .feetech:
        return FeetechBus(transport: transport, baud: baud, retries: retries, replyTimeoutNanoseconds: replyTimeoutNanoseconds, name: name)
    case .dynamixel:
        return DynamixelBus(transport: transport, baud: baud, retries: retries, replyTimeoutNanoseconds: replyTimeoutNanoseconds, name: name)
    }
}
