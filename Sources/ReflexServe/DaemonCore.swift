import Dispatch
import Foundation
import Logging
import ReflexCore
import ReflexDeployment
import ReflexHardware
import ReflexPolicy
import ReflexRobot
import ReflexRuntime
import ReflexSteering
import Synchronization

/// What `GET /v1/status` returns.
public struct DaemonStatus: Sendable, Codable, Equatable {
    public var controller: ControllerStatus
    /// The newest joint state and command.
    public var sample: JointSample?
    /// Steering of each loaded policy.
    public var steering: [String: SteeringOptions]
    /// Latest events (safety, faults, misses, API actions).
    public var events: [EventFeed.Entry]
    /// Seconds since the daemon started.
    public var uptime: Double
    /// The simulated scene's task state (`sim` arms only).
    public var task: TaskStatus?
    /// Each servo's latest health reading and the bus's counters (bus arms only).
    public var servos: BusHealthReport?
    /// The frames the running (or last) episode's camera policy saw: used, stale, torn, missing, their ages.
    public var frames: CameraFrameReport?
}

/// The daemon without HTTP: the controller, the policy catalog and steering, remote-inference predictors, and the
/// event feed. Every operation that may block (loading a file, starting a loop, inferring) runs on one of two
/// dedicated serial queues, never on Swift's cooperative pool, so the few pool threads stay free for what must
/// always be answered: the emergency stop (an atomic store) and status (served from a cache).
public final class DaemonCore: Sendable {
    public let controller: RobotController
    public let config: ServeConfig
    public let events: EventFeed
    let logger: Logger
    /// Directories (resolved) under which policies, value functions and actors may be read.
    public let roots: [String]
    private let control = DispatchQueue(label: "reflex.serve.control", qos: .userInitiated)
    private let inference = DispatchQueue(label: "reflex.serve.predict", qos: .userInitiated)
    private let catalog = PIMutex<[String: CatalogEntry]>([:])
    private let predictors = PIMutex<[String: Predictor]>([:])
    private let statusCache = PIMutex<(time: UInt64, status: DaemonStatus?)>((0, nil))
    private let statusBytes = PIMutex<(time: UInt64, bytes: [UInt8]?)>((0, nil))
    private let started = monotonicNanoseconds()
    private let counters = PIMutex(Counters())

    struct CatalogEntry: Sendable {
        var directory: String
        var steering: SteeringOptions
        var config: PolicyConfig
        /// Cameras the policy sees (feature names); such a policy is served by `/v1/predict`, and by the loop when
        /// the arm has frames (`framePolicy`).
        var cameras: [String] = []
        /// The loop's instance of a camera policy, its frames attached at each episode start.
        var framePolicy: CameraFramePolicy?
        /// Why the loop cannot run this camera policy on an arm that has frames (its shapes do not fit the arm).
        var loopProblem: String?
        var generation = 0
    }

    struct Counters: Sendable {
        var predictions = 0
        var predictionFailures = 0
        var predictNanoseconds: UInt64 = 0
        var refused: [Int: Int] = [:]
    }

    /// Status answers are at most this old (bounds how often readers take the loop's telemetry lock).
    static let statusMaxAge: UInt64 = 50_000_000

    /// The arm's deployment: before each episode, the per-episode set-up under the controller's lock (a simulated
    /// scene put back at its start, a bus watchdog re-armed) and, outside it, a camera channel's scene reset (it may
    /// take seconds); the task's status. nil: a bare controller (tests over a fake arm).
    let deployment: Deployment?

    public init(controller: RobotController, config: ServeConfig, logger: Logger, deployment: Deployment? = nil) throws {
        self.deployment = deployment
        self.controller = controller
        self.config = config
        self.logger = logger
        events = EventFeed(logger: logger)
        var roots = config.policyRoots ?? []
        if config.policyRoots == nil {
            for dir in config.policies.values {
                let parent = (dir as NSString).deletingLastPathComponent
                roots.append(parent.isEmpty ? "." : parent)
            }
        }
        self.roots = roots.compactMap { Self.resolve($0) }.map { $0.hasSuffix("/") ? $0 : $0 + "/" }
    }

    /// The daemon `config` describes: its arm (opened here, configured by `bringUp`, left inactive) and a controller
    /// at the config's rate with its safety settings.
    public convenience init(config: ServeConfig, logger: Logger) throws {
        let deployment = try Deployment(config: config.arm)
        do {
            let controller = try deployment.makeController(rate: config.rate, safety: config.safety,
                                                           priority: config.priority > 0 ? config.priority : nil)
            try self.init(controller: controller, config: config, logger: logger, deployment: deployment)
        } catch {
            deployment.robot.finalize()
            throw error
        }
    }

    // MARK: Blocking work off the cooperative pool

    func onControl<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { cont in
            control.async { cont.resume(with: Result { try body() }) }
        }
    }

    func onInference<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { cont in
            inference.async { cont.resume(with: Result { try body() }) }
        }
    }

    // MARK: Paths

    static func resolve(_ path: String) -> String? {
        guard let r = realpath(path, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }

    /// `path` resolved, if it lies under one of the roots (symlinks followed first, so `..` and links cannot
    /// escape); otherwise 403, or 404 when it does not exist.
    public func checkedDirectory(_ path: String, what: String) throws -> String {
        guard !path.isEmpty, path.utf8.count < 4096, !path.contains("\0") else {
            throw APIError.badRequest("\(what) must be a non-empty path of fewer than 4096 bytes without NUL")
        }
        guard let resolved = Self.resolve(path) else {
            throw APIError(.notFound, "not_found", "\(what) '\(path)' does not exist")
        }
        guard roots.contains(where: { (resolved + "/").hasPrefix($0) }) else {
            throw APIError.forbidden("\(what) '\(path)' is outside the policy roots (\(roots.joined(separator: ", "))); add its parent to policy_roots in the config")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDir), isDir.boolValue else {
            throw APIError(.notFound, "not_found", "\(what) '\(path)' is not a directory")
        }
        return resolved
    }

    // MARK: Operations

    /// Brings the arm up inactive and loads the configured policies (start-up; not checked against the roots).
    public func bringUp() throws {
        try controller.bringUp()
        for (name, dir) in config.policies.sorted(by: { $0.key < $1.key }) {
            try load(name: name, resolvedDirectory: Self.resolve(dir) ?? dir)
        }
        events.note("startup", "\(controller.robot.name) is \(controller.robot.lifecycle) (no motion until an episode starts); \(config.policies.count) policies loaded", now: monotonicNanoseconds())
    }

    /// Returns the policy's config and its named inputs (`PolicyInput`).
    @discardableResult
    func load(name: String, resolvedDirectory dir: String, steering: SteeringOptions = SteeringOptions()) throws
        -> (PolicyConfig, [PolicyInput]) {
        // A Reflex policy directory or a LeRobot diffusion or ACT checkpoint: the pipeline reads each.
        let pipeline = try PolicyFactory.pipeline(directory: dir, options: steering, maxCandidates: config.maxCandidates)
        let pc = pipeline.config
        let cameras = pipeline.cameras
        var predictor: Predictor?
        var framePolicy: CameraFramePolicy?
        var loopProblem: String?
        let inputs: [PolicyInput]
        if cameras.isEmpty {
            let policy = try pipeline.makePolicy()
            inputs = PolicyInput.list(ObservationFeatures(policy: policy))
            try controller.addPolicy(name: name, policy)
        } else {
            // The loop has no frames to give a camera policy: remote inference only (the client sends them). Its
            // instance is the predictor's, made now (the weights are read once, errors surface at load).
            try ServeRoutes.checkName(name)
            let made = Predictor(policy: try pipeline.makePolicy(acceptingFrames: true))
            inputs = PolicyInput.list(made.inputs)
            predictor = made
            // An arm with frames (a sim scene rendered in process, a bus arm's camera channel) runs it in the loop
            // too, as `reflex run` does; its frames are attached when an episode starts.
            // One that does not fit the arm stays served by /v1/predict; starting it says why.
            if deployment?.givesFrames == true {
                if pc.cameras != nil, let camera = try pipeline.makePolicy(acceptingFrames: true) as? CameraDiffusionPolicy {
                    let loop = CameraFramePolicy(policy: camera)
                    do {
                        try controller.addPolicy(name: name, loop)
                        framePolicy = loop
                    } catch let e as ReflexError where e.code == .shapeMismatch {
                        loopProblem = e.message
                    }
                } else {
                    loopProblem = "only Reflex camera policies (reflex train --camera) run in the loop, not LeRobot camera checkpoints"
                }
            }
        }
        catalog.withLock {
            $0[name] = CatalogEntry(directory: dir, steering: steering, config: pc, cameras: cameras, framePolicy: framePolicy,
                                     loopProblem: loopProblem)
        }
        predictors.withLock { $0[name] = predictor }
        return (pc, inputs)
    }

    /// `POST /v1/policies`.
    public func loadPolicy(name: String, directory: String) async throws -> (PolicyConfig, [PolicyInput]) {
        let dir = try checkedDirectory(directory, what: "policy directory")
        let pc = try await onControl { try self.load(name: name, resolvedDirectory: dir) }
        events.note("policy_loaded", "loaded policy '\(name)' from \(dir)", now: monotonicNanoseconds())
        invalidateStatus()
        return pc
    }

    /// Refuses to run in the loop a camera policy the arm has no frames for (its frames come with each
    /// `/v1/predict` request only), and, mid-episode, a switch to or from a camera policy (its frames are attached
    /// when an episode starts).
    func checkLoopCanRun(_ policy: String, switching: Bool = false) throws {
        let running = controller.status() // outside the catalog's lock: episode start takes the two the other way
        let (entry, active) = catalog.withLock { c in (c[policy], running.running ? running.activePolicy.flatMap { c[$0] } : nil) }
        guard let entry, !entry.cameras.isEmpty || (switching && active?.framePolicy != nil) else { return }
        if entry.framePolicy == nil, let problem = entry.loopProblem {
            throw APIError(.unprocessableContent, "camera_policy",
                           "policy '\(policy)' cannot run in the loop on this arm: \(problem); it is served by POST /v1/predict with its images")
        }
        if entry.framePolicy == nil, !entry.cameras.isEmpty {
            throw APIError(.unprocessableContent, "camera_policy",
                           "policy '\(policy)' sees cameras \(entry.cameras.joined(separator: ", ")); the daemon's arm has no frames for it (give the arm sim: <task>, or a camera channel with its frame ring: camera: PATH on port:, then restart): it is served by POST /v1/predict with its images")
        }
        if switching {
            throw APIError(.unprocessableContent, "camera_policy",
                           "switching to or from a camera policy mid-episode is not supported (its frames are set up when an episode starts): stop the episode and start one with '\(policy)'")
        }
    }

    /// Before an episode, under the controller's lock: the policy's frames attached (a sim scene's cameras, the
    /// camera channel's ring, opened afresh), its frame counts forgotten; none for a policy without cameras.
    func attachFrames(for policy: String) throws {
        guard let deployment else { return }
        if let camera = catalog.withLock({ $0[policy]?.framePolicy }) {
            try deployment.attachFrames(to: camera)
            camera.resetReport()
        } else {
            deployment.detachFrames()
        }
    }

    public func start(policy: String) async throws -> RealTimeReport {
        try checkLoopCanRun(policy)
        let report = try await onControl { () -> RealTimeReport in
            let s = self.controller.status()
            guard s.policies.contains(policy) else {
                throw ReflexError(.invalidArgument, "no policy '\(policy)' is loaded (loaded: \(s.policies.joined(separator: ", ")))")
            }
            if s.running { throw ReflexError(.invalidTransition, "an episode is running with '\(s.activePolicy ?? "?")'; stop it or switch") }
            if s.emergencyStop { throw ReflexError(.invalidTransition, "the emergency stop is engaged; clear it first") }
            try self.deployment?.resetRemoteSceneToNextEpisode()
            return try self.controller.start(policy: policy, prepare: self.deployment.map { d in {
                try d.prepareEpisode()
                try self.attachFrames(for: policy)
            } })
        }
        events.note("episode_start", "episode started with '\(policy)' (\(report))", now: monotonicNanoseconds())
        invalidateStatus()
        return report
    }

    public func stop() async throws {
        try await onControl {
            try self.controller.stop()
            self.events.drain(self.controller.currentLoop, now: monotonicNanoseconds())
        }
        events.note("episode_stop", "episode stopped; the arm holds its last command", now: monotonicNanoseconds())
        invalidateStatus()
    }

    public func switchPolicy(to name: String) async throws {
        try checkLoopCanRun(name, switching: true)
        try await onControl { try self.controller.switchPolicy(to: name) }
        events.note("policy_switch", "switching to '\(name)'; the loop holds until its first chunk", now: monotonicNanoseconds())
        invalidateStatus()
    }

    /// `POST /v1/steering`: merges `change` into the policy's steering, builds a new instance (on the control
    /// queue, not the loop) and puts it in place; a running episode switches to it (holding for the switch).
    /// Returns the new options and whether the running loop switched.
    public func steer(policy name: String, change: SteeringChange) async throws -> (SteeringOptions, Bool) {
        guard let entry = catalog.withLock({ $0[name] }) else {
            throw APIError(.notFound, "unknown_policy", "no policy '\(name)' is loaded")
        }
        var options = entry.steering
        if let s = change.sampler { options.sampler = (s == "default" || s.isEmpty) ? nil : s }
        if let v = change.value { options.value = v.isEmpty ? nil : try checkedDirectory(v, what: "value directory") }
        if let k = change.k { options.k = k }
        if let s = change.selection {
            options.selection = s
            if s == .argmax { options.beta = nil } // the argmax has no temperature
        }
        if let b = change.beta { options.beta = b }
        if let a = change.dsrlActor { options.dsrlActor = a.isEmpty ? nil : try checkedDirectory(a, what: "DSRL run directory") }
        if change.value == "", change.k == nil, change.beta == nil, change.selection == nil { // clearing the value function clears V-GPS
            options.k = nil
            options.selection = nil
            options.beta = nil
        }
        // Checked as a whole before anything is built: K without a value function, K above max_candidates and the
        // like are refused with the reason, never dropped. 422, not 400: the request is as the document describes,
        // but not a steering this policy and configuration can take (which the document cannot state).
        let pipeline: SteeringPipeline
        do {
            pipeline = try PolicyFactory.pipeline(directory: entry.directory, options: options, maxCandidates: config.maxCandidates)
        } catch let e as ReflexError where e.code == .invalidValue || e.code == .invalidArgument {
            throw APIError(.unprocessableContent, "invalid_steering", e.description)
        }
        let final = options
        let switched = try await onControl { () -> Bool in
            // A camera policy's loop instance is not steered (its /v1/predict instance is): no switch to report.
            let running = self.controller.status().running && self.controller.status().activePolicy == name && entry.cameras.isEmpty
            var predictor: Predictor?
            if entry.cameras.isEmpty {
                try self.controller.replacePolicy(name: name, try pipeline.makePolicy())
            } else {
                predictor = Predictor(policy: try pipeline.makePolicy(acceptingFrames: true))
            }
            self.catalog.withLock { $0[name]?.steering = final }
            self.predictors.withLock { $0[name] = predictor }
            return running
        }
        events.note("steering", "policy '\(name)' steering: \(Self.describe(final))\(switched ? " (the running loop switched to it)" : "")", now: monotonicNanoseconds())
        invalidateStatus()
        return (final, switched)
    }

    static func describe(_ o: SteeringOptions) -> String {
        var parts = ["sampler \(o.sampler ?? "policy.yaml's")"]
        if let v = o.value {
            let pick = o.overrides.softmaxTemperature.map { "softmax β=\($0)" } ?? "argmax"
            parts.append("V-GPS K=\(o.overrides.candidates) \(pick) value \(v)")
        }
        return parts.joined(separator: ", ")
    }

    /// When the event loop's fast path last engaged the emergency stop (`monotonicNanoseconds()`, 0: never).
    private let fastStopTime = Atomic<UInt64>(0)

    /// The event loop's part of the emergency stop: the latched flag and its time, nothing else (no lock waited for).
    func engageEmergencyStopNow() {
        controller.safety.emergencyStop()
        fastStopTime.store(monotonicNanoseconds(), ordering: .relaxed)
    }

    /// `monotonicNanoseconds()` when the stop was first engaged for the request being answered.
    var emergencyStopEngagedAt: UInt64 { fastStopTime.load(ordering: .relaxed) }

    /// The emergency stop: an atomic store the loop sees at its next tick; never waits for anything. With no loop
    /// running and `stop_action: torque_off`, torque goes off now, or as soon as the control queue is free.
    public func emergencyStop() {
        controller.emergencyStop()
        let torqueOff = controller.safety.config.stopAction == .torqueOff
        if torqueOff {
            control.async {
                if self.controller.currentLoop?.isRunning != true, self.controller.robot.lifecycle == .active {
                    self.controller.emergencyStop()
                }
            }
        }
        events.note("emergency_stop", "emergency stop engaged (\(controller.safety.config.stopAction.rawValue))", now: monotonicNanoseconds())
        invalidateStatus()
    }

    public func clearEmergencyStop() async throws {
        try await onControl { try self.controller.clearEmergencyStop() }
        events.note("emergency_stop_cleared", "emergency stop cleared", now: monotonicNanoseconds())
        invalidateStatus()
    }

    /// Safe stop for SIGTERM/SIGINT: stop the loop (the arm holds), wait `hold_seconds`, then torque off (as
    /// configured), all on the control queue after whatever is in flight.
    public func safeStop() async {
        let exit = config.onExit
        _ = try? await onControl {
            if let loop = self.controller.currentLoop, loop.isRunning {
                loop.stop()
                self.events.drain(loop, now: monotonicNanoseconds())
                if exit.holdSeconds > 0 { usleep(UInt32(exit.holdSeconds * 1e6)) }
            }
            if exit.torqueOff {
                self.controller.shutdown()
            }
        }
        events.note("shutdown", exit.torqueOff ? "stopped; torque off" : "stopped; torque left on (on_exit.torque_off: false)", now: monotonicNanoseconds())
    }

    // MARK: Reading

    /// Drains loop events into the feed (the pump calls this a few times a second), and notes each servo problem
    /// or spent retry budget when it appears (`servo_health`, in words naming the joint and servo, or the bus).
    public func pumpEvents() {
        let now = monotonicNanoseconds()
        events.drain(controller.currentLoop, now: now)
        guard let deployment, let health = deployment.servoHealth() else { return }
        if controller.currentLoop?.isRunning != true, idleHealthRead.withLock({ last in
            guard now &- last >= Self.idleHealthPeriod else { return false }
            last = now
            return true
        }) {
            // Between episodes nothing reads the servos: read them on the control queue, where a start would wait.
            control.async {
                if self.controller.currentLoop?.isRunning != true { deployment.refreshServoHealthWhileIdle() }
            }
        }
        var current: [String: String] = [:]
        for s in health.servos {
            for (problem, message) in zip(s.problems, s.messages) { current["\(s.id) \(problem)"] = message }
        }
        if let m = health.retryBudgetMessage { current["bus retry_budget"] = m }
        let appeared = healthProblems.withLock { seen -> [String] in
            defer { seen = Set(current.keys) }
            return current.keys.filter { !seen.contains($0) }.sorted()
        }
        for key in appeared { events.note("servo_health", current[key] ?? key, now: now) }
        if !appeared.isEmpty { invalidateStatus() }
    }

    /// The servo problems already noted in the feed (servo id and problem, or the bus's retry budget).
    private let healthProblems = Mutex<Set<String>>([])
    /// When the servos' health was last read with no loop running (`monotonicNanoseconds()`).
    private let idleHealthRead = Mutex<UInt64>(0)
    /// How often an idle daemon reads its servos' health.
    static let idleHealthPeriod: UInt64 = 2_000_000_000

    func invalidateStatus() {
        statusCache.withLock { $0 = (0, nil) }
        statusBytes.withLock { $0 = (0, nil) }
    }

    /// The status as JSON bytes, encoded once per cache period (a status poll under load costs a copy).
    public func statusJSON() throws -> [UInt8] {
        let now = monotonicNanoseconds()
        if let bytes = statusBytes.withLock({ c in now &- c.time < Self.statusMaxAge ? c.bytes : nil }) { return bytes }
        let bytes = Array(try DaemonJSON.encoder.encode(status()))
        statusBytes.withLock { $0 = (now, bytes) }
        return bytes
    }

    public func status() -> DaemonStatus {
        let now = monotonicNanoseconds()
        if let s = statusCache.withLock({ c in now &- c.time < Self.statusMaxAge ? c.status : nil }) { return s }
        let c = controller.status()
        let s = DaemonStatus(controller: c, sample: controller.jointSample(),
                             steering: catalog.withLock { $0.mapValues(\.steering) }, events: events.entries(limit: 20),
                             uptime: Double(now - started) * 1e-9, task: deployment?.taskStatus(),
                             servos: deployment?.servoHealth(), frames: frameReport(active: c.activePolicy))
        statusCache.withLock { $0 = (now, s) }
        return s
    }

    /// The frame report of the active (or last active) policy, when it is a camera policy in the loop.
    func frameReport(active: String?) -> CameraFrameReport? {
        guard let active else { return nil }
        return catalog.withLock { $0[active]?.framePolicy }?.report()
    }

    /// Prometheus text: the controller's families, then the daemon's own.
    public func metrics() -> String {
        var out = controller.metrics()
        if let health = deployment?.servoHealth() { out += ServoHealthMetrics.text(health) }
        if let f = frameReport(active: controller.activePolicyName) {
            out += "# HELP reflex_camera_frames_total Camera frames a camera policy's chunks wanted in this episode, by outcome (all but used hold the chunk)\n# TYPE reflex_camera_frames_total counter\n"
            for (outcome, n) in [("used", f.framesUsed), ("stale", f.stale), ("torn", f.torn), ("missing", f.missing)] {
                out += "reflex_camera_frames_total{outcome=\"\(outcome)\"} \(n)\n"
            }
            if let median = f.ageMedianMilliseconds, let max = f.ageMaxMilliseconds {
                out += "# HELP reflex_camera_frame_age_seconds Age of the frames used (capture to hand-over) in this episode\n# TYPE reflex_camera_frame_age_seconds gauge\n"
                out += "reflex_camera_frame_age_seconds{stat=\"median\"} \(median * 1e-3)\nreflex_camera_frame_age_seconds{stat=\"max\"} \(max * 1e-3)\n"
            }
        }
        let c = counters.withLock { $0 }
        out += "# HELP reflex_predict_requests_total Remote inference requests answered\n# TYPE reflex_predict_requests_total counter\n"
        out += "reflex_predict_requests_total \(c.predictions)\n"
        out += "# HELP reflex_predict_failures_total Remote inference requests refused or failed\n# TYPE reflex_predict_failures_total counter\n"
        out += "reflex_predict_failures_total \(c.predictionFailures)\n"
        out += "# HELP reflex_predict_seconds_total Time spent in remote inference\n# TYPE reflex_predict_seconds_total counter\n"
        out += "reflex_predict_seconds_total \(Double(c.predictNanoseconds) * 1e-9)\n"
        out += "# HELP reflex_http_refused_total Requests refused, by status\n# TYPE reflex_http_refused_total counter\n"
        for (code, n) in c.refused.sorted(by: { $0.key < $1.key }) { out += "reflex_http_refused_total{code=\"\(code)\"} \(n)\n" }
        out += "# HELP reflex_events_total Loop and API events since start, by kind\n# TYPE reflex_events_total counter\n"
        for (kind, n) in events.counts.sorted(by: { $0.key < $1.key }) { out += "reflex_events_total{kind=\"\(kind)\"} \(n)\n" }
        out += "# HELP reflex_uptime_seconds Seconds since the daemon started\n# TYPE reflex_uptime_seconds gauge\n"
        out += "reflex_uptime_seconds \(Double(monotonicNanoseconds() - started) * 1e-9)\n"
        return out
    }

    func countRefusal(_ status: Int) { counters.withLock { $0.refused[status, default: 0] += 1 } }

    // MARK: Remote inference

    /// One chunk for a thin client: `observation` is n_obs_steps × observation_size raw values, oldest first.
    public func predict(_ request: PredictRequest) async throws -> PredictResponse {
        guard let entry = catalog.withLock({ $0[request.policy] }) else {
            throw APIError(.notFound, "unknown_policy", "no policy '\(request.policy)' is loaded")
        }
        let c = entry.config
        let expected = c.nObsSteps * c.observationSize
        guard !request.features.isEmpty || request.observation.count == expected else {
            throw APIError(.unprocessableContent, "shape_mismatch", "observation has \(request.observation.count) values; policy '\(request.policy)' takes n_obs_steps × observation_size = \(c.nObsSteps) × \(c.observationSize) = \(expected)")
        }
        guard request.observation.allSatisfy(\.isFinite) else {
            throw APIError.badRequest("observation holds NaN or infinite values")
        }
        guard request.stepsExecuted >= 0, request.stepsExecuted <= c.horizon else {
            throw APIError.badRequest("steps_executed must be in 0...\(c.horizon), got \(request.stepsExecuted)")
        }
        if let s = request.stepsSinceObservation, s < 0 || s > c.horizon {
            throw APIError.badRequest("steps_since_observation must be in 0...\(c.horizon), got \(s)")
        }
        guard request.committed >= 0, request.committed <= c.horizon else {
            throw APIError.badRequest("committed must be in 0...\(c.horizon), got \(request.committed)")
        }
        let name = request.policy
        do {
            let response = try await onInference { () -> PredictResponse in
                let predictor = try self.predictors.withLock { p -> Predictor in
                    if let existing = p[name] { return existing }
                    let made = try Predictor(policy: PolicyFactory.pipeline(directory: entry.directory, options: entry.steering,
                                                                             maxCandidates: self.config.maxCandidates)
                                                .makePolicy(acceptingFrames: true))
                    p[name] = made
                    return made
                }
                return try predictor.predict(request)
            }
            counters.withLock {
                $0.predictions += 1
                $0.predictNanoseconds += UInt64(response.inferenceMicroseconds * 1000)
            }
            return response
        } catch {
            counters.withLock { $0.predictionFailures += 1 }
            throw error
        }
    }
}

/// `POST /v1/steering`'s body: the fields to change.
public struct SteeringChange: Sendable, Codable, Equatable {
    public var policy: String
    public var sampler: String?
    public var value: String?
    public var k: Int?
    public var selection: SteeringDefaults.Selection?
    public var beta: Float?
    public var dsrlActor: String?

    enum CodingKeys: String, CodingKey {
        case policy, sampler, value, k, selection, beta
        case dsrlActor = "dsrl_actor"
    }
}

extension SteeringChange {
    /// As synthesized, except `k` and `beta`: Foundation's JSONDecoder calls a number beyond Int's or Float's range
    /// "not valid JSON" without naming the key, so both are read as a Double and refused by name.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        policy = try c.decode(String.self, forKey: .policy)
        sampler = try c.decodeIfPresent(String.self, forKey: .sampler)
        value = try c.decodeIfPresent(String.self, forKey: .value)
        k = nil
        if let n = try c.decodeIfPresent(Double.self, forKey: .k) {
            guard n == n.rounded(), abs(n) <= Double(Int32.max) else {
                throw DecodingError.dataCorruptedError(forKey: .k, in: c, debugDescription: "\(n) is not an integer of at most \(Int32.max)")
            }
            k = Int(n)
        }
        selection = try c.decodeIfPresent(SteeringDefaults.Selection.self, forKey: .selection)
        dsrlActor = try c.decodeIfPresent(String.self, forKey: .dsrlActor)
        beta = nil
        if let b = try c.decodeIfPresent(Double.self, forKey: .beta) {
            guard b.isFinite, abs(b) <= Double(Float.greatestFiniteMagnitude) else {
                throw DecodingError.dataCorruptedError(forKey: .beta, in: c, debugDescription: "\(b) is outside single precision (±3.4e38)")
            }
            beta = Float(b)
        }
    }
}
