import ReflexCore
import ReflexPolicy
import ReflexRobot

/// What a controller reports about itself (the daemon's `/status`).
public struct ControllerStatus: Sendable, Codable, Equatable {
    public var robot: String
    public var joints: [String]
    public var lifecycle: LifecycleState
    /// An episode (the loop) is running.
    public var running: Bool
    public var policies: [String]
    public var activePolicy: String?
    public var policyGeneration: Int
    public var emergencyStop: Bool
    public var realTime: RealTimeReport?
    /// The running (or last) loop's figures.
    public var loop: LoopSnapshot?
}

/// The core of the robot controller daemon: one arm, its safety layer, the loaded policies, and at most one running
/// loop. Every operation of the API maps to one method here; the HTTP layer only parses and forwards.
///
/// Start-up leaves the arm configured but **inactive** (no torque, no motion until told). `start` activates it and
/// runs the loop with a policy; `switchPolicy` changes policy while the loop runs (the loop holds position for the
/// switch, never blocks a tick); `stop` ends the episode with the arm holding; `emergencyStop` never waits for a lock,
/// so it is answered even when other requests keep the controller busy; `shutdown` stops and switches torque off.
public final class RobotController: @unchecked Sendable {
    /// Makes the observation builder for a policy (the task features depend on the deployment: the simulator, a
    /// camera's estimator, or none).
    public typealias ObservationFactory = @Sendable (PolicyConfig) throws -> ObservationBuilder

    struct State {
        var policies: [String: Policy] = [:]
        var order: [String] = []
        var active: String?
        var loop: ControlLoop?
        var realTime: RealTimeReport?
    }

    public let robot: Robot
    public let safety: SafetyLayer
    public let loopConfig: ControlLoopConfig
    private let clock: LoopClock
    private let makeObservation: ObservationFactory
    private let state = PIMutex<StateBox>(StateBox())
    /// Kept outside the lock so `emergencyStop` and `status` never wait behind a slow operation.
    private let loopRef = PIMutex<LoopBox>(LoopBox())

    struct StateBox: @unchecked Sendable { var s = State() }
    struct LoopBox: @unchecked Sendable { var loop: ControlLoop? }

    public init(robot: Robot, safety: SafetyConfig, loop: ControlLoopConfig, clock: LoopClock = MonotonicClock(),
                observation: @escaping ObservationFactory) throws {
        self.robot = robot
        self.safety = try SafetyLayer(limits: robot.limits, config: safety, period: 1 / loop.rate)
        loopConfig = loop
        self.clock = clock
        makeObservation = observation
    }

    /// Brings the arm to `inactive`: link open, state readable, torque off.
    /// - Warning: Not real-time safe.
    public func bringUp() throws {
        try state.withLock { _ in
            if robot.lifecycle == .unconfigured { try robot.configure() }
        }
    }

    /// Adds a loaded policy under `name` (replacing a policy of that name that is not running). A policy directory
    /// with its steering loads through `SteeringPipeline` (ReflexDeployment's `loadPolicy(name:directory:)`).
    public func addPolicy(name: String, _ policy: Policy) throws {
        guard !name.isEmpty, name.count <= 64, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw ReflexError(.invalidArgument, "policy names are 1–64 letters, digits, '-', '_' or '.', got '\(name)'")
        }
        guard policy.config.actionSize == robot.jointCount else {
            throw ReflexError(.shapeMismatch, "policy '\(name)' acts on \(policy.config.actionSize) values, \(robot.name) has \(robot.jointCount) joints")
        }
        // Fail now, not at start, when the observation cannot be built for this policy.
        let observation = try makeObservation(policy.config)
        guard observation.size == policy.config.observationSize else {
            throw ReflexError(.shapeMismatch, "policy '\(name)' observes \(policy.config.observationSize) values; this deployment provides \(observation.size)")
        }
        let box = PolicyBox(policy: policy)
        try state.withLock { st in
            if st.s.active == name, st.s.loop?.isRunning == true {
                throw ReflexError(.invalidTransition, "policy '\(name)' is running; load under another name and switch")
            }
            if st.s.policies[name] == nil { st.s.order.append(name) }
            st.s.policies[name] = box.policy
        }
    }

    struct PolicyBox: @unchecked Sendable { let policy: Policy }

    /// Puts `policy` under `name`: like `addPolicy`, except that when `name` is the policy the running episode
    /// follows, the loop switches to the new instance (it holds position for the switch, never blocks a tick). This
    /// is how settings that live in a policy instance (sampler, steering) change while the arm runs.
    /// - Warning: Not real-time safe.
    public func replacePolicy(name: String, _ policy: Policy) throws {
        let running = state.withLock { st in st.s.active == name && st.s.loop?.isRunning == true }
        guard running else { return try addPolicy(name: name, policy) }
        let observation = try makeObservation(policy.config)
        guard observation.size == policy.config.observationSize else {
            throw ReflexError(.shapeMismatch, "policy '\(name)' observes \(policy.config.observationSize) values; this deployment provides \(observation.size)")
        }
        let box = PolicyBox(policy: policy)
        try state.withLock { st in
            guard let loop = st.s.loop, loop.isRunning, st.s.active == name else {
                throw ReflexError(.invalidTransition, "the episode with '\(name)' ended while its settings were changing; try again")
            }
            try loop.switchPolicy(to: box.policy)
            st.s.policies[name] = box.policy
        }
    }

    /// Starts an episode with `name`: activates the arm (torque on, holding) if needed and runs the loop, which
    /// approaches the policy's first pose slowly.
    /// - Warning: Not real-time safe.
    /// - Parameter prepare: runs under the controller's lock just before the arm is activated (if needed) and the
    ///   loop starts, after the checks: a deployment's per-episode set-up (re-arming a bus watchdog, resetting a
    ///   simulated scene), with nothing else touching the robot.
    @discardableResult
    public func start(policy name: String, prepare: (() throws -> Void)? = nil) throws -> RealTimeReport {
        try state.withLock { st in
            guard let policy = st.s.policies[name] else {
                throw ReflexError(.invalidArgument, "no policy '\(name)' is loaded (loaded: \(st.s.order.joined(separator: ", ")))")
            }
            if let loop = st.s.loop, loop.isRunning {
                throw ReflexError(.invalidTransition, "an episode is running with '\(st.s.active ?? "?")'; stop it or switch")
            }
            guard !safety.emergencyStopEngaged else {
                throw ReflexError(.invalidTransition, "the emergency stop is engaged; clear it first")
            }
            if robot.lifecycle == .unconfigured { try robot.configure() }
            try prepare?()
            if robot.lifecycle == .inactive { try robot.activate() }
            if safety.mode == .stopped { safety.clearStop() }
            let loop = try ControlLoop(robot: robot, safety: safety, policy: policy,
                                       observation: try makeObservation(policy.config), config: loopConfig, clock: clock)
            let report = try loop.start()
            st.s.loop = loop
            st.s.active = name
            st.s.realTime = report
            let box = LoopBox(loop: loop)
            loopRef.withLock { $0 = box }
            return report
        }
    }

    /// Switches the running episode to `name` (same shapes); the loop holds position until its first chunk.
    public func switchPolicy(to name: String) throws {
        try state.withLock { st in
            guard let policy = st.s.policies[name] else {
                throw ReflexError(.invalidArgument, "no policy '\(name)' is loaded (loaded: \(st.s.order.joined(separator: ", ")))")
            }
            guard let loop = st.s.loop, loop.isRunning else {
                throw ReflexError(.invalidTransition, "no episode is running; start one with '\(name)'")
            }
            try loop.switchPolicy(to: policy)
            st.s.active = name
        }
    }

    /// Ends the episode; the arm stays active, holding its last command.
    public func stop() throws {
        try state.withLock { st in
            guard let loop = st.s.loop, loop.isRunning else {
                throw ReflexError(.invalidTransition, "no episode is running")
            }
            loop.stop()
        }
    }

    /// Engages the emergency stop without taking any lock: the running loop holds or switches torque off at its
    /// next tick, as `stop_action` says. With no loop running, a `torque_off` stop switches torque off as soon as
    /// the controller is free.
    /// - Note: Real-time safe on the path that matters (an atomic store).
    public func emergencyStop() {
        safety.emergencyStop()
        let running = loopRef.withLockIfAvailable { $0.loop?.isRunning ?? false } ?? true
        if !running && safety.config.stopAction == .torqueOff {
            _ = state.withLockIfAvailable { _ in
                if robot.lifecycle == .active { try? robot.deactivate() }
            }
        }
    }

    /// Releases the emergency stop (the arm stays as it is; `start` runs again).
    public func clearEmergencyStop() throws {
        try state.withLock { st in
            if let loop = st.s.loop, loop.isRunning {
                throw ReflexError(.invalidTransition, "stop the episode before clearing the emergency stop")
            }
            safety.clearStop()
        }
    }

    /// Stops the loop and switches torque off; the controller is done.
    public func shutdown() {
        state.withLock { st in
            st.s.loop?.stop()
            robot.finalize()
        }
    }

    /// The policy the loop runs or last ran (without the loop's timing summary `status()` computes).
    public var activePolicyName: String? { state.withLock { $0.s.active } }

    public func status() -> ControllerStatus {
        let loop = loopRef.withLock { $0.loop }
        return state.withLock { st in
            ControllerStatus(robot: robot.name, joints: robot.jointNames, lifecycle: robot.lifecycle,
                             running: loop?.isRunning ?? false, policies: st.s.order, activePolicy: st.s.active,
                             policyGeneration: loop?.policyGeneration ?? 0, emergencyStop: safety.emergencyStopEngaged,
                             realTime: st.s.realTime, loop: loop?.snapshot())
        }
    }

    /// Prometheus exposition text.
    public func metrics() -> String {
        let loop = loopRef.withLock { $0.loop }
        var head = ""
        Prometheus.family(&head, "reflex_robot_lifecycle", "gauge", "1 for the arm's lifecycle state",
                          [LifecycleState.unconfigured, .inactive, .active, .finalized].map {
                              ("{state=\"\($0.rawValue)\"}", robot.lifecycle == $0 ? 1 : 0)
                          })
        Prometheus.family(&head, "reflex_loop_running", "gauge", "1 while an episode runs", [("", loop?.isRunning == true ? 1 : 0)])
        Prometheus.family(&head, "reflex_emergency_stop", "gauge", "1 while the emergency stop is engaged",
                          [("", safety.emergencyStopEngaged ? 1 : 0)])
        Prometheus.family(&head, "reflex_policy_generation", "gauge", "Policy switches in the current episode",
                          [("", Double(loop?.policyGeneration ?? 0))])
        return Prometheus.text(loop: loop, extra: head)
    }

    /// The arm's newest joint state and command: from the running loop (what it read and sent on its latest tick),
    /// else read from the arm now when it is configured (no command). Never waits behind a slow operation: nil when
    /// the controller is busy and no loop runs.
    /// - Warning: Not real-time safe.
    public func jointSample() -> JointSample? {
        if let loop = loopRef.withLock({ $0.loop }), loop.isRunning, let s = loop.samples.latest() { return s }
        return state.withLockIfAvailable { st -> JointSample? in
            guard robot.lifecycle == .inactive || robot.lifecycle == .active else { return nil }
            if st.s.loop?.isRunning == true { return st.s.loop?.samples.latest() }
            let js = readState
            guard robot.read(into: js).verdict != .stop || js.timestamp != 0 else { return nil }
            return JointSample(tick: nil, time: js.timestamp, position: Array(js.position), velocity: Array(js.velocity),
                               command: nil)
        } ?? nil
    }

    /// Scratch state for `jointSample` reads with no loop running (guarded by the state lock).
    private lazy var readState = JointState(count: robot.jointCount)

    /// The running (or last) loop, for event draining.
    public var currentLoop: ControlLoop? { loopRef.withLock { $0.loop } }
}
