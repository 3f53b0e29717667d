#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value behind a lock, with `Synchronization.Mutex`'s calls (`withLock`, `withLockIfAvailable`), on a POSIX
/// mutex with priority inheritance. Reflex's one lock type, for two reasons:
/// - ThreadSanitizer sees it. On Linux, `Synchronization.Mutex` locks with raw futex calls TSan does not intercept,
///   so every access it guards was reported as a race (scripts/sanitize.sh thread) and real races would drown.
/// - `PTHREAD_PRIO_INHERIT`: a real-time thread waiting on it lends its priority to the holder, so a lower-priority
///   thread preempted while holding it cannot stall the control loop indefinitely (the loop's own calls try-lock).
/// Locking and unlocking allocate nothing (real-time safe); `init` allocates.
public final class PIMutex<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    public init(_ initialValue: Value) {
        value = initialValue
        mutex = .allocate(capacity: 1)
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_setprotocol(&attributes, Int32(PTHREAD_PRIO_INHERIT))
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, waiting for the lock.
    public func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }

    /// Runs `body` with the value if the lock is free now; nil (without waiting) if another thread holds it.
    public func withLockIfAvailable<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result? {
        guard pthread_mutex_trylock(mutex) == 0 else { return nil }
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
