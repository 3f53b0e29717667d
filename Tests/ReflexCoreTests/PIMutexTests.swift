import Foundation
import ReflexCore
import Testing

/// Reflex's lock: exclusion, try-lock, and the priority-inheritance protocol it is made with. Also in
/// scripts/sanitize.sh thread's list, where ThreadSanitizer must report nothing (it reported every access guarded by
/// Synchronization.Mutex, whose futex calls it does not see).
@Suite struct PIMutexTests {
    @Test func twoThreadsCountExactly() {
        let counter = PIMutex(0)
        let perThread = 200_000
        let group = DispatchGroup()
        for _ in 0 ..< 2 {
            group.enter()
            Thread.detachNewThread {
                for _ in 0 ..< perThread { counter.withLock { $0 += 1 } }
                group.leave()
            }
        }
        group.wait()
        #expect(counter.withLock { $0 } == 2 * perThread)
    }

    @Test func tryLockFailsWhileHeldAndSucceedsAfter() {
        let m = PIMutex("free")
        let held = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            m.withLock { value in
                value = "held"
                held.signal()
                release.wait()
            }
            done.signal()
        }
        held.wait()
        #expect(m.withLockIfAvailable { $0 } == nil)
        release.signal()
        done.wait()
        #expect(m.withLockIfAvailable { $0 } == "held")
    }

    @Test func errorsPassThroughAndUnlock() {
        struct Refused: Error {}
        let m = PIMutex(1)
        #expect(throws: Refused.self) { try m.withLock { (_: inout Int) throws(Refused) in throw Refused() } }
        #expect(m.withLockIfAvailable { $0 } == 1) // unlocked on the way out
    }
}
