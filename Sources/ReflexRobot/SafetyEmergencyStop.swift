#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Emergency stops raised by Unix signals (by default SIGUSR1: `kill -USR1 <pid>` from another terminal, or a
/// hardware button's script). The handler only sets a bit in an atomic word, which is async-signal-safe; every
/// `SafetyLayer` watching that signal checks its bit at each tick and latches its stop.
public enum EmergencyStopSignal {
    /// Bit `s` set: signal `s` arrived since it was last cleared.
    static let raisedMask = Atomic<UInt64>(0)

    /// Installs the handler for `signal` (1…63).
    /// - Warning: Not real-time safe.
    public static func install(signal number: Int32 = SIGUSR1) {
        guard number > 0 && number < 64 else { return }
        _ = raisedMask.load(ordering: .relaxed) // initialise the global before a handler can touch it
        _ = signal(number) { s in
            if s > 0 && s < 64 { EmergencyStopSignal.raisedMask.bitwiseOr(UInt64(1) << UInt64(s), ordering: .releasing) }
        }
    }

    /// Raises the stop as the signal would.
    public static func raise(signal number: Int32 = SIGUSR1) {
        guard number > 0 && number < 64 else { return }
        raisedMask.bitwiseOr(UInt64(1) << UInt64(number), ordering: .releasing)
    }

    /// Whether `signal` raised the stop.
    /// - Note: Real-time safe.
    public static func raised(signal number: Int32) -> Bool {
        guard number > 0 && number < 64 else { return false }
        return raisedMask.load(ordering: .acquiring) & (UInt64(1) << UInt64(number)) != 0
    }

    /// Lowers the flag of `signal` (with `SafetyLayer.clearStop()`).
    public static func clear(signal number: Int32) {
        guard number > 0 && number < 64 else { return }
        raisedMask.bitwiseAnd(~(UInt64(1) << UInt64(number)), ordering: .releasing)
    }
}
