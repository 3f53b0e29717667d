#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore
import Synchronization

/// The time a control loop runs on: a reading in nanoseconds and a sleep to an absolute deadline. Injected, so
/// tests run the loop on a `ManualClock` without waiting (swift-nio's `EmbeddedEventLoop` idea).
public protocol LoopClock: AnyObject, Sendable {
    /// Now, in nanoseconds on this clock's monotonic scale.
    /// - Note: Real-time safe.
    func now() -> UInt64
    /// Returns at or after `deadline` (absolute, on this clock). With `spin` > 0 a real clock sleeps only to `spin`
    /// ns before the deadline and then reads itself until the deadline passes (see `MonotonicClock`).
    /// - Note: Real-time safe.
    func sleep(until deadline: UInt64, spin: UInt64)
}

extension LoopClock {
    /// Sleeps all the way to `deadline`.
    /// - Note: Real-time safe.
    public func sleep(until deadline: UInt64) { sleep(until: deadline, spin: 0) }
}

/// CLOCK_MONOTONIC, sleeping with `clock_nanosleep(TIMER_ABSTIME)`: absolute deadlines do not drift by the time
/// spent computing, and a sleep interrupted by a signal resumes toward the same deadline.
///
/// A timer's wake-up lands late by the kernel's hrtimer expiry and, on a VM, the hypervisor's delivery of the timer
/// interrupt: tens of µs, varying from tick to tick, which is most of a quiet loop's period jitter. With a spin the
/// clock sleeps to `spin` ns before the deadline and then reads the clock (the vDSO, tens of ns a read) until it
/// passes, so the wake-up's lateness is absorbed by the spin instead of landing on the tick. The cost is the spin's
/// share of a core (100 µs at 100 Hz: 1%).
public final class MonotonicClock: LoopClock {
    public init() {}

    public func now() -> UInt64 { monotonicNanoseconds() }

    public func sleep(until deadline: UInt64, spin: UInt64) {
        if spin > 0 {
            if deadline > spin, monotonicNanoseconds() < deadline - spin { sleepAbsolute(deadline - spin) }
            while monotonicNanoseconds() < deadline {}
            return
        }
        sleepAbsolute(deadline)
    }

    private func sleepAbsolute(_ deadline: UInt64) {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        #if canImport(Glibc)
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
        #else
        // Darwin has no clock_nanosleep: sleep the remaining time, re-reading the clock.
        while true {
            let t = monotonicNanoseconds()
            if t >= deadline { break }
            var rel = timespec(tv_sec: Int((deadline - t) / 1_000_000_000), tv_nsec: Int((deadline - t) % 1_000_000_000))
            nanosleep(&rel, nil)
        }
        _ = ts
        #endif
    }
}

/// A clock that moves only when told: `sleep(until:)` jumps to the deadline, `advance(by:)` moves it on (a test
/// robot can call it inside `read` to play a slow bus).
public final class ManualClock: LoopClock {
    private let nanoseconds: Atomic<UInt64>

    public init(start: UInt64 = 1_000_000_000) { nanoseconds = Atomic(start) }

    public func now() -> UInt64 { nanoseconds.load(ordering: .acquiring) }

    /// Jumps to `deadline`; a spin means nothing on a clock that moves only when told.
    public func sleep(until deadline: UInt64, spin: UInt64) {
        var current = nanoseconds.load(ordering: .acquiring)
        while current < deadline {
            let (exchanged, original) = nanoseconds.compareExchange(expected: current, desired: deadline, ordering: .acquiringAndReleasing)
            if exchanged { break }
            current = original
        }
    }

    public func advance(by ns: UInt64) { nanoseconds.add(ns, ordering: .acquiringAndReleasing) }

    /// The reading as a time source for a `FakeRobot`.
    public var reading: @Sendable () -> UInt64 { { [self] in now() } }
}
