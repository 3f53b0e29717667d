import ArgumentParser
import Foundation
import ReflexCore
import ReflexRobot
import ReflexSim

/// `reflex sim …`: tools around the Bullet world.
struct Sim: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulation tools (physics parity traces, camera frames).",
        subcommands: [SimTrace.self, SimRender.self]
    )
}

/// `reflex sim trace`: replays joint commands through a URDF and prints the joint positions per step as CSV.
struct SimTrace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Replay one command row per step (a torque or a position target per movable joint) through a fixed-base URDF in Bullet; print joint positions per step as CSV.",
        discussion: """
        The world matches pybullet's defaults (gravity −9.81 on z unless --gravity, solver settings, joint damping as
        an explicit torque) except for one: link inertia comes from the URDF's <inertial> by default, as pybullet
        loads it with the URDF_USE_INERTIA_FROM_FILE flag; pybullet's own default computes it from the collision
        shapes, which is --inertia shapes. Columns are the movable joints in
        pybullet's order. A row shorter run than --steps holds its last row. Position control is pybullet's
        POSITION_CONTROL with --kp, --kd and --max-force.
        """
    )

    @Option(help: "URDF file.") var urdf: String
    @Option(help: "torque or position.") var control: String
    @Option(help: "CSV: one row per step, one value per movable joint (a header line is skipped).") var inputs: String
    @Option(help: "Time step (s).") var dt = 1.0 / 240
    @Option(help: "Steps to run (default: the number of input rows).") var steps: Int?
    @Option(help: "Initial joint positions, comma separated (default zeros).") var initial: String?
    @Option(help: "Position gain (pybullet's positionGain).") var kp = 0.1
    @Option(help: "Velocity gain (pybullet's velocityGain).") var kd = 1.0
    @Option(help: "Motor force limit: one value, or comma separated per joint (default 100000, pybullet's).") var maxForce: String?
    @Option(help: "Gravity along z (m/s²).") var gravity = -9.81
    @Option(help: "Link inertia: urdf (the default here: pybullet with URDF_USE_INERTIA_FROM_FILE) or shapes (pybullet's own default, from the collision shapes).") var inertia = "urdf"
    @Flag(help: "Print the column names first.") var header = false

    func run() throws {
        guard let mode = JointTrace.Control(rawValue: control) else {
            throw ValidationError("--control must be torque or position")
        }
        let model = try URDFParser.load(path: urdf)
        let rows = try readCSV(inputs)
        var trace = JointTrace(control: mode)
        trace.dt = dt
        trace.kp = kp
        trace.kd = kd
        trace.gravity = gravity
        guard let source = InertiaSource(rawValue: inertia) else { throw ValidationError("--inertia must be urdf or shapes") }
        trace.inertia = source
        if let maxForce {
            let values = try numbers(maxForce, "--max-force")
            if values.count == 1 { trace.maxForce = values[0] } else { trace.maxForces = values }
        }
        let q0 = try initial.map { try numbers($0, "--initial") }
        let out = try trace.run(model: model, inputs: rows, steps: steps ?? rows.count, initial: q0)
        var text = header ? JointTrace.movableJoints(model).joined(separator: ",") + "\n" : ""
        text.reserveCapacity(out.count * 20 * (out.first?.count ?? 1))
        for row in out { text += row.map { String($0) }.joined(separator: ",") + "\n" }
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    func numbers(_ s: String, _ name: String) throws -> [Double] {
        try s.split(separator: ",").map {
            guard let v = Double($0.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("\(name): '\($0)' is not a number") }
            return v
        }
    }

    func readCSV(_ path: String) throws -> [[Double]] {
        let text = try readTextFile(path)
        var rows: [[Double]] = []
        for (i, line) in text.split(whereSeparator: \.isNewline).enumerated() {
            let cells = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let values = cells.compactMap(Double.init)
            if values.count != cells.count {
                if i == 0 && rows.isEmpty { continue } // header
                throw ReflexError(.invalidValue, "not a number in '\(line)'", at: .init(file: path, line: i + 1))
            }
            rows.append(values)
        }
        guard !rows.isEmpty else { throw ReflexError(.invalidValue, "no rows", at: .init(file: path)) }
        return rows
    }
}

/// `reflex sim render`: one camera frame of a task's scene at the start of a seeded episode, as a PPM file.
struct SimRender: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Write a task camera's frame (front or wrist) at the start of episode SEED as a binary PPM image.",
        discussion: "The renderer draws what pybullet's getCameraImage(renderer=ER_TINY_RENDERER) draws for the same scene."
    )

    @Option(help: "Robot description name or path.") var robot = "so101"
    @Option(help: "Task: reach, push or lift.") var task = "lift"
    @Option(help: "Episode seed (the start the task's reset draws).") var seed: UInt64 = 0
    @Option(help: "Camera: front or wrist.") var camera = "front"
    @Option(help: "Image width.") var width = 96
    @Option(help: "Image height.") var height = 96
    @Option(help: "Output file (.ppm).") var out: String

    func run() throws {
        let description = try RobotDescription.named(robot)
        let env = try SimTask.make(robot: description, task: task)
        var observation = [Float](repeating: 0, count: env.observationSpace.size)
        env.reset(seed: seed, observation: &observation)
        let sim: SimCamera
        switch camera {
        case "front": sim = TaskSceneLook.frontCamera(width: width, height: height)
        case "wrist": sim = TaskSceneLook.wristCamera(width: width, height: height, link: env.wristCameraLink)
        default: throw ValidationError("--camera must be front or wrist")
        }
        let image = CameraImage(sim.intrinsics)
        try sim.intrinsics.validate()
        try env.makeRenderer().render(sim, world: env.world, into: image)
        try writeFileAtomically(PortablePixmap.encodeP6(width: width, height: height, rgb: UnsafeBufferPointer(image.rgb)), to: out)
        print("wrote \(out) (\(width)×\(height), \(camera) camera, \(description.name):\(task) seed \(seed))")
    }
}
