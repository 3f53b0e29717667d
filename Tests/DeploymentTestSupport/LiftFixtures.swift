import ReflexDeployment
import ReflexPolicy
import ReflexRobot
import ReflexSim

/// Rendered lift demonstrations and the small camera policy the camera tests train on them (valid, not good).
public enum CameraLiftFixture {
    /// `episodes` scripted SO-101 lift demonstrations from seed 7, with a frame of `camera` at every step, written to
    /// `directory` as `reflex collect --camera` writes them.
    public static func writeDemonstrations(episodes: Int, camera: String = "front:32x32", to directory: String) throws {
        let robot = try RobotDescription.named("so101")
        let specs = [try TaskCameraSpec(parsing: camera)]
        let collected = try DemonstrationCollector.collect(robot: robot, task: .lift, episodes: episodes, seed: 7, workers: 2, cameras: specs)
        let env = try SimTask.make(robot: robot, task: "lift")
        try DemonstrationCollector.write(collected, robot: "so101", task: .lift, controlHz: env.config.controlHz,
                                         observationNames: env.observationSpace.names ?? [],
                                         actionNames: env.actionSpace.names ?? [], cameras: specs, to: directory)
    }

    /// `reflex train --camera front --exclude-features …` in small: horizon 8, 4 actions executed, DDIM 4 steps, one
    /// checkpoint at the end.
    public static func trainingOptions(steps: Int, batchSize: Int, hidden: [Int], exclude: [String]) -> PolicyTrainingOptions {
        var options = PolicyTrainingOptions()
        (options.steps, options.batchSize, options.hiddenSizes, options.horizon, options.nActionSteps) = (steps, batchSize, hidden, 8, 4)
        options.sampler = .ddim(steps: 4, eta: 0)
        options.checkpointEvery = steps
        options.cameras = ["front"]
        options.excludeFeatures = exclude
        return options
    }
}

/// An SO-101 emulated with the Bullet arm of `lift` (`reflex emulate --sim lift --camera [--frames …]`), for hardware
/// in the loop within one test process (`ArmEmulation.runInBackground`).
public enum EmulatedLiftArm {
    /// The emulator's options, its bus link and camera channel under `directory`; with `frames` (e.g. "front:32x32")
    /// it also renders that camera into a frame ring beside the channel.
    public static func options(in directory: String, frames: String? = nil) throws -> ArmEmulation.Options {
        var o = ArmEmulation.Options(link: directory + "/so101")
        o.robot = "so101"
        o.sim = "lift"
        o.camera = directory + "/so101.cam"
        if let frames {
            o.frames = [try TaskCameraSpec(parsing: frames)]
            o.framesPath = directory + "/so101.frames"
        }
        return o
    }

    /// The bus arm that drives it: its link, its camera channel and, when it renders frames, their ring.
    public static func arm(for o: ArmEmulation.Options, cameraMaxAge: Double? = nil) -> ArmConfig {
        var arm = ArmConfig(robot: "so101", port: o.link, camera: o.camera, cameraMaxAge: cameraMaxAge)
        arm.frames = o.framesPath
        return arm
    }
}
