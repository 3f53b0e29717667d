import Foundation
import ReflexCore
import Testing

@testable import ReflexHardware

/// Faults at rates (the fault campaign's emulator): the spec's syntax, realized counts against the rates for a
/// fixed seed, and episodes that end.
@Suite struct ServoFaultRatesTests {
    @Test func parsesPerReplyAndEpisodeRates() throws {
        let r = try ServoFaultRates(parsing: "drop=0.002,checksum=0.001,silent=0.01/s:0.3s,camera=0.05/s:0.5s")
        #expect(r.perReply == [.droppedReply: 0.002, .badChecksum: 0.001])
        #expect(r.episodes == [.silent: FaultEpisodeRate(perSecond: 0.01, seconds: 0.3)])
        #expect(r.cameraStall == FaultEpisodeRate(perSecond: 0.05, seconds: 0.5))
        #expect(try ServoFaultRates(parsing: r.description) == r)
    }

    /// Each bad spec is refused with the part that is wrong.
    @Test(arguments: [
        ("drop=2", "probability per reply"), ("drop=x", "probability per reply"), ("drop=0.1/s:1s", "probability per reply"),
        ("silent=0.1", "R/s:Ds"), ("silent=0.1/s:0s", "R/s:Ds"), ("overheat=-1/s:1s", "R/s:Ds"), ("camera=1/s", "R/s:Ds"),
        ("bogus=0.1", "unknown kind 'bogus'"), ("drop", "kind=value"), ("drop=0.1,drop=0.2", "given twice"),
        ("drop=0.1,", "kind=value"),
    ])
    func refusesABadSpec(spec: String, reason: String) {
        do {
            _ = try ServoFaultRates(parsing: spec)
            Issue.record("'\(spec)' was accepted")
        } catch {
            #expect("\(error)".contains(reason), "'\(spec)': \(error)")
        }
    }

    /// 60,000 read replies from three servos at drop 1 %, checksum 2 %, garbage 0.5 %, late 1 %, overload 0.2 %:
    /// each kind's count is within 4 σ of n·p (binomial; a fault drawn on a dropped reply waits for that servo's
    /// next one, so a few may still be armed at the end: allowed for, the armed ones are counted).
    @Test func realizedCountsMatchTheRates() throws {
        let emu = try ServoBusEmulator(table: STS3215.table, ids: [1, 2, 3])
        let rates = try ServoFaultRates(parsing: "drop=0.01,checksum=0.02,garbage=0.005,late=0.01,overload=0.002")
        emu.setFaultRates(rates, seed: 42)
        var out = PacketBuffer(capacity: 64)
        let n = 60_000
        for k in 0 ..< n {
            FeetechPacket.read(&out, id: UInt8(1 + k % 3), address: 56, length: 2)
            emu.receive(out.bytes, now: 0)
            _ = emu.takeOutput(dueBy: .max)
        }
        for (kind, p) in rates.perReply {
            let expected = Double(n) * p
            let bound = 4 * (expected * (1 - p)).squareRoot()
            let stillArmed = emu.faults.filter { $0.kind == kind }.count
            let realized = emu.injected[kind, default: 0]
            #expect(abs(Double(realized + stillArmed) - expected) <= bound, "\(kind): \(realized) (+\(stillArmed) armed), expected \(expected) ± \(bound)")
            #expect(stillArmed <= 3)
        }
    }

    /// A Poisson stream of 0.5 episodes/s of 0.3 s over 4000 s in 1 ms steps: episodes start only while none is
    /// under way, so the expected count is rate × free time, T·r / (1 + r·d) = 1739; within 4 σ (√n, Poisson).
    @Test func episodesFollowTheirRate() {
        var s = FaultEpisodeSchedule(rate: FaultEpisodeRate(perSecond: 0.5, seconds: 0.3), seed: 7)
        var ended = 0
        var activeSteps = 0
        let steps = 4_000_000
        for _ in 0 ..< steps {
            if s.advance(dt: 0.001) == .ended { ended += 1 }
            if s.isActive { activeSteps += 1 }
        }
        let expected = 4000 * 0.5 / (1 + 0.5 * 0.3)
        #expect(abs(Double(s.started) - expected) <= 4 * expected.squareRoot(), "\(s.started) episodes, expected \(expected)")
        #expect(ended >= s.started - 1)
        // Each lasts its 0.3 s (to the step).
        #expect(abs(Double(activeSteps) / Double(s.started) - 300) <= 2)
    }

    /// A silent episode on the emulator: the chosen servo stops answering for its duration, then answers again.
    @Test func silentEpisodesSilenceOneServoThenEnd() throws {
        let emu = try ServoBusEmulator(table: STS3215.table, ids: [1, 2])
        emu.setFaultRates(try ServoFaultRates(parsing: "silent=2/s:0.5s"), seed: 3)
        var out = PacketBuffer(capacity: 64)
        var sawSilent = false, sawRecovered = false
        for _ in 0 ..< 2000 {
            emu.advance(dt: 0.01)
            let silentIDs = emu.faults.filter { $0.kind == .silent }.compactMap(\.id)
            for id: UInt8 in [1, 2] {
                FeetechPacket.ping(&out, id: id)
                emu.receive(out.bytes, now: 0)
                let reply = emu.takeOutput(dueBy: .max)
                #expect(reply.isEmpty == silentIDs.contains(id))
                if silentIDs.contains(id) { sawSilent = true } else if sawSilent { sawRecovered = true }
            }
        }
        let episodes = emu.faultEpisodes[.silent, default: 0]
        #expect(episodes > 5, "\(episodes) silent episodes in 20 s at 2/s with 0.5 s each")
        #expect(sawSilent && sawRecovered)
        #expect(emu.injected[.silent, default: 0] > 0)
    }
}
