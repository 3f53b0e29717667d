import ArgumentParser
import Foundation
import ReflexCore
import ReflexRobot
import ReflexSim

/// `reflex collect`: scripted-expert demonstrations in Reflex's format (docs/simulation.md).
struct Collect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record scripted-expert demonstrations of a simulated task (demos.safetensors + meta.json)."
    )

    @Option(help: "Robot description: a name under robots/ (so101) or a YAML path.") var robot = "so101"
    @Option(help: "Task: reach, push or lift.") var task: String
    @Option(help: "Episodes to record.") var episodes = 200
    @Option(help: "Output directory.") var out: String
    @Option(help: "Seed of the first episode (episode k uses seed + k).") var seed: UInt64 = 0
    @Option(help: "Worker threads.") var workers = 1
    @Flag(help: "Record the sparse reward (1 on success) instead of the dense one.") var sparse = false
    @Flag(help: "Keep only successful episodes.") var successfulOnly = false
    @Option(help: "Noisy demonstrator: std (radians) of Gaussian noise added to every expert joint target.") var actionNoise = 0.0
    @Option(name: .customLong("camera"), help: "Also record a camera's frames (uint8 RGB), PLACEMENT:WIDTHxHEIGHT with PLACEMENT front or wrist, e.g. front:96x96; repeat for several.")
    var cameras: [String] = []

    func run() throws {
        let description = try RobotDescription.named(robot)
        guard let kind = TaskKind(rawValue: task) else {
            throw ValidationError("unknown task '\(task)' (reach, push, lift)")
        }
        guard actionNoise >= 0, actionNoise.isFinite else { throw ValidationError("--action-noise must be ≥ 0") }
        let env = try SimTask.make(robot: description, task: task, sparseReward: sparse)
        let specs = try cameras.map(TaskCameraSpec.init(parsing:))
        _ = try TaskCameraRig(environment: env, specs: specs) // refuses a bad set of cameras before any episode
        let progress = LockedProgress(ProgressLine(total: episodes, label: "collect \(description.name):\(task)"))
        let t0 = Date()
        var recorded = try DemonstrationCollector.collect(robot: description, task: kind, episodes: episodes, seed: seed,
                                                          workers: workers, sparseReward: sparse, actionNoise: actionNoise,
                                                          cameras: specs) { done, successes in
            progress.update(done, status: "success \(successes)/\(done)")
        }
        progress.finish()
        let successes = recorded.filter(\.success).count
        if successfulOnly { recorded = recorded.filter(\.success) }
        try DemonstrationCollector.write(recorded, robot: description.name, task: kind, controlHz: env.config.controlHz,
                                         observationNames: env.observationSpace.names ?? [],
                                         actionNames: env.actionSpace.names ?? [], cameras: specs, to: out)
        let steps = recorded.reduce(0) { $0 + $1.length }
        print("\(episodes) episodes, \(successes) successful (\(fmt(100 * Double(successes) / Double(max(1, episodes)), 1))%), "
            + "\(recorded.count) written with \(steps) steps"
            + (specs.isEmpty ? "" : " and \(steps) frames of \(specs.map(\.description).joined(separator: ", "))")
            + " to \(out) in \(fmt(Date().timeIntervalSince(t0), 1)) s")
    }
}

/// A progress line shared by worker threads.
final class LockedProgress: @unchecked Sendable {
    private let lock = NSLock()
    private let line: ProgressLine
    init(_ line: ProgressLine) { self.line = line }
    func update(_ done: Int, status: String) { lock.withLock { line.update(done, status: status) } }
    func finish() { lock.withLock { line.finish() } }
}
