#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the loop thread asked the kernel for and got. Refusals are normal on a desktop (no CAP_SYS_NICE, a small
/// RLIMIT_MEMLOCK): the loop still runs, with more jitter, and says so.
public struct RealTimeReport: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The SCHED_FIFO priority asked for (nil: not asked).
    public var fifoPriority: Int32?
    /// Whether SCHED_FIFO was granted.
    public var fifoGranted: Bool
    /// Why it was refused (strerror), when it was.
    public var fifoError: String?
    /// Whether `mlockall(MCL_CURRENT | MCL_FUTURE)` was asked for.
    public var lockMemoryRequested: Bool
    public var memoryLocked: Bool
    public var memoryLockError: String?

    public init(fifoPriority: Int32? = nil, fifoGranted: Bool = false, fifoError: String? = nil,
                lockMemoryRequested: Bool = false, memoryLocked: Bool = false, memoryLockError: String? = nil) {
        self.fifoPriority = fifoPriority
        self.fifoGranted = fifoGranted
        self.fifoError = fifoError
        self.lockMemoryRequested = lockMemoryRequested
        self.memoryLocked = memoryLocked
        self.memoryLockError = memoryLockError
    }

    public var description: String {
        var parts: [String] = []
        if let p = fifoPriority {
            parts.append(fifoGranted ? "SCHED_FIFO priority \(p): granted"
                                     : "SCHED_FIFO priority \(p): refused (\(fifoError ?? "unknown")); running at normal priority")
        } else {
            parts.append("SCHED_FIFO: not requested")
        }
        if lockMemoryRequested {
            parts.append(memoryLocked ? "mlockall: granted" : "mlockall: refused (\(memoryLockError ?? "unknown")); pages may fault in")
        } else {
            parts.append("mlockall: not requested")
        }
        return parts.joined(separator: "; ")
    }

    /// Asks for SCHED_FIFO at `priority` for the calling thread and, if `lockMemory`, for all pages to stay
    /// resident; reports what was granted.
    /// - Warning: Not real-time safe (call once, at the start of the loop thread).
    public static func request(priority: Int32?, lockMemory: Bool) -> RealTimeReport {
        var report = RealTimeReport(fifoPriority: priority, lockMemoryRequested: lockMemory)
        if let priority {
            var param = sched_param()
            param.sched_priority = priority
            let rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param)
            if rc == 0 { report.fifoGranted = true } else { report.fifoError = String(cString: strerror(rc)) }
        }
        if lockMemory {
            #if canImport(Glibc)
            if mlockall(Int32(MCL_CURRENT | MCL_FUTURE)) == 0 {
                report.memoryLocked = true
            } else {
                report.memoryLockError = String(cString: strerror(errno))
            }
            #else
            report.memoryLockError = "mlockall is not available on this platform"
            #endif
        }
        return report
    }
}
