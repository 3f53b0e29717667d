#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import ReflexCore
import ReflexPolicy
import Synchronization

/// An observation history the loop hands to the inference worker.
public final class InferenceRequest {
    /// `nObsSteps × observationSize` raw observations, oldest first.
    public let history: UnsafeMutablePointer<Float>
    /// The loop tick whose observation is newest in `history`.
    public var tick: Int64 = 0
    /// Loop clock reading at that tick (ns).
    public var time: UInt64 = 0
    /// First request of an episode: the policy is reset before it runs (RTI's warm start dropped).
    public var episodeStart = false
    /// Control periods the loop expects this inference to take (its last measured latency): the new chunk's actions
    /// before index `nObsSteps − 1 + delay` will have executed from the previous chunk (RTC freezes them).
    public var delay = 0
    /// When the chunk is needed, on the loop clock (ns; 0: no deadline): the sampler may return its x₀ estimate early.
    public var deadline: UInt64 = 0

    init(size: Int) {
        history = .allocate(capacity: size)
        history.initialize(repeating: 0, count: size)
    }

    deinit { history.deallocate() }
}

/// A chunk of actions the worker hands back, with what the loop needs to time-align it.
public final class ActionChunk {
    /// `horizon × actionSize` raw actions.
    public let actions: UnsafeMutablePointer<Float>
    /// The request tick the chunk was conditioned on: action index `nObsSteps − 1` belongs to that tick.
    public var tick: Int64 = 0
    /// Loop clock reading at that tick (ns): the chunk's age is measured from it.
    public var time: UInt64 = 0
    /// When inference started and ended (ns, loop clock).
    public var started: UInt64 = 0
    public var finished: UInt64 = 0
    public var info = InferenceInfo(networkEvaluations: 0, warmStarted: false)
    /// Which policy made it (0 for the first, +1 at each switch): the loop drops chunks of a policy it left.
    public var generation = 0

    init(size: Int) {
        actions = .allocate(capacity: size)
        actions.initialize(repeating: 0, count: size)
    }

    deinit { actions.deallocate() }
}

/// Runs a policy beside the control loop: it waits for a request, infers a chunk, and publishes it through a
/// lock-free triple buffer, so a tick never waits for the network. On its own thread (`start`), or driven by the
/// caller with `serviceOnce()` (deterministic tests, and the inline mode of `ControlLoop`).
public final class InferenceWorker: @unchecked Sendable {
    /// The policy in use (owned by the thread that runs `serviceOnce`; switch it with `switchPolicy`).
    public private(set) var policy: Policy
    public let config: PolicyConfig
    /// How chunks join (`ChunkContext.strategy`): `.naive` is what the loop does without conditioning.
    public let execution: ExecutionStrategy
    /// A policy handed from a control thread to the worker (it is used by one thread at a time).
    struct Switch: @unchecked Sendable {
        let policy: Policy
        let generation: Int
    }

    private let pending = PIMutex<Switch?>(nil)
    private var generation = 0
    let requests: TripleBuffer<InferenceRequest>
    let chunks: TripleBuffer<ActionChunk>
    private let clock: LoopClock
    private var generator: RandomGenerator
    private var previousTick: Int64 = -1
    private let wake = DispatchSemaphore(value: 0)
    private let stopping = Atomic<Bool>(false)
    private var thread: JoinableThread?
    /// Chunks inferred so far.
    public var chunksInferred: Int { inferred.load(ordering: .relaxed) }
    private let inferred = Atomic<Int>(0)

    public init(policy: Policy, clock: LoopClock, seed: UInt64, execution: ExecutionStrategy = .naive) {
        self.policy = policy
        config = policy.config
        self.execution = execution
        self.clock = clock
        generator = RandomGenerator(seed: seed)
        let c = policy.config
        requests = TripleBuffer { InferenceRequest(size: c.nObsSteps * c.observationSize) }
        chunks = TripleBuffer { ActionChunk(size: c.horizon * c.actionSize) }
    }

    /// Checks that `next` can take over from the current policy: the loop's buffers are sized for its shapes.
    public func checkCompatible(_ next: Policy) throws {
        let a = config, b = next.config
        guard a.observationSize == b.observationSize, a.actionSize == b.actionSize, a.nObsSteps == b.nObsSteps,
              a.horizon == b.horizon else {
            throw ReflexError(.shapeMismatch, "cannot switch to a policy of another shape while the loop runs (observation \(b.observationSize) vs \(a.observationSize), action \(b.actionSize) vs \(a.actionSize), n_obs_steps \(b.nObsSteps) vs \(a.nObsSteps), horizon \(b.horizon) vs \(a.horizon))")
        }
    }

    /// Queues `next` to replace the policy before the next inference; returns its generation.
    /// - Warning: Not real-time safe.
    func queueSwitch(to next: Policy, generation: Int) {
        let item = Switch(policy: next, generation: generation)
        pending.withLock { $0 = item }
    }

    /// Wakes the worker after a request was published (loop side).
    /// - Note: Real-time safe.
    func notify() { wake.signal() }

    /// Runs one pending request if there is one; returns whether it did.
    /// - Note: Real-time safe (the policy's `predictChunk` is).
    @discardableResult
    public func serviceOnce() -> Bool {
        // A switch waiting? Take it (try-lock: the inline mode runs this on the loop thread).
        if let next = pending.withLockIfAvailable({ p -> Switch? in
            let next = p
            p = nil
            return next
        }) ?? nil {
            policy = next.policy
            generation = next.generation
            policy.reset()
            previousTick = -1
        }
        guard let request = requests.consume() else { return false }
        if request.episodeStart {
            policy.reset()
            previousTick = -1
        }
        let steps = previousTick >= 0 ? Int(request.tick - previousTick) : 0
        let out = chunks.writable
        out.started = clock.now()
        // The previous chunk was conditioned on previousTick: the new one starts `steps` actions into it.
        // The loop clock's deadline on the monotonic clock the sampler reads (the same clock in production).
        let now = clock.now()
        let deadline = request.deadline == 0 ? 0 : monotonicNanoseconds() &+ (request.deadline > now ? request.deadline - now : 0)
        let context = ChunkContext(stepsExecuted: steps, stepsSinceObservation: steps,
                                   delay: previousTick >= 0 ? request.delay : 0, strategy: execution, deadline: deadline)
        out.info = policy.predictChunk(history: request.history, context: context, output: out.actions,
                                       generator: &generator)
        out.finished = clock.now()
        out.tick = request.tick
        out.time = request.time
        out.generation = generation
        chunks.publish()
        previousTick = request.tick
        inferred.add(1, ordering: .relaxed)
        return true
    }

    /// Starts the worker thread.
    /// - Warning: Not real-time safe.
    public func start() {
        guard thread == nil else { return }
        stopping.store(false, ordering: .releasing)
        thread = JoinableThread(name: "reflex-infer") { [self] in
            while true {
                wake.wait()
                if stopping.load(ordering: .acquiring) { break }
                while serviceOnce() {}
            }
        }
    }

    /// The worker thread's kernel id while it runs (Linux), for tools that look at it (chrt, perf, the allocation
    /// tests).
    public var threadID: Int32? { thread?.threadID }

    /// Stops and joins the worker thread.
    /// - Warning: Not real-time safe.
    public func stop() {
        guard let t = thread else { return }
        stopping.store(true, ordering: .releasing)
        wake.signal()
        t.join()
        thread = nil
    }
}

/// A POSIX thread that can be joined (Foundation's `Thread` cannot), named, and knowing its kernel thread id.
final class JoinableThread: @unchecked Sendable {
    private final class Body {
        let run: () -> Void
        let name: String
        /// The thread's kernel id (0 until it has started).
        let threadID = Atomic<Int32>(0)
        init(_ name: String, _ run: @escaping () -> Void) { self.name = name; self.run = run }

        func main() {
            #if canImport(Glibc)
            // Named for ps, perf and the tests that find the loop's threads in /proc (15 characters at most);
            // through /proc because Glibc's pthread_setname_np is not visible to Swift.
            let fd = open("/proc/thread-self/comm", O_WRONLY)
            if fd >= 0 {
                let short = String(name.utf8.prefix(15)) ?? "reflex"
                _ = short.withCString { write(fd, $0, strlen($0)) }
                close(fd)
            }
            threadID.store(JoinableThread.currentThreadID(), ordering: .releasing)
            #endif
            run()
        }
    }

    #if canImport(Glibc)
    private var handle = pthread_t()
    #else
    private var handle: pthread_t?
    #endif
    private var joined = false
    private let body: Body

    init(name: String, _ run: @escaping () -> Void) {
        body = Body(name, run)
        let context = Unmanaged.passRetained(body).toOpaque()
        #if canImport(Glibc)
        pthread_create(&handle, nil, { arg in
            guard let arg else { return nil }
            Unmanaged<Body>.fromOpaque(arg).takeRetainedValue().main()
            return nil
        }, context)
        #else
        pthread_create(&handle, nil, { arg in
            Unmanaged<Body>.fromOpaque(arg).takeRetainedValue().main()
            return nil
        }, context)
        #endif
    }

    /// The kernel thread id (Linux; nil before the thread has started, and elsewhere).
    var threadID: Int32? {
        let id = body.threadID.load(ordering: .acquiring)
        return id == 0 ? nil : id
    }

    /// The calling thread's kernel id, from /proc/thread-self ("PID/task/TID"); 0 where there is none.
    static func currentThreadID() -> Int32 {
        #if canImport(Glibc)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = readlink("/proc/thread-self", &buffer, 63)
        guard n > 0 else { return 0 }
        let link = String(decoding: buffer[0 ..< n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return link.split(separator: "/").last.flatMap { Int32($0) } ?? 0
        #else
        return 0
        #endif
    }

    func join() {
        guard !joined else { return }
        joined = true
        #if canImport(Glibc)
        pthread_join(handle, nil)
        #else
        if let handle { pthread_join(handle, nil) }
        #endif
    }
}
