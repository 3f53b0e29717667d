// Faults at rates, for a fault campaign: per-reply faults as a probability per reply, episode faults (a servo going
// silent, overheating, its supply sagging; the camera stalling) as a Poisson rate per second with a duration.
// Seeded, so a campaign's fault sequence repeats for a given seed and traffic.
import Foundation
import ReflexCore

/// Episodes that start at `perSecond` (a Poisson rate) and last `seconds` each.
public struct FaultEpisodeRate: Sendable, Hashable, CustomStringConvertible {
    public var perSecond: Double
    public var seconds: Double

    public init(perSecond: Double, seconds: Double) {
        self.perSecond = perSecond
        self.seconds = seconds
    }

    public var description: String { "\(perSecond)/s:\(seconds)s" }
}

/// The fault rates of a campaign, parsed from `kind=P,...,kind=R/s:Ds,...`:
/// `drop=0.002,checksum=0.001,garbage=0.001,late=0.001,overload=0.0005,silent=0.01/s:0.3s,overheat=0.005/s:2s,camera=0.02/s:0.5s`.
/// Per-reply kinds (drop, late, checksum, garbage, overload, encoder) take a probability per reply in [0, 1];
/// episode kinds (silent, overheat, undervoltage, and `camera`, the camera channel stalling) take `R/s:Ds`.
public struct ServoFaultRates: Sendable, Hashable, CustomStringConvertible {
    /// Probability per reply, per kind.
    public var perReply: [ServoFaultKind: Double] = [:]
    /// Episodes of a servo fault that lasts (one servo at a time per kind).
    public var episodes: [ServoFaultKind: FaultEpisodeRate] = [:]
    /// The camera channel's publisher pausing.
    public var cameraStall: FaultEpisodeRate?

    /// Kinds that last a while: given as episodes, not per reply.
    public static let episodeKinds: Set<ServoFaultKind> = [.silent, .overheat, .underVoltage]

    public init() {}

    /// Parses a rate spec; throws `invalidArgument` naming the part that is wrong and why.
    /// - Warning: Not real-time safe.
    public init(parsing text: String) throws {
        let kinds = ServoFaultKind.allCases.map(\.rawValue).joined(separator: ", ") + ", camera"
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let item = part.trimmingCharacters(in: .whitespaces)
            let pieces = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pieces.count == 2 else {
                throw ReflexError(.invalidArgument, "fault rate '\(item)': expected kind=value (kinds: \(kinds))")
            }
            let name = String(pieces[0]), value = String(pieces[1])
            if name == "camera" {
                guard cameraStall == nil else { throw ReflexError(.invalidArgument, "fault rate 'camera' given twice") }
                cameraStall = try Self.episode(value, name)
                continue
            }
            guard let kind = ServoFaultKind(rawValue: name) else {
                throw ReflexError(.invalidArgument, "fault rate '\(item)': unknown kind '\(name)' (kinds: \(kinds))")
            }
            guard perReply[kind] == nil && episodes[kind] == nil else {
                throw ReflexError(.invalidArgument, "fault rate '\(name)' given twice")
            }
            if Self.episodeKinds.contains(kind) {
                episodes[kind] = try Self.episode(value, name)
            } else {
                guard let p = Double(value), p >= 0, p <= 1 else {
                    throw ReflexError(.invalidArgument, "fault rate '\(item)': \(name) takes a probability per reply in [0, 1], e.g. \(name)=0.001")
                }
                perReply[kind] = p
            }
        }
    }

    /// `R/s:Ds`, e.g. `0.01/s:0.3s`: R episodes a second on average, each D seconds.
    private static func episode(_ value: String, _ name: String) throws -> FaultEpisodeRate {
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].hasSuffix("/s"), parts[1].hasSuffix("s"),
              let rate = Double(parts[0].dropLast(2)), let seconds = Double(parts[1].dropLast()),
              rate >= 0, rate.isFinite, seconds > 0, seconds.isFinite
        else {
            throw ReflexError(.invalidArgument, "fault rate '\(name)=\(value)': \(name) takes episodes per second and a duration, R/s:Ds with R ≥ 0 and D > 0, e.g. \(name)=0.01/s:0.5s")
        }
        return FaultEpisodeRate(perSecond: rate, seconds: seconds)
    }

    public var description: String {
        var parts = ServoFaultKind.allCases.compactMap { k in perReply[k].map { "\(k.rawValue)=\($0)" } }
        parts += ServoFaultKind.allCases.compactMap { k in episodes[k].map { "\(k.rawValue)=\($0)" } }
        if let cameraStall { parts.append("camera=\(cameraStall)") }
        return parts.joined(separator: ",")
    }
}

/// A seeded Poisson stream of episodes of a fixed duration on a clock advanced in steps: at most one at a time,
/// a new one can start once the last has ended.
public struct FaultEpisodeSchedule: Sendable {
    public enum Transition: Sendable, Equatable { case started, ended }

    public let rate: FaultEpisodeRate
    /// Episodes started so far.
    public private(set) var started = 0
    /// Seconds on the schedule's clock.
    public private(set) var time = 0.0
    private var endsAt: Double?
    private var random: RandomGenerator

    public init(rate: FaultEpisodeRate, seed: UInt64) {
        self.rate = rate
        random = RandomGenerator(seed: seed)
    }

    /// Whether an episode is under way.
    public var isActive: Bool { endsAt != nil }

    /// Moves the clock on by `dt` seconds; an episode starts with probability 1 − exp(−rate·dt).
    /// - Note: Real-time safe.
    public mutating func advance(dt: Double) -> Transition? {
        guard dt > 0 else { return nil }
        time += dt
        if let end = endsAt {
            guard time >= end else { return nil }
            endsAt = nil
            return .ended
        }
        guard rate.perSecond > 0, Self.uniform(&random) < -expm1(-rate.perSecond * dt) else { return nil }
        started += 1
        endsAt = time + rate.seconds
        return .started
    }

    /// A uniform draw in [0, 1) from the top 53 bits.
    static func uniform(_ g: inout RandomGenerator) -> Double { Double(g.next() >> 11) * 0x1p-53 }
}
