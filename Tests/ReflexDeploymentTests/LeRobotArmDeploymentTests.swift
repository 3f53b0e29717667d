import Foundation
import ReflexCore
import ReflexDeployment
import ReflexHardware
import ReflexPolicy
import ReflexRobot
import ReflexRuntime
import Testing

/// A deployment config naming a LeRobot calibration file and LeRobot's units runs a bus arm in those units.
@Suite struct LeRobotArmDeploymentTests {
    /// An SO-101 calibration as LeRobot writes it, offsets non-zero.
    let calibration = LeRobotCalibration(motors: [
        ("shoulder_pan", 1, 0, -1470, 758, 3292), ("shoulder_lift", 2, 0, 153, 817, 3224),
        ("elbow_flex", 3, 0, 1392, 874, 3087), ("wrist_flex", 4, 0, -1957, 862, 3178),
        ("wrist_roll", 5, 0, -1225, 0, 4095), ("gripper", 6, 0, 1410, 2031, 3509),
    ].map { LeRobotCalibration.Entry(motor: $0.0, calibration: .init(id: $0.1, driveMode: $0.2, homingOffset: $0.3, rangeMin: $0.4, rangeMax: $0.5)) })

    func error(_ config: ArmConfig) -> ReflexError? {
        do { try config.validate(); return nil } catch { return error as? ReflexError }
    }

    @Test func configKeysAreDecodedAndCheckedTogether() throws {
        let yaml = "robot: so101\nport: /dev/ttyACM0\nlerobot_calibration: cal.json\nmotor_units: lerobot_range\n"
        let c = try YAMLDecoder().decode(ArmConfig.self, from: yaml)
        #expect(c.lerobotCalibration == "cal.json" && c.motorUnits == .lerobotRange)
        try c.validate()
        let cases: [(ArmConfig, String)] = [
            (ArmConfig(robot: "so101", port: "/dev/x", motorUnits: .lerobotDegrees), "arm.motor_units"),
            (ArmConfig(robot: "so101", port: "/dev/x", lerobotCalibration: "c.json"), "arm.motor_units"),
            (ArmConfig(robot: "so101", fake: true, lerobotCalibration: "c.json", motorUnits: .lerobotDegrees), "arm.lerobot_calibration"),
            (ArmConfig(robot: "so101", port: "/dev/x", calibration: "c.yaml", lerobotCalibration: "c.json", motorUnits: .lerobotDegrees), "arm.lerobot_calibration"),
            (ArmConfig(robot: "so101", port: "/dev/x", camera: "/tmp/c", lerobotCalibration: "c.json", motorUnits: .lerobotDegrees), "arm.camera"),
        ]
        for (config, key) in cases {
            let e = try #require(error(config), "\(key) should be refused")
            #expect(e.location.keyPath == key, "\(e)")
        }
        try ArmConfig(robot: "so101", port: "/dev/x", motorUnits: .radians).validate()
    }

    @Test func aBusArmReadsInLeRobotsUnitsAndObservesPositionsOnly() throws {
        let path = NSTemporaryDirectory() + "so101-lerobot-\(getpid()).json"
        defer { unlink(path) }
        try calibration.save(path: path)
        let d = try RobotDescription.named("so101")
        let hw = try ArmBusConfiguration(description: d)
        // Servos that hold the calibration, each at the middle of its calibrated range.
        let emu = try ServoBusEmulator(servos: hw.servos.map { EmulatedServo(table: $0.controlTable, id: $0.id) })
        for s in emu.servos {
            let c = try #require(calibration.motors.first { $0.calibration.id == Int(s.id) }?.calibration)
            s.store(STS3215.Register.homingOffset, Int32(c.homingOffset))
            s.store(s.table.minPositionLimit, Int32(c.rangeMin))
            s.store(s.table.maxPositionLimit, Int32(c.rangeMax))
            s.place(at: Double(c.rangeMin + c.rangeMax) / 2)
        }
        let link = try EmulatorLink(emulator: emu)
        defer { link.stop() }
        // A generous reply timeout: this test reads units, not bus timing (an emulator starved on a loaded machine).
        let deployment = try Deployment(config: ArmConfig(robot: "so101", port: link.path, lerobotCalibration: path,
                                                          motorUnits: .lerobotDegrees, busReplyTimeoutMs: 100))
        let robot = deployment.robot
        try robot.configure()
        defer { robot.finalize() }
        let state = JointState(count: robot.jointCount)
        #expect(robot.read(into: state) == .ok)
        // DEGREES: 0 at the range's middle, within the half tick a .5 middle rounds to (0.044°); gripper 0–100.
        for k in 0 ..< 5 { #expect(abs(state.position[k]) <= 360.0 / 4095, "joint \(k): \(state.position[k])") }
        #expect(abs(state.position[5] - 50) <= 100.0 / (3509 - 2031), "gripper \(state.position[5])")
        #expect(robot.limits[0].lower < -100 && robot.limits[0].upper > 100, "shoulder_pan sweeps ±111° in degrees")
        // A LeRobot checkpoint observes the 6 positions only.
        let config = PolicyConfig(kind: .diffusion, observationSize: 6, actionSize: 6, nObsSteps: 1, horizon: 4, nActionSteps: 2,
                                  normalization: .init(observation: .identity(size: 6), action: .identity(size: 6)),
                                  network: .init(hiddenSizes: [16]), scheduler: NoiseScheduler.Config(), sampler: .ddim(steps: 2, eta: 0))
        let observation = try deployment.observation(for: config)
        #expect(observation.size == 6 && !observation.includeVelocities)
    }

    /// `reflex run --policy` with a LeRobot checkpoint (config.json, no policy.yaml) loads it for the loop: the loop's
    /// loader, made for camera policies, once refused it as "not a Reflex policy".
    @Test func aLeRobotCheckpointLoadsForTheLoop() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ReflexPolicyTests/Fixtures/lerobot_sixjoint").path
        let policy = try PolicyLoader.loadForLoop(directory: dir)
        #expect(policy.config.actionSize == 6 && !(policy is CameraFramePolicy))
    }
}
