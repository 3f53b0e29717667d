import ArgumentParser
import ReflexCore
import ReflexHardware

extension ServoProtocol: ExpressibleByArgument {}

/// A device or bus failure: printed as `Error: …` without the usage text (the arguments were fine).
struct HardwareCommandError: Error, CustomStringConvertible {
    let description: String
}

/// Where the bus is: shared by every `reflex servo` subcommand.
struct ServoBusOptions: ParsableArguments {
    @Option(help: "Bus protocol: feetech (STS/SCS, SO-100/SO-101) or dynamixel (Protocol 2.0, Koch/ALOHA).")
    var bus: ServoProtocol
    @Option(help: "Serial device, e.g. /dev/ttyACM0 (or a link made by `reflex emulate`).")
    var port: String
    @Option(help: "Baud rate.") var baud: Int = 1_000_000
    @Option(help: "Retries after a failed request.") var retries: Int = 2
    @Option(name: .customLong("timeout-ms"), help: "Reply timeout per request, in ms.") var timeoutMs: Double = 20
    @Option(help: "Servo model for decoding registers (sts3215, xl330, xl430); default by bus.") var model: String?

    var table: ServoControlTable {
        get throws {
            if let model {
                guard let t = ServoControlTable.named(model) else {
                    throw ValidationError("unknown model '\(model)' (known: \(ServoControlTable.knownModels.joined(separator: ", ")))")
                }
                return t
            }
            return bus == .feetech ? STS3215.table : XL330.table
        }
    }

    /// Opens the bus and runs `body` with it, turning Reflex errors into CLI errors.
    func withBus<R>(_ body: (ServoBusCLI) throws -> R) throws -> R {
        do {
            let port = try SerialPort(path: self.port, baud: baud)
            let timeout = UInt64(timeoutMs * 1e6)
            switch bus {
            case .feetech:
                return try body(ServoBusCLI(FeetechBus(transport: port, baud: baud, retries: retries, replyTimeoutNanoseconds: timeout, name: self.port)))
            case .dynamixel:
                return try body(ServoBusCLI(DynamixelBus(transport: port, baud: baud, retries: retries, replyTimeoutNanoseconds: timeout, name: self.port)))
            }
        } catch let e as ReflexError {
            throw HardwareCommandError(description: e.description)
        }
    }
}

/// The verbs the CLI needs, over either bus type.
struct ServoBusCLI {
    let ping: (UInt8) throws -> UInt16
    let scan: (ClosedRange<UInt8>, UInt64) -> [(id: UInt8, model: UInt16)]
    let read: (UInt8, Int, Int) throws -> [UInt8]
    let write: (UInt8, Int, [UInt8]) throws -> Void
    let lastError: (UInt8) -> UInt8
    let describe: (UInt8) -> String

    init<C>(_ bus: ServoBus<C>) {
        ping = { try bus.ping(id: $0) }
        scan = { bus.scan($0, timeoutNanoseconds: $1) }
        read = { try bus.read(id: $0, address: $1, length: $2) }
        write = { try bus.write(id: $0, address: $1, data: $2) }
        lastError = { bus.lastStatusError[Int($0)] }
        describe = { C.describe(error: $0) }
    }
}

struct Servo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The bench tool for wiring an arm: find servo ids, read a register, move one servo.",
        subcommands: [Scan.self, Ping.self, Read.self, Write.self, ServoHealthCommand.self, ServoBenchCommand.self]
    )

    struct Scan: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ping every id and list the servos that answer.")
        @OptionGroup var options: ServoBusOptions
        @Option(help: "First id.") var from: UInt8 = 0
        @Option(help: "Last id.") var to: UInt8 = 252
        @Option(name: .customLong("scan-timeout-ms"), help: "Timeout per id, in ms.") var scanTimeoutMs: Double = 5

        func run() throws {
            guard from <= to, to <= 252 else { throw ValidationError("--from must be <= --to <= 252") }
            try options.withBus { bus in
                let found = bus.scan(from ... to, UInt64(scanTimeoutMs * 1e6))
                if found.isEmpty {
                    print("no servo answered on \(options.port) at \(options.baud) baud (ids \(from)…\(to)); check power, wiring, baud rate and --bus")
                    return
                }
                let rows = found.map { f -> [String] in
                    let name = ServoControlTable.forModelNumber(f.model, on: options.bus)?.modelName ?? "unknown"
                    return [String(f.id), String(f.model), name]
                }
                print(table(["id", "model number", "model"], rows))
                print("\(found.count) servo(s) on \(options.port)")
            }
        }
    }

    struct Ping: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ping one servo and print its model number.")
        @OptionGroup var options: ServoBusOptions
        @Option(help: "Servo id.") var id: UInt8

        func run() throws {
            try options.withBus { bus in
                let model = try bus.ping(id)
                let name = ServoControlTable.forModelNumber(model, on: options.bus)?.modelName ?? "unknown model"
                print("servo \(id): model number \(model) (\(name)), status: \(bus.describe(bus.lastError(id)))")
            }
        }
    }

    struct Read: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Read a register (by name or address) from one servo.")
        @OptionGroup var options: ServoBusOptions
        @Option(help: "Servo id.") var id: UInt8
        @Option(help: "Register name from the control table, e.g. Present_Position.") var register: String?
        @Option(help: "Register address.") var addr: Int?
        @Option(help: "Bytes to read (default: the register's width).") var len: Int?

        func run() throws {
            let table = try options.table
            let (address, length, reg) = try resolve(table, register, addr, len)
            try options.withBus { bus in
                let bytes = try bus.read(id, address, length)
                var line = "servo \(id) @\(address) [\(length)]: \(hexString(bytes))"
                if let reg, reg.width == length {
                    var raw: UInt32 = 0
                    for (k, b) in bytes.enumerated() { raw |= UInt32(b) << UInt32(8 * k) }
                    line += " = \(reg.decode(raw: raw)) (\(reg.name))"
                }
                let e = bus.lastError(id)
                if e != 0 { line += "  status: \(bus.describe(e))" }
                print(line)
            }
        }
    }

    struct Write: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a value to a register of one servo (e.g. Goal_Position to move it).")
        @OptionGroup var options: ServoBusOptions
        @Option(help: "Servo id (254 = broadcast, no reply).") var id: UInt8
        @Option(help: "Register name from the control table, e.g. Goal_Position.") var register: String?
        @Option(help: "Register address.") var addr: Int?
        @Option(help: "Bytes to write (default: the register's width).") var len: Int?
        @Option(help: "Value (signed values use the register's sign convention).") var value: Int32

        func run() throws {
            let table = try options.table
            let (address, length, reg) = try resolve(table, register, addr, len)
            if let reg, !reg.writable { throw ValidationError("\(reg.name) is read-only") }
            let raw = reg.map { $0.width == length ? $0.encode(value) : UInt32(bitPattern: value) } ?? UInt32(bitPattern: value)
            let bytes = (0 ..< length).map { UInt8(truncatingIfNeeded: raw >> UInt32(8 * $0)) }
            try options.withBus { bus in
                try bus.write(id, address, bytes)
                print("servo \(id) @\(address) [\(length)] <- \(value) (\(hexString(bytes)))")
            }
        }
    }
}

/// Address, length and (if known) the register, from --register or --addr/--len.
private func resolve(_ table: ServoControlTable, _ name: String?, _ addr: Int?, _ len: Int?) throws -> (Int, Int, ServoRegister?) {
    if let name {
        guard let r = table.register(named: name) else {
            throw ValidationError("\(table.modelName) has no register '\(name)'; known: \(table.registers.map(\.name).joined(separator: ", "))")
        }
        return (Int(r.address), len ?? r.width, r)
    }
    guard let addr else { throw ValidationError("give --register NAME or --addr A [--len L]") }
    let reg = table.register(at: UInt16(clamping: addr))
    guard let length = len ?? reg?.width else {
        throw ValidationError("no register of \(table.modelName) starts at \(addr): give --len")
    }
    guard (1 ... 4).contains(length) || len != nil else { throw ValidationError("--len must be 1…4 for a value") }
    return (addr, length, reg)
}
