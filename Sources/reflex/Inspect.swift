import ArgumentParser
import ReflexCore

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a file holds: the tensors of a .safetensors file (name, dtype, shape, bytes), or a LeRobot checkpoint directory."
    )

    @Argument(help: "A .safetensors file, or a LeRobot diffusion or ACT checkpoint directory.") var path: String

    func run() throws {
        if isLeRobotDirectory(path) { return try inspectLeRobot(path) }
        do {
            let file = try SafetensorsFile(path: path)
            var rows: [[String]] = []
            var total = 0
            for e in file.entries {
                rows.append([e.name, e.dtype.rawValue, "[" + e.shape.map(String.init).joined(separator: ", ") + "]",
                             "\(e.dataRange.count)"])
                total += e.dataRange.count
            }
            print(table(["tensor", "dtype", "shape", "bytes"], rows))
            print("\(file.entries.count) tensors, \(total) bytes of data, header \(file.dataOffset - 8) bytes")
            if !file.metadata.isEmpty {
                print("metadata:")
                for (k, v) in file.metadata.sorted(by: { $0.key < $1.key }) { print("  \(k): \(v)") }
            }
        } catch let e as ReflexError {
            throw ValidationError(e.description)
        }
    }
}
