import Foundation
import ReflexCore

/// The kernel thread pool is one per process, and every test suite runs in that one process at once: a test that
/// changes its size, or that needs its size to hold still (the production-configuration allocation test), does so
/// inside `KernelThreads.with`, one such test at a time. The pool goes back to one thread afterwards.
public enum KernelThreads {
    private static let lock = NSLock()

    /// Runs `body` with the kernel pool at `threads` threads (the caller counted), holding the process-wide lock.
    public static func with<R>(_ threads: Int, _ body: () throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        KernelBuild.setThreads(threads)
        defer { KernelBuild.setThreads(1) }
        return try body()
    }

    /// Changes the pool's size while inside `with` (tests that step through several sizes).
    public static func resize(_ threads: Int) { KernelBuild.setThreads(threads) }
}
