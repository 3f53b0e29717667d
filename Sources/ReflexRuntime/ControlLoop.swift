import Dispatch
import ReflexCore
import ReflexPolicy
import ReflexRobot
import Synchronization

/// How a control loop runs.
public struct ControlLoopConfig: Sendable, Codable, Equatable {
    /// Ticks per second.
    public var rate: Double
    /// SCHED_FIFO priority to ask for (nil: do not ask).
    public var realTimePriority: Int32?
    /// Ask for `mlockall` so no page faults land in a tick.
    public var lockMemory: Bool
    /// Actions executed from each chunk before the next is due (nil: the policy's `n_action_steps`).
    public var actionSteps: Int?
    /// Run inference inside the tick on the loop thread, as a synchronous Python loop does (deterministic tests,
    /// and the comparison that shows why the worker exists), instead of on the worker thread.
    public var inlineInference: Bool
    /// Seed of the policy's noise.
    public var seed: UInt64
    /// How chunks join while the next is inferred (nil: `.naive`); the worker hands each request's measured delay
    /// to the policy, so `.rtc` freezes what will have executed by the time the chunk lands.
    public var execution: ExecutionStrategy?
    /// Anytime denoising: each request carries the time its chunk is needed (when the executing chunk runs out, less
    /// a tenth of a period), and a diffusion sampler that would finish later returns its x₀ estimate instead.
    public var anytime: Bool?
    /// Microseconds before each deadline at which the loop stops sleeping and spins on the clock (nil: 100; 0: sleep
    /// all the way). The timer's wake-up lateness (tens of µs on a VM) then lands in the spin, not on the tick;
    /// the cost is the spin's share of the loop's core (1% at 100 Hz). Must be shorter than the period.
    public var wakeSpinMicroseconds: Double?

    /// The spin when none is given: above the wake-up lateness this VM shows at p99 (40–60 µs), 1% of a 100 Hz period.
    public static let defaultWakeSpinMicroseconds = 100.0

    public init(rate: Double = 100, realTimePriority: Int32? = 80, lockMemory: Bool = true, actionSteps: Int? = nil,
                inlineInference: Bool = false, seed: UInt64 = 0, execution: ExecutionStrategy? = nil, anytime: Bool? = nil,
                wakeSpinMicroseconds: Double? = nil) {
        self.wakeSpinMicroseconds = wakeSpinMicroseconds
        self.execution = execution
        self.anytime = anytime
        self.rate = rate
        self.realTimePriority = realTimePriority
        self.lockMemory = lockMemory
        self.actionSteps = actionSteps
        self.inlineInference = inlineInference
        self.seed = seed
    }
}

/// The real-time control loop: one thread at a fixed rate, sleeping to absolute deadlines; each tick reads the
/// robot, takes the next action of the current chunk (or none), passes it through the safety layer and writes it.
/// Inference runs on an `InferenceWorker` beside it; chunks cross through a triple buffer, so a tick never waits
/// for the network. A tick that ends after the next deadline is a miss: counted, and the loop re-phases to the
/// next free slot of its original grid instead of drifting (ros2_control's overrun handling).
///
/// Chunks are aligned in time: a chunk conditioned on the observation of tick t₀ has its action `n_obs_steps − 1`
/// for tick t₀, so when it arrives L ticks later its first L actions (already in the past) are skipped. The next
/// request goes out `actionSteps − L` ticks after t₀, L being the last measured latency, so the next chunk lands
/// as this one's executed part runs out. A chunk that runs out before the next arrives leaves the loop holding.
public final class ControlLoop: @unchecked Sendable {
    public let robot: Robot
    public let safety: SafetyLayer
    public let worker: InferenceWorker?
    public let observation: ObservationBuilder
    public let actionMap: ActionMap
    public let config: ControlLoopConfig
    public let clock: LoopClock
    /// Period in nanoseconds.
    public let period: UInt64
    /// Actions executed per chunk.
    public let actionSteps: Int
    /// Nanoseconds spun on the clock before each deadline (`ControlLoopConfig.wakeSpinMicroseconds`).
    public let wakeSpin: UInt64
    /// Safety events, deadline misses and stops, for a logger thread to drain.
    public let events = LoopEventLog()
    /// Each tick's state and command, newest first, for readers outside the loop (the daemon's stream).
    public let samples: LoopSampleBuffer
    let telemetry = LoopTelemetry()

    private let state: JointState
    private let command: JointCommand
    private let targets: UnsafeMutablePointer<Double>
    private let newest: UnsafeMutablePointer<Float>
    private let history: ObservationHistory
    private let obsSize: Int
    private let nObs: Int
    private let horizon: Int
    private let actionSize: Int

    private var tickIndex: Int64 = 0
    private var chunk: ActionChunk?
    private var requestOutstanding = false
    private var episodeStartPending = true
    private var latencyTicks = 0
    private var featuresLost = false
    private var blindTicks = 0
    private var lastWriteStatus = RobotStatus.ok
    private var previousEvents: SafetyEvents = []
    private var previousFaults: RobotFaults = []
    private let running = Atomic<Bool>(false)
    /// True while a thread is inside `runLoop`: after `stop()` clears `running` the loop may still be in its last
    /// tick, reading and writing the robot, until its thread ends.
    private let inLoop = Atomic<Bool>(false)
    /// The policy generation the loop wants chunks from (bumped by `switchPolicy`).
    private let wantedGeneration = Atomic<Int>(0)
    private var generationInUse = 0
    private var thread: JoinableThread?
    private let realTimeReport = PIMutex<RealTimeReport?>(nil)

    /// - Parameters:
    ///   - policy: nil runs the loop holding position (a robot check without a policy).
    ///   - clock: `MonotonicClock()` for real runs, `ManualClock` in tests; the robot's timestamps must be on it.
    public init(robot: Robot, safety: SafetyLayer, policy: Policy?, observation: ObservationBuilder,
                actionMap: ActionMap? = nil, config: ControlLoopConfig = ControlLoopConfig(),
                clock: LoopClock = MonotonicClock()) throws {
        guard config.rate > 0, config.rate.isFinite, config.rate <= 10_000 else {
            throw ReflexError(.invalidValue, "control rate must be in (0, 10000] Hz, got \(config.rate)")
        }
        let joints = robot.jointCount
        guard safety.limits.count == joints else {
            throw ReflexError(.shapeMismatch, "safety layer has \(safety.limits.count) joints, robot \(robot.name) has \(joints)")
        }
        guard observation.jointCount == joints else {
            throw ReflexError(.shapeMismatch, "observation builder has \(observation.jointCount) joints, robot has \(joints)")
        }
        let spinMicroseconds = config.wakeSpinMicroseconds ?? ControlLoopConfig.defaultWakeSpinMicroseconds
        guard spinMicroseconds >= 0, spinMicroseconds * 1000 < 1e9 / config.rate else {
            throw ReflexError(.invalidValue, "wake spin must be at least 0 µs and shorter than the period (\(1e6 / config.rate) µs), got \(spinMicroseconds) µs")
        }
        let map = actionMap ?? .identity(joints)
        if let policy {
            let c = policy.config
            guard c.observationSize == observation.size else {
                throw ReflexError(.shapeMismatch, "policy observes \(c.observationSize) values, the observation builder makes \(observation.size) (\(observation.includePositions ? "positions, " : "")\(observation.includeVelocities ? "velocities, " : "")\(observation.featureCount) task features)")
            }
            try map.validate(joints: joints, actionSize: c.actionSize)
            if let s = config.actionSteps, s < 1 || s > c.horizon - c.nObsSteps + 1 {
                throw ReflexError(.invalidValue, "action steps must be in 1...\(c.horizon - c.nObsSteps + 1), got \(s)")
            }
        }
        self.robot = robot
        self.safety = safety
        self.observation = observation
        self.actionMap = map
        self.config = config
        self.clock = clock
        period = UInt64((1e9 / config.rate).rounded())
        wakeSpin = UInt64((spinMicroseconds * 1000).rounded())
        let pc = policy?.config
        obsSize = observation.size
        nObs = pc?.nObsSteps ?? 1
        horizon = pc?.horizon ?? 1
        actionSize = pc?.actionSize ?? joints
        actionSteps = config.actionSteps ?? pc?.nActionSteps ?? 1
        worker = policy.map { InferenceWorker(policy: $0, clock: clock, seed: config.seed,
                                                   execution: config.execution ?? .naive) }
        state = JointState(count: joints)
        command = JointCommand(count: joints)
        samples = LoopSampleBuffer(joints: joints)
        targets = .allocate(capacity: joints)
        targets.initialize(repeating: 0, count: joints)
        newest = .allocate(capacity: max(obsSize, 1))
        newest.initialize(repeating: 0, count: max(obsSize, 1))
        history = ObservationHistory(steps: nObs, observationSize: obsSize)
    }

    deinit {
        stop()
        targets.deallocate()
        newest.deallocate()
    }

    // MARK: Control

    /// Prepares a run: the robot must be active; reads its pose, starts the safety layer there, fills the
    /// observation history with it and clears telemetry.
    /// - Warning: Not real-time safe.
    public func begin() throws {
        guard robot.lifecycle == .active else {
            throw ReflexError(.invalidTransition, "the loop needs an active robot, \(robot.name) is \(robot.lifecycle)")
        }
        var status = robot.read(into: state)
        for _ in 0 ..< 10 where status.verdict == .hold { status = robot.read(into: state) }
        guard status.verdict == .ok else {
            throw ReflexError(.device, "cannot read \(robot.name) to start the loop: \(status)")
        }
        safety.begin(at: state)
        if obsSize > 0 {
            _ = observation.build(from: state, into: newest)
            history.fill(with: newest)
        }
        tickIndex = 0
        chunk = nil
        requestOutstanding = false
        episodeStartPending = true
        generationInUse = wantedGeneration.load(ordering: .acquiring)
        latencyTicks = 0
        featuresLost = false
        blindTicks = 0
        lastWriteStatus = .ok
        previousEvents = []
        previousFaults = []
        telemetry.reset()
    }

    /// Runs `ticks` ticks on the calling thread (tests with a `ManualClock`, benchmarks), after `begin()`.
    /// - Warning: Not real-time safe as a whole (it calls `begin`); each tick is.
    public func run(ticks: Int) throws {
        try begin()
        runTicks(ticks)
    }

    /// Runs `ticks` more ticks on the calling thread without `begin()` (allocation tests measure exactly this).
    func runTicks(_ ticks: Int) {
        if !config.inlineInference { worker?.start() }
        running.store(true, ordering: .releasing)
        inLoop.store(true, ordering: .releasing)
        runLoop(maxTicks: ticks)
        inLoop.store(false, ordering: .releasing)
        running.store(false, ordering: .releasing)
        if !config.inlineInference { worker?.stop() }
    }

    /// Starts the loop on its own thread (and the inference worker on another), asking for SCHED_FIFO and
    /// mlockall; returns what the kernel granted.
    /// - Warning: Not real-time safe.
    @discardableResult
    public func start() throws -> RealTimeReport {
        guard thread == nil else { throw ReflexError(.invalidTransition, "the loop is already running") }
        try begin()
        if !config.inlineInference { worker?.start() }
        running.store(true, ordering: .releasing)
        inLoop.store(true, ordering: .releasing)
        let ready = DispatchSemaphore(value: 0)
        thread = JoinableThread(name: "reflex-loop") { [self] in
            let report = RealTimeReport.request(priority: config.realTimePriority, lockMemory: config.lockMemory)
            realTimeReport.withLock { $0 = report }
            ready.signal()
            runLoop(maxTicks: nil)
            inLoop.store(false, ordering: .releasing)
        }
        ready.wait()
        return realTimeReport.withLock { $0 } ?? RealTimeReport()
    }

    /// Stops the loop thread and the worker and waits for both. The robot stays as it is (active and holding its
    /// last command, or inactive after a torque-off stop): the caller decides what comes next.
    /// - Warning: Not real-time safe.
    public func stop() {
        running.store(false, ordering: .releasing)
        thread?.join()
        thread = nil
        worker?.stop()
    }

    /// True from `start()` until the loop thread has left its last tick (not merely been asked to stop), so no other
    /// thread touches the robot while a tick may still be using it.
    public var isRunning: Bool { running.load(ordering: .acquiring) || inLoop.load(ordering: .acquiring) }

    /// The loop thread's kernel id while it runs (Linux), for tools that look at it (chrt, perf, the allocation and
    /// real-time tests).
    public var threadID: Int32? { thread?.threadID }

    /// What the kernel granted the loop thread (nil before `start`).
    public var realTime: RealTimeReport? { realTimeReport.withLock { $0 } }

    /// Switches to `policy` while the loop runs: from the next tick the loop drops the old policy's chunks and holds
    /// position until the new policy's first chunk arrives, which it approaches slowly as at start. Never blocks a
    /// tick. The new policy must have the same shapes (observation, action, n_obs_steps, horizon).
    /// - Warning: Not real-time safe.
    public func switchPolicy(to policy: Policy) throws {
        guard let worker else { throw ReflexError(.invalidArgument, "this loop runs without a policy; create it with one") }
        try worker.checkCompatible(policy)
        let next = wantedGeneration.load(ordering: .acquiring) + 1
        worker.queueSwitch(to: policy, generation: next)
        wantedGeneration.store(next, ordering: .releasing)
        worker.notify()
    }

    /// The policy generation the loop follows (0 at start, +1 per switch).
    public var policyGeneration: Int { wantedGeneration.load(ordering: .acquiring) }

    /// Engages the safety layer's emergency stop (any thread).
    /// - Note: Real-time safe.
    public func emergencyStop() { safety.emergencyStop() }

    /// Counters, safety counts and timing percentiles at this moment.
    /// - Warning: Not real-time safe.
    public func snapshot() -> LoopSnapshot { telemetry.snapshot() }

    // MARK: The loop

    private func runLoop(maxTicks: Int?) {
        var deadline = clock.now() + period
        var previousWake: UInt64 = 0
        var executed = 0
        while running.load(ordering: .relaxed) {
            if let maxTicks, executed >= maxTicks { break }
            clock.sleep(until: deadline, spin: wakeSpin)
            let wake = clock.now()
            telemetry.record(.wakeLatency, wake > deadline ? wake - deadline : 0)
            if previousWake != 0 {
                let gap = wake - previousWake
                telemetry.record(.periodJitter, gap > period ? gap - period : period - gap)
            }
            tick(wake: wake)
            let end = clock.now()
            telemetry.record(.tickDuration, end - wake)
            deadline += period
            tickIndex += 1
            previousWake = wake
            if end > deadline {
                // Overrun: skip the slots already gone and keep the original phase.
                let behind = (end - deadline) / period + 1
                telemetry.counters.deadlineMisses += 1
                telemetry.counters.skippedPeriods += Int(behind)
                events.push(LoopEvent(kind: .deadlineMiss, tick: tickIndex - 1, events: [], status: .ok, value: end - deadline))
                deadline += behind * period
                tickIndex += Int64(behind)
                previousWake = 0 // a period across a gap is not jitter
            }
            telemetry.flush(safety: safety.counters, mode: safety.mode, events: previousEvents)
            executed += 1
        }
        telemetry.flush(safety: safety.counters, mode: safety.mode, events: previousEvents)
    }

    /// One tick: read → observation → chunk handover → action → safety → write.
    /// - Note: Real-time safe.
    private func tick(wake: UInt64) {
        telemetry.counters.ticks += 1
        let readStatus = robot.read(into: state)
        let fresh = readStatus.faults.isDisjoint(with: .linkErrors) && readStatus.verdict != .hold
        if !fresh { telemetry.counters.readFailures += 1 }
        var blind = false
        if obsSize > 0 {
            // A stale or incomplete observation repeats the previous one rather than feeding NaN to the policy.
            if fresh && observation.build(from: state, into: newest) {
                history.push(newest)
            } else {
                history.repeatNewest()
            }
            blind = fresh && !observation.featuresAvailable
        }
        if blind != featuresLost {
            events.push(LoopEvent(kind: blind ? .featuresLost : .featuresBack, tick: tickIndex, events: [], status: .ok,
                                  value: UInt64(blindTicks)))
            featuresLost = blind
            blindTicks = 0
        }
        if blind {
            telemetry.counters.featureHolds += 1
            blindTicks += 1
        }

        if let worker {
            let wanted = wantedGeneration.load(ordering: .acquiring)
            if wanted != generationInUse {
                // A policy switch: forget the old chunk and any request in flight, hold, then approach anew.
                generationInUse = wanted
                chunk = nil
                requestOutstanding = false
                safety.reapproach()
                events.push(LoopEvent(kind: .policySwitch, tick: tickIndex, events: [], status: .ok, value: UInt64(wanted)))
            }
            takeChunk(from: worker)
            let due = chunk.map { tickIndex - $0.tick >= Int64(actionSteps - latencyTicks) } ?? true
            if due && !requestOutstanding {
                let request = worker.requests.writable
                request.history.update(from: history.data, count: nObs * obsSize)
                request.tick = tickIndex
                request.time = wake
                request.episodeStart = episodeStartPending
                request.delay = latencyTicks
                request.deadline = 0
                if config.anytime == true, let c = chunk {
                    // The tick at which the executing chunk has no action left needs the new one.
                    let left = Int64(horizon - nObs + 1) - (tickIndex - c.tick)
                    request.deadline = left > 0 ? wake &+ UInt64(left) * period &- period / 10 : wake
                }
                episodeStartPending = false
                worker.requests.publish()
                requestOutstanding = true
                telemetry.counters.inferenceRequests += 1
                if config.inlineInference {
                    worker.serviceOnce()
                    takeChunk(from: worker)
                } else {
                    worker.notify()
                }
            }
        }

        var action: UnsafePointer<Double>?
        if let c = chunk {
            let index = nObs - 1 + Int(tickIndex - c.tick)
            if index < horizon {
                actionMap.apply(c.actions + index * actionSize, into: targets)
                action = UnsafePointer(targets)
                telemetry.record(.chunkAge, wake > c.time ? wake - c.time : 0)
            }
        }
        if blind { action = nil } // no features, no acting on them: the safety layer holds (noAction)
        if action == nil { telemetry.counters.noActionTicks += 1 }

        let status = readStatus.merged(lastWriteStatus)
        if !status.faults.isSubset(of: previousFaults) {
            events.push(LoopEvent(kind: .robotFault, tick: tickIndex, events: [], status: status, value: 0))
        }
        previousFaults = status.faults
        let report = safety.filter(action: action, state: state, status: status, now: clock.now(), into: command)
        switch report.output {
        case .command:
            lastWriteStatus = robot.write(command)
            if lastWriteStatus.verdict != .ok { telemetry.counters.writeFailures += 1 }
        case .torqueOff:
            // A stop, not a tick: leaving the real-time path here is the point.
            do { try robot.deactivate() } catch {}
            lastWriteStatus = .ok
            events.push(LoopEvent(kind: .torqueOff, tick: tickIndex, events: report.events, status: status, value: 0))
        case .nothing:
            lastWriteStatus = .ok
        }
        samples.publish(state: state, command: command, commanded: report.output == .command, tick: tickIndex, time: wake)
        let began = report.events.subtracting(previousEvents)
        let ended = previousEvents.subtracting(report.events)
        if !began.isEmpty { events.push(LoopEvent(kind: .safetyBegan, tick: tickIndex, events: began, status: status, value: 0)) }
        if !ended.isEmpty { events.push(LoopEvent(kind: .safetyEnded, tick: tickIndex, events: ended, status: .ok, value: 0)) }
        previousEvents = report.events
    }

    /// Adopts a newly published chunk, if any.
    /// - Note: Real-time safe.
    @inline(__always)
    private func takeChunk(from worker: InferenceWorker) {
        guard let c = worker.chunks.consume() else { return }
        guard c.generation == generationInUse else { return } // a late chunk of the policy switched away from
        let first = chunk == nil
        chunk = c
        requestOutstanding = false
        telemetry.counters.chunksReceived += 1
        if c.info.stoppedEarly { telemetry.counters.anytimeChunks += 1 }
        let latency = c.finished > c.started ? c.finished - c.started : 0
        telemetry.record(.inferenceLatency, latency)
        let sinceObservation = c.finished > c.time ? c.finished - c.time : 0
        // Inline inference runs inside the tick it was asked in: the chunk is on time by construction.
        latencyTicks = config.inlineInference ? 0 : Int((sinceObservation + period - 1) / period)
        if first { events.push(LoopEvent(kind: .firstChunk, tick: tickIndex, events: [], status: .ok, value: latency)) }
    }
}
