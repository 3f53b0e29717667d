import Foundation
import ReflexCore

/// N environments stepped together, split over worker threads (one world per environment, nothing shared), with
/// results identical to stepping them one by one on one thread.
///
/// Observations and actions are flat, environment-major: `observations[i * observationSize ..< (i + 1) *
/// observationSize]` belongs to environment i. With `autoReset`, an environment whose episode ended is reset
/// inside the same `step` (its outcome still reports the end, its observation is the new episode's first), with
/// seed `seed + episode * count + i` for its `episode`-th episode. `step` allocates nothing.
public final class VectorEnvironment: @unchecked Sendable {
    public let count: Int
    public let observationSize: Int
    public let actionSize: Int
    public let threads: Int
    public var autoReset: Bool
    private var envs: [any Environment]
    private var actions: [[Float]]
    private var obs: [[Float]]
    /// Flat observations after the last reset/step.
    public private(set) var observations: [Float]
    /// Outcomes of the last step.
    public private(set) var outcomes: [StepOutcome]
    private var episodes: [UInt64]
    private var seed: UInt64 = 0
    private var pendingActions: UnsafePointer<Float>?

    // Worker threads wait on `start[k]` and signal `done` after their share.
    private var start: [DispatchSemaphore] = []
    private let done = DispatchSemaphore(value: 0)
    private var running = true
    private var workerThreads: [Thread] = []

    /// - Parameters:
    ///   - make: builds environment `i` (each gets its own world).
    ///   - threads: worker threads including the caller (1 = all on the calling thread).
    public init(count: Int, threads: Int, autoReset: Bool = true, make: (Int) throws -> any Environment) throws {
        guard count > 0 else { throw ReflexError(.invalidArgument, "a vector environment needs at least one environment") }
        self.count = count
        self.threads = max(1, min(threads, count))
        self.autoReset = autoReset
        envs = try (0 ..< count).map(make)
        observationSize = envs[0].observationSpace.size
        actionSize = envs[0].actionSpace.size
        for e in envs where e.observationSpace.size != observationSize || e.actionSpace.size != actionSize {
            throw ReflexError(.shapeMismatch, "environments differ in observation or action size")
        }
        actions = Array(repeating: [Float](repeating: 0, count: actionSize), count: count)
        obs = Array(repeating: [Float](repeating: 0, count: observationSize), count: count)
        observations = [Float](repeating: 0, count: count * observationSize)
        outcomes = Array(repeating: StepOutcome(reward: 0, terminated: false, truncated: false), count: count)
        episodes = Array(repeating: 0, count: count)
        for k in 1 ..< self.threads {
            let s = DispatchSemaphore(value: 0)
            start.append(s)
            let t = Thread { [unowned self] in self.workerLoop(k, s) }
            t.stackSize = 1 << 22
            workerThreads.append(t)
            t.start()
        }
    }

    deinit {
        running = false
        for s in start { s.signal() }
        for _ in start { done.wait() }
    }

    private func workerLoop(_ k: Int, _ s: DispatchSemaphore) {
        while true {
            s.wait()
            if !running {
                done.signal()
                return
            }
            stepShare(k)
            done.signal()
        }
    }

    private func share(_ k: Int) -> Range<Int> {
        let per = (count + threads - 1) / threads
        return min(count, k * per) ..< min(count, (k + 1) * per)
    }

    private func stepShare(_ k: Int) {
        guard let a = pendingActions else { return }
        for i in share(k) {
            for j in 0 ..< actionSize { actions[i][j] = a[i * actionSize + j] }
            var out = envs[i].step(actions[i], observation: &obs[i])
            if out.done && autoReset {
                episodes[i] += 1
                envs[i].reset(seed: seed &+ episodes[i] &* UInt64(count) &+ UInt64(i), observation: &obs[i])
                out.truncated = out.truncated || !out.terminated
            }
            outcomes[i] = out
        }
    }

    /// Resets every environment: environment i's first episode uses seed `seed + i`.
    public func reset(seed: UInt64) {
        self.seed = seed
        for i in 0 ..< count {
            episodes[i] = 0
            envs[i].reset(seed: seed &+ UInt64(i), observation: &obs[i])
            copyObservation(i)
        }
    }

    private func copyObservation(_ i: Int) {
        for j in 0 ..< observationSize { observations[i * observationSize + j] = obs[i][j] }
    }

    /// Steps every environment with its slice of `actions` (count × actionSize values).
    /// - Note: Allocates nothing.
    public func step(_ actions: [Float]) {
        precondition(actions.count == count * actionSize, "expected \(count * actionSize) action values")
        actions.withUnsafeBufferPointer { a in
            pendingActions = a.baseAddress
            for s in start { s.signal() }
            stepShare(0)
            for _ in start { done.wait() }
            pendingActions = nil
        }
        for i in 0 ..< count { copyObservation(i) }
    }
}
