import Foundation
import HummingbirdWebSocket
import ReflexCore
import ReflexDeployment
import ReflexRuntime
import ServiceLifecycle

/// One frame of `/v1/stream`: the arm's joint state against its commands, the loop's timing, faults and new events.
public struct StreamFrame: Sendable, Codable, Equatable {
    /// Seconds since the daemon started.
    public var t: Double
    public var robot: String
    public var joints: [String]
    public var lifecycle: String
    public var running: Bool
    public var emergencyStop: Bool
    public var policy: String?
    public var policyGeneration: Int
    /// The safety layer's mode (`waiting`, `approaching`, `following`, `holding`, `stopped`…).
    public var mode: String?
    public var tick: Int64?
    public var position: [Double]?
    public var command: [Double]?
    public var ticks: Int
    public var deadlineMisses: Int
    public var periodJitterP99Us: Double?
    public var tickDurationP99Us: Double?
    public var inferenceP50Us: Double?
    public var chunkAgeP50Us: Double?
    /// Safety counts of the episode (non-zero only).
    public var faults: [String: Int]
    /// Events since the previous frame.
    public var events: [EventFeed.Entry]
    /// The scene's task (simulated or hardware-in-the-loop arms).
    public var task: TaskStatus?
}

/// Sends `StreamFrame`s at `stream_hz` until the client closes, the daemon shuts down, or a write fails. Frames are
/// built from the daemon's cached status (≤ 50 ms old) and the loop's newest sample; a slow client only delays
/// its own frames.
struct TelemetryStream {
    let core: DaemonCore

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        let period = UInt64(1e9 / core.config.streamHz)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // Reading keeps pings answered; the stream ends when the client closes.
                for try await _ in inbound.messages(maxSize: 4096) {}
            }
            group.addTask {
                var lastEvent = -1
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    let frame = Self.frame(core: core, after: lastEvent)
                    if let last = frame.events.last { lastEvent = last.seq }
                    let data = try DaemonJSON.encoder.encode(frame)
                    try await outbound.write(.text(String(decoding: data, as: UTF8.self)))
                    try await Task.sleep(nanoseconds: period)
                }
            }
            _ = try await group.next()
            group.cancelAll()
        }
    }

    static func frame(core: DaemonCore, after lastEvent: Int) -> StreamFrame {
        let s = core.status()
        let c = s.controller
        let sample = core.controller.jointSample() ?? s.sample
        let loop = c.loop
        var faults: [String: Int] = [:]
        if let f = loop?.safety {
            let all: [(String, Int)] = [("position_clamped", f.positionClamped), ("step_limited", f.stepLimited),
                                        ("non_finite_action", f.nonFiniteActions), ("no_action", f.noAction),
                                        ("stale_state", f.staleReads), ("watchdog", f.watchdogTrips),
                                        ("emergency_stop", f.emergencyStops), ("servo_fault", f.servoFaultStops)]
            for (k, v) in all where v > 0 { faults[k] = v }
        }
        if let l = loop?.counters {
            if l.readFailures > 0 { faults["read_failures"] = l.readFailures }
            if l.writeFailures > 0 { faults["write_failures"] = l.writeFailures }
        }
        return StreamFrame(
            t: s.uptime, robot: c.robot, joints: c.joints, lifecycle: c.lifecycle.rawValue, running: c.running,
            emergencyStop: c.emergencyStop, policy: c.activePolicy, policyGeneration: c.policyGeneration,
            mode: loop.map { "\($0.mode)" }, tick: sample?.tick, position: sample?.position, command: sample?.command,
            ticks: loop?.counters.ticks ?? 0, deadlineMisses: loop?.counters.deadlineMisses ?? 0,
            periodJitterP99Us: loop?.timings["period_jitter"]?.p99, tickDurationP99Us: loop?.timings["tick_duration"]?.p99,
            inferenceP50Us: loop?.timings["inference_latency"]?.p50, chunkAgeP50Us: loop?.timings["chunk_age"]?.p50,
            faults: faults, events: core.events.entries(after: lastEvent, limit: 20), task: s.task)
    }
}

/// The daemon's JSON encoding: snake_case keys, sorted, non-finite numbers as strings.
enum DaemonJSON {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return e
    }()
}
