import ArgumentParser
import Foundation
import ReflexCore
import ReflexRobot
import ReflexSim

/// `reflex bench sim`: physics and environment throughput, vectorized scaling and expert success.
struct BenchSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Panda position-control steps/s, env steps/s per task, vectorized scaling 1→2 threads, expert success.",
        discussion: "The pybullet side is Benchmarks/peers/sim_pybullet.py (run it with --compare for the side-by-side table)."
    )

    @Option(help: "The Panda URDF (pybullet_data's franka_panda/panda.urdf).") var panda: String?
    @Option(help: "Timed rounds per figure.") var rounds = 15
    @Option(help: "Physics steps per round for the Panda figure.") var steps = 2000
    @Option(help: "Expert episodes per task (0 skips).") var episodes = 200
    @Option(help: "Figures: panda, env, vector, experts (comma separated).") var only = "panda,env,vector,experts"
    @Option(help: "Environments in the vectorized figure.") var vectorCount = 8
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        let figures = Set(only.split(separator: ",").map(String.init))
        var report = BenchSimReport()
        if figures.contains("panda") {
            let path = panda ?? defaultPanda()
            guard let path else { throw ValidationError("--panda PATH is needed (pybullet_data's franka_panda/panda.urdf)") }
            report.panda = try pandaSteps(path, commandEveryStep: false)
            report.pandaControl = try pandaSteps(path, commandEveryStep: true)
        }
        let robot = try RobotDescription.named("so101")
        if figures.contains("env") {
            for kind in TaskKind.allCases { report.env[kind.rawValue] = try envSteps(robot, kind) }
        }
        if figures.contains("vector") {
            for t in [1, 2] { report.vector["\(t)"] = try vectorSteps(robot, threads: t) }
        }
        if figures.contains("experts"), episodes > 0 {
            for kind in TaskKind.allCases {
                let eps = try DemonstrationCollector.collect(robot: robot, task: kind, episodes: episodes, seed: 0, workers: 2)
                let s = eps.filter(\.success).count
                let w = Statistics.wilsonInterval(successes: s, trials: eps.count)
                report.experts[kind.rawValue] = .init(episodes: eps.count, successes: s, low: w.low, high: w.high,
                                                      meanLength: Double(eps.reduce(0) { $0 + $1.length }) / Double(eps.count))
            }
        }
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
            return
        }
        var rows: [[String]] = []
        if let p = report.panda {
            rows.append(["Panda physics step, POSITION_CONTROL, 1 thread", fmt(p.median), fmt(p.p10), fmt(p.p90), fmt(1e6 / p.median, 0)])
        }
        if let p = report.pandaControl {
            rows.append(["Panda set targets + step + read state, 1 thread", fmt(p.median), fmt(p.p10), fmt(p.p90), fmt(1e6 / p.median, 0)])
        }
        for k in TaskKind.allCases.map(\.rawValue) {
            if let e = report.env[k] {
                rows.append(["so101:\(k) env step (12 physics steps), 1 thread", fmt(e.median), fmt(e.p10), fmt(e.p90), fmt(1e6 / e.median, 0)])
            }
        }
        for t in ["1", "2"] {
            if let v = report.vector[t] {
                rows.append(["\(vectorCount)× so101:lift vector step per env, \(t) thread(s)", fmt(v.median), fmt(v.p10), fmt(v.p90), fmt(1e6 / v.median, 0)])
            }
        }
        if !rows.isEmpty { print(table(["figure", "median µs", "p10 µs", "p90 µs", "per second"], rows)) }
        if !report.experts.isEmpty {
            let e = TaskKind.allCases.compactMap { k in report.experts[k.rawValue].map { (k, $0) } }
            print(table(["expert", "episodes", "successes", "rate (95% Wilson)", "mean length"], e.map { k, r in
                ["so101:\(k.rawValue)", "\(r.episodes)", "\(r.successes)",
                 "\(fmt(100 * Double(r.successes) / Double(r.episodes), 1))% (\(fmt(100 * r.low, 1))–\(fmt(100 * r.high, 1)))",
                 fmt(r.meanLength, 1)]
            }))
        }
    }

    func defaultPanda() -> String? {
        let venv = ProcessInfo.processInfo.environment["REFLEX_PEERS_VENV"] ?? NSHomeDirectory() + "/.cache/reflex/peers-venv"
        let lib = venv + "/lib"
        let pythons = (try? FileManager.default.contentsOfDirectory(atPath: lib)) ?? []
        for p in pythons.sorted() {
            let path = "\(lib)/\(p)/site-packages/pybullet_data/franka_panda/panda.urdf"
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        return nil
    }

    /// One Panda in a world, all movable joints under POSITION_CONTROL toward a fixed pose (kp 0.1, kd 1, URDF
    /// effort), timed per physics step; the peer does the same in pybullet.
    /// With `commandEveryStep`, each step also sends the targets and reads the joint state back, as a control loop
    /// or an environment does.
    func pandaSteps(_ path: String, commandEveryStep: Bool) throws -> TimingSamples {
        let model = try URDFParser.load(path: path)
        let world = BulletWorld()
        let body = try world.addMultiBody(model, fixedBase: true)
        let movable = model.joints.enumerated().filter { $0.element.isMovable }
        let joints = movable.map { Int32($0.offset) }
        let targets = movable.map { j -> Double in
            let (lo, hi) = j.element.lower <= j.element.upper ? (j.element.lower, j.element.upper) : (-1.0, 1.0)
            return lo + 0.6 * (hi - lo)
        }
        let n = joints.count
        let kp = [Double](repeating: 0.1, count: n), kd = [Double](repeating: 1, count: n)
        let force = movable.map { $0.element.effort }
        world.positionControl(body: body, joints: joints, count: n, targets: targets, kp: kp, kd: kd, maxForce: force,
                              maxVelocity: nil, dt: 1.0 / 240)
        if !commandEveryStep { return measure(warmup: 200, rounds: rounds, calls: steps) { world.step(dt: 1.0 / 240) } }
        var q = [Double](repeating: 0, count: world.linkCount(body: body))
        var qd = q
        return measure(warmup: 200, rounds: rounds, calls: steps) {
            world.positionControl(body: body, joints: joints, count: n, targets: targets, kp: kp, kd: kd, maxForce: force,
                                  maxVelocity: nil, dt: 1.0 / 240)
            world.step(dt: 1.0 / 240)
            world.jointState(body: body, positions: &q, velocities: &qd)
        }
    }

    /// One environment stepped with actions around the home pose.
    func envSteps(_ robot: RobotDescription, _ kind: TaskKind) throws -> TimingSamples {
        let env = try SimTask.make(robot: robot, task: kind.rawValue)
        var obs = [Float](repeating: 0, count: env.observationSpace.size)
        env.reset(seed: 0, observation: &obs)
        var gen = RandomGenerator(seed: 1)
        let actions = (0 ..< 64).map { _ in robot.home.map { Float($0 + gen.uniform(-0.2, 0.2)) } }
        var k = 0
        return measure(warmup: 50, rounds: rounds, calls: 200) {
            let out = env.step(actions[k % 64], observation: &obs)
            k += 1
            if out.done { env.reset(seed: UInt64(k), observation: &obs) }
        }
    }

    /// Per-environment time of a vector step over `vectorCount` lift environments.
    func vectorSteps(_ robot: RobotDescription, threads: Int) throws -> TimingSamples {
        let vector = try VectorEnvironment(count: vectorCount, threads: threads) { _ in try SimTask.make(robot: robot, task: "lift") }
        vector.reset(seed: 0)
        var gen = RandomGenerator(seed: 2)
        let actions = (0 ..< 16).map { _ in (0 ..< vectorCount).flatMap { _ in robot.home.map { Float($0 + gen.uniform(-0.2, 0.2)) } } }
        var k = 0
        let s = measure(warmup: 10, rounds: rounds, calls: 40) {
            vector.step(actions[k % 16])
            k += 1
        }
        return TimingSamples(roundMicros: s.roundMicros.map { $0 / Double(vectorCount) })
    }
}

struct BenchSimReport: Codable {
    struct Expert: Codable {
        var episodes: Int
        var successes: Int
        var low: Double
        var high: Double
        var meanLength: Double
    }

    var panda: TimingSamples?
    var pandaControl: TimingSamples?
    var env: [String: TimingSamples] = [:]
    var vector: [String: TimingSamples] = [:]
    var experts: [String: Expert] = [:]
}
