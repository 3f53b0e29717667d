import AllocationCounter
import Foundation

/// Allocation counts of other threads than the caller's (AllocationCounter's per-thread slots), and what /proc says
/// about a thread: the tests that prove a configuration of several threads — the control loop, the inference
/// worker, the kernel pool — allocates nothing in steady state.
public enum ThreadAllocations {
    /// Allocations so far of every thread seen allocating, by kernel thread id (a reused id: its newest thread).
    public static func snapshot() -> [Int32: UInt64] {
        var out: [Int32: UInt64] = [:]
        for i in 0 ..< Int(rx_allocation_slots()) {
            var tid: Int32 = 0, count: UInt64 = 0
            if rx_allocation_slot(Int32(i), &tid, &count) != 0 { out[tid] = count }
        }
        return out
    }

    /// The name of a thread of this process (its `comm`), nil when it has exited.
    public static func name(_ tid: Int32) -> String? {
        (try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Threads of this process whose name is `name`.
    public static func threads(named name: String) -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { Int32($0) }.filter { Self.name($0) == name }.sorted()
    }

    /// CPU time a thread has run so far (ns, from /proc/self/task/TID/schedstat), nil when it has exited.
    public static func cpuTime(_ tid: Int32) -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/self/task/\(tid)/schedstat", encoding: .utf8) else { return nil }
        return text.split(separator: " ").first.flatMap { UInt64($0) }
    }

    /// A thread's scheduling policy and real-time priority (fields 41 and 40 of /proc/self/task/TID/stat): policy 1
    /// is SCHED_FIFO. nil when it has exited.
    public static func scheduling(_ tid: Int32) -> (policy: Int, priority: Int)? {
        guard let text = try? String(contentsOfFile: "/proc/self/task/\(tid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // Fields after "(comm)" start at field 3.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count >= 39, let priority = Int(fields[37]), let policy = Int(fields[38]) else { return nil }
        return (policy, priority)
    }
}
