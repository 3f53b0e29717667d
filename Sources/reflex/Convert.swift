import ArgumentParser
import ReflexCore

/// Rewrites a safetensors file with another storage type (halving F32 checkpoints to BF16/F16, or widening them).
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrite a .safetensors file with every float tensor stored as F32, F16 or BF16."
    )

    @Argument(help: "Input .safetensors file.") var input: String
    @Argument(help: "Output .safetensors file (written atomically).") var output: String
    @Option(help: "Storage type of the output: f32, f16 or bf16.") var dtype: String = "f32"

    func run() throws {
        guard let storage = SafetensorsStorageType(rawValue: dtype.uppercased()) else {
            throw ValidationError("--dtype must be f32, f16 or bf16, not '\(dtype)'")
        }
        do {
            let file = try SafetensorsFile(path: input)
            let tensors = try file.entries.map { (name: $0.name, tensor: try file.tensor($0.name)) }
            try writeSafetensors(tensors, to: output, metadata: file.metadata, dtype: storage)
            print("wrote \(tensors.count) tensors as \(storage.rawValue) to \(output)")
        } catch let e as ReflexError {
            throw ValidationError(e.description)
        }
    }
}
