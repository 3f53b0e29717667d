import ReflexCore
import ReflexHardware
import ReflexSim

/// Which arm a deployment drives and where its task features come from: the `arm:` section of the daemon's config,
/// the options of `reflex run`, and what an embedder passes to `Deployment`. Keys are snake_case in YAML.
public struct ArmConfig: Sendable, Codable, Equatable {
    /// Robot description (a path, or a name under robots/).
    public var robot: String
    /// A Bullet-simulated arm running this task's scene (`reach`, `push`, `lift`).
    public var sim: String?
    /// The serial device of a real arm's servo bus (or an emulator's link).
    public var port: String?
    /// A fake arm (first-order joints, no task features): a dry run.
    public var fake: Bool?
    /// Seed of the simulated scene (episode k of a run starts from seed + k on a camera channel).
    public var seed: UInt64?
    /// Calibration file for `port` (from `reflex calibrate`).
    public var calibration: String?
    /// Feed zeros for task features the arm cannot provide (a dry run of a task policy on a real arm).
    public var zeroFeatures: Bool?
    /// `port` arms: the camera channel of the scene (`reflex emulate --sim lift --camera PATH`): the cube's pose
    /// comes from there, the end effector from forward kinematics, and each episode resets the scene over it.
    public var camera: String?
    /// Oldest camera estimate the policy may act on (s); older counts as none and the loop holds. It bounds a
    /// camera policy's frames' age too.
    public var cameraMaxAge: Double?
    /// `camera` arms running a camera policy: the frame ring's file (default `FrameRing.defaultPath(forChannel:)`,
    /// /dev/shm/<channel name>.frames).
    public var frames: String?
    /// `port` arms on a Dynamixel X bus: the servos' Bus Watchdog (ms, 20 ms steps; 0 turns it off; default
    /// 100). If the process dies mid-episode the servos stop by themselves after this much bus silence.
    public var busWatchdogMs: Int?
    /// `port` arms calibrated with LeRobot: its calibration file (`~/.cache/huggingface/lerobot/calibration/robots/
    /// <robot type>/<id>.json`). Configure checks the servos hold its offsets and limits.
    public var lerobotCalibration: String?
    /// The units of the arm's joint positions for the policy: radians (Reflex's, the default) or LeRobot's, for a
    /// LeRobot-trained checkpoint (needs `lerobot_calibration`).
    public var motorUnits: MotorUnits?
    /// `port` arms: retries the bus may need per window before the arm stops commanding motion (default
    /// `BusRetryBudget.standard`, 50 in 5 s), e.g. `bus_retry_budget: {retries: 50, window_seconds: 5}`.
    public var busRetryBudget: BusRetryBudget?
    /// `port` arms: how long the bus waits for a servo's reply before it retries (ms, 1…1000; default 10). The
    /// vendors' SDKs wait about 34 ms (a USB adapter's 16 ms latency timer, twice, plus 2 ms); Reflex's 10 ms suits
    /// adapters set to a 1 ms latency timer (ROBOTIS' advice) or without one (the Feetech boards' CH343).
    public var busReplyTimeoutMs: Double?

    /// Joint-position units a policy was trained in.
    public enum MotorUnits: String, Sendable, Codable, Equatable, CaseIterable {
        case radians
        /// LeRobot with `use_degrees: true` (SO followers' default): body in DEGREES, gripper RANGE_0_100.
        case lerobotDegrees = "lerobot_degrees"
        /// LeRobot with `use_degrees: false` (Koch's default): body in RANGE_M100_100, gripper RANGE_0_100.
        case lerobotRange = "lerobot_range"

        /// LeRobot's `use_degrees` for these units (nil: radians).
        public var lerobotUseDegrees: Bool? {
            switch self {
            case .radians: return nil
            case .lerobotDegrees: return true
            case .lerobotRange: return false
            }
        }
    }

    public init(robot: String = "so101", sim: String? = nil, port: String? = nil, fake: Bool? = nil, seed: UInt64? = nil,
                calibration: String? = nil, zeroFeatures: Bool? = nil, camera: String? = nil, cameraMaxAge: Double? = nil,
                busWatchdogMs: Int? = nil, lerobotCalibration: String? = nil, motorUnits: MotorUnits? = nil,
                busReplyTimeoutMs: Double? = nil) {
        self.robot = robot
        self.sim = sim
        self.port = port
        self.fake = fake
        self.seed = seed
        self.calibration = calibration
        self.zeroFeatures = zeroFeatures
        self.camera = camera
        self.cameraMaxAge = cameraMaxAge
        self.busWatchdogMs = busWatchdogMs
        self.lerobotCalibration = lerobotCalibration
        self.motorUnits = motorUnits
        self.busReplyTimeoutMs = busReplyTimeoutMs
    }

    enum CodingKeys: String, CodingKey {
        case robot, sim, port, fake, seed, calibration
        case zeroFeatures = "zero_features", busWatchdogMs = "bus_watchdog_ms", camera
        case cameraMaxAge = "camera_max_age", frames
        case lerobotCalibration = "lerobot_calibration", motorUnits = "motor_units"
        case busRetryBudget = "bus_retry_budget", busReplyTimeoutMs = "bus_reply_timeout_ms"
    }

    /// The three kinds of arm.
    public enum Kind: Sendable, Equatable {
        case sim(task: TaskKind)
        case port(device: String)
        case fake
    }

    /// Default oldest camera estimate (s).
    public static let defaultCameraMaxAge = 0.25
    /// Default time the bus waits for a reply (ms).
    public static let defaultBusReplyTimeoutMs = 10.0
    /// Default Dynamixel Bus Watchdog (ms).
    public static let defaultBusWatchdogMs = 100

    /// The chosen kind, checked to be exactly one.
    public func kind() throws -> Kind {
        var kinds: [Kind] = []
        if let sim {
            guard let task = TaskKind(rawValue: sim) else {
                throw ReflexError(.invalidValue, "unknown task '\(sim)' (\(TaskKind.allCases.map(\.rawValue).joined(separator: ", ")))",
                                  at: .init(keyPath: "arm.sim"))
            }
            kinds.append(.sim(task: task))
        }
        if let port { kinds.append(.port(device: port)) }
        if fake == true { kinds.append(.fake) }
        guard kinds.count == 1 else {
            throw ReflexError(.invalidValue, "arm: give exactly one of sim: TASK, port: DEVICE or fake: true",
                              at: .init(keyPath: "arm"))
        }
        return kinds[0]
    }

    /// Checks every field and the combinations; errors name the key.
    public func validate() throws {
        func bad(_ key: String, _ message: String) -> ReflexError {
            ReflexError(.invalidValue, message, at: .init(keyPath: "arm." + key))
        }
        let kind = try kind()
        let onPort: Bool
        if case .port = kind { onPort = true } else { onPort = false }
        if camera != nil, !onPort { throw bad("camera", "the camera channel goes with port: (a sim arm has its scene in the process)") }
        if calibration != nil, !onPort { throw bad("calibration", "a calibration file goes with port: (the servos' offsets)") }
        if busRetryBudget != nil, !onPort { throw bad("bus_retry_budget", "a retry budget goes with port: (a servo bus)") }
        if let p = busRetryBudget?.problem { throw bad("bus_retry_budget", p) }
        if let t = busReplyTimeoutMs {
            guard onPort else { throw bad("bus_reply_timeout_ms", "a reply timeout goes with port: (a servo bus)") }
            guard t.isFinite, t >= 1, t <= 1000 else { throw bad("bus_reply_timeout_ms", "must be in 1…1000 ms, got \(t)") }
        }
        if busWatchdogMs != nil, !onPort { throw bad("bus_watchdog_ms", "the Bus Watchdog goes with port: (Dynamixel servos)") }
        if lerobotCalibration != nil, !onPort { throw bad("lerobot_calibration", "a LeRobot calibration file goes with port: (the servos' offsets)") }
        if lerobotCalibration != nil, calibration != nil {
            throw bad("lerobot_calibration", "give one calibration: calibration (reflex calibrate's) or lerobot_calibration (LeRobot's)")
        }
        let lerobotUnits = (motorUnits ?? .radians) != .radians
        if lerobotUnits, lerobotCalibration == nil {
            throw bad("motor_units", "LeRobot's units are defined by a LeRobot calibration: give lerobot_calibration")
        }
        if lerobotCalibration != nil, !lerobotUnits {
            throw bad("motor_units", "a LeRobot calibration gives LeRobot's units: motor_units lerobot_degrees or lerobot_range")
        }
        if lerobotUnits, camera != nil {
            throw bad("camera", "camera features need joint angles in radians (forward kinematics); not with LeRobot's units")
        }
        if frames != nil, camera == nil { throw bad("frames", "a frame ring goes with a camera channel (camera:)") }
        if cameraMaxAge != nil, camera == nil { throw bad("camera_max_age", "applies to a camera channel (camera:)") }
        if let a = cameraMaxAge, !(a > 0 && a <= 10) { throw bad("camera_max_age", "must be in (0, 10] s, got \(a)") }
        if let w = busWatchdogMs, !(0 ... 2540).contains(w) {
            throw bad("bus_watchdog_ms", "must be in 0...2540 (0: off), got \(w)")
        }
        if seed != nil, !(kind != .fake) { throw bad("seed", "seeds a simulated scene (sim:, or port: with camera:)") }
        if seed != nil, onPort, camera == nil { throw bad("seed", "on port: a seed goes with a camera channel (it seeds the scene's resets)") }
    }
}
