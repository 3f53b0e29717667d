#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import ReflexCore
import ReflexHardware
import ReflexRobot

/// `reflex servo health`: each servo's temperature, supply, load or current and hardware-error bits against its
/// own limits, as one table (or refreshed with --watch). Torque is left as it is.
struct ServoHealthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Print each servo's temperature, voltage, load/current and hardware errors against its limits.",
        discussion: "A cable loses replies (missed reads, bus retries); a sick servo answers hot, under-powered or with error bits. Exits 1 when a servo has a problem (without --watch)."
    )

    @Option(help: "Serial device, e.g. /dev/ttyACM0 (or a link made by `reflex emulate`).") var port: String
    @Option(help: "Robot name or description file with a hardware: section: so101, koch, …") var robot: String
    @Flag(help: "Refresh until Ctrl-C.") var watch = false
    @Option(help: "Seconds between refreshes with --watch.") var interval: Double = 1

    func validate() throws {
        guard interval > 0 else { throw ValidationError("--interval must be positive") }
    }

    func run() throws {
        do {
            let arm = try BusRobot(description: try RobotDescription.named(robot), port: port)
            repeat {
                let rows = try arm.inspectHealth()
                if watch { print("\u{1B}[H\u{1B}[2J", terminator: "") }
                print(table(["joint", "id", "model", "°C (limit)", "V (range)", "load / current", "errors", "problems"], rows.map { s in
                    let parts = [s.load.map { String(format: "%.1f %%", $0) }, s.current.map { String(format: "%.3f A", $0) }]
                    let lc = parts.compactMap { $0 }.joined(separator: ", ")
                    return [s.joint, String(s.id), s.model, "\(s.temperature.map(String.init) ?? "—") (\(s.temperatureLimit))",
                            "\(s.voltage.map { String(format: "%.1f", $0) } ?? "—") (\(s.minVoltage)–\(s.maxVoltage))", lc,
                            s.hardwareErrorNames.isEmpty ? "none" : s.hardwareErrorNames.joined(separator: ", "),
                            s.problems.isEmpty ? "ok" : s.problems.joined(separator: ", ")]
                }))
                let messages = rows.flatMap(\.messages)
                print(messages.isEmpty ? "all \(rows.count) servos healthy" : messages.joined(separator: "\n"))
                if watch { usleep(UInt32(interval * 1e6)) } else if !messages.isEmpty { throw ExitCode(1) } // for scripts
            } while watch
        } catch let e as ReflexError {
            throw HardwareCommandError(description: e.description)
        }
    }
}
