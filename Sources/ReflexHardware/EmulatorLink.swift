// The emulator behind a device node: a pseudo-terminal whose slave path (or a symlink such as /tmp/so101)
// behaves like the arm's USB serial adapter, served by a thread of its own.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore
import Synchronization

/// Runs a `ServoBusEmulator` behind a `PseudoTerminal` on its own thread until `stop()`.
///
/// The thread polls the master side at 1 kHz, feeds requests to the emulator, releases replies when due (late
/// replies included) and advances the motor model by the real time elapsed.
public final class EmulatorLink: @unchecked Sendable {
    public let terminal: PseudoTerminal
    private let emulator: ServoBusEmulator
    // Allocated after the terminal opened: an init that throws before then would leak it (no deinit runs).
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let running = Atomic<Bool>(true)
    private var thread: pthread_t?
    private let priority: Int32?
    private let granted = Atomic<Int8>(-1)
    /// Whether the serving thread got SCHED_FIFO (nil until it tried, or when not asked).
    public var realTimeGranted: Bool? {
        let g = granted.load(ordering: .acquiring)
        return g < 0 ? nil : g == 1
    }

    /// Starts serving `emulator` on a new pseudo-terminal (with a symlink at `link`, if given). With
    /// `realTimePriority` the serving thread asks for SCHED_FIFO at that priority: real servos answer on their own
    /// silicon, and an emulator starved by a loaded machine would look like a bus that drops replies.
    /// - Warning: Not real-time safe.
    public init(emulator: ServoBusEmulator, link: String? = nil, realTimePriority: Int32? = nil) throws {
        terminal = try PseudoTerminal(link: link)
        self.emulator = emulator
        priority = realTimePriority
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        let box = Unmanaged.passRetained(self)
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            guard let arg else { return nil }
            let link = Unmanaged<EmulatorLink>.fromOpaque(arg).takeRetainedValue()
            link.serve()
            return nil
        }, box.toOpaque())
        guard rc == 0 else {
            box.release()
            throw ReflexError(.io, "cannot start the emulator thread (pthread_create \(rc))")
        }
        thread = tid
    }

    /// The path a client opens.
    public var path: String { terminal.clientPath }

    /// Runs `body` on the emulator while its thread is held off (inject faults, read counters, move servos).
    /// - Warning: Not real-time safe.
    public func withEmulator<R>(_ body: (ServoBusEmulator) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(emulator)
    }

    /// Stops the thread and closes the terminal (idempotent).
    /// - Warning: Not real-time safe.
    public func stop() {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        if let t = thread { pthread_join(t, nil) }
        thread = nil
        terminal.close()
    }

    deinit {
        stop()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    private func serve() {
        if let priority {
            var param = sched_param()
            param.sched_priority = priority
            let ok = pthread_setschedparam(pthread_self(), Int32(SCHED_FIFO), &param) == 0
            granted.store(ok ? 1 : 0, ordering: .releasing)
        }
        var buffer = [UInt8](repeating: 0, count: 2048)
        var last = monotonicNanoseconds()
        var wait: UInt64 = 1_000_000
        while running.load(ordering: .acquiring) {
            let n = buffer.withUnsafeMutableBytes { terminal.read(into: $0, timeoutNanoseconds: wait) }
            pthread_mutex_lock(mutex)
            let now = monotonicNanoseconds()
            emulator.advance(dt: Double(now - last) * 1e-9)
            last = now
            if n > 0 { buffer.withUnsafeBytes { emulator.receive(UnsafeRawBufferPointer(rebasing: $0[0 ..< n]), now: now) } }
            let out = emulator.takeOutput(dueBy: now)
            // Wake exactly when the next queued reply is due (sync-read replies follow each other at line rate).
            if let next = emulator.nextReleaseTime, next > now {
                wait = min(next - now, 1_000_000)
            } else {
                wait = emulator.nextReleaseTime == nil ? 1_000_000 : 0
            }
            pthread_mutex_unlock(mutex)
            if !out.isEmpty { out.withUnsafeBytes { terminal.write($0) } }
        }
    }
}

/// A transport straight into an in-process emulator (no pty, no thread): for tests and for sizing timeouts.
/// Reads honour the emulator's reply times by sleeping, so late replies really are late.
public final class LoopbackTransport: ServoTransport {
    public let emulator: ServoBusEmulator
    private var inbox: [UInt8] = []
    private var last = monotonicNanoseconds()

    public init(emulator: ServoBusEmulator) { self.emulator = emulator }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        let now = monotonicNanoseconds()
        emulator.advance(dt: Double(now - last) * 1e-9)
        last = now
        emulator.receive(bytes, now: now)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, deadline: UInt64) throws -> Int {
        while true {
            inbox += emulator.takeOutput(dueBy: monotonicNanoseconds())
            if !inbox.isEmpty {
                let n = min(buffer.count, inbox.count)
                for k in 0 ..< n { buffer[k] = inbox[k] }
                inbox.removeFirst(n)
                return n
            }
            let now = monotonicNanoseconds()
            if now >= deadline { return 0 }
            let wake = min(deadline, emulator.nextReleaseTime ?? deadline)
            if wake > now {
                var ts = timespec(tv_sec: Int((wake - now) / 1_000_000_000), tv_nsec: Int((wake - now) % 1_000_000_000))
                nanosleep(&ts, nil)
            }
        }
    }

    public func discardInput() {
        inbox += emulator.takeOutput(dueBy: monotonicNanoseconds())
        inbox.removeAll()
    }
}
