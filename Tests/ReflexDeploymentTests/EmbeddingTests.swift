import Foundation
import ReflexCore
import ReflexDeployment
import ReflexPolicy
import Testing

/// The checkout and the release build folder this test binary came from.
enum Checkout {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static var buildDirectory: String {
        // The test bundle lives in the build folder beside the products (libReflexC.so, reflex).
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while dir.path != "/", !FileManager.default.fileExists(atPath: dir.appendingPathComponent("libReflexC.so").path) {
            dir.deleteLastPathComponent()
        }
        return dir.path
    }
    static let policy = root + "/policies/so101-lift"
}

struct ProcessResult { var status: Int32; var stdout: String; var stderr: String }

/// Runs a child process to its end. Under AddressSanitizer (`scripts/sanitize.sh address` sets REFLEX_ASAN_RUNTIME
/// to the runtime's shared library) libReflexC.so needs that runtime in its host: a C program (`cc …`) links it, and
/// Python preloads it (it must come first), its leak check off (Python frees little at exit). Nothing else gets it:
/// `reflex` carries its own runtime (two refuse to start) and system tools are not instrumented.
func runProcess(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
    var arguments = arguments, environment = environment
    if let asan = ProcessInfo.processInfo.environment["REFLEX_ASAN_RUNTIME"], !asan.isEmpty {
        // First on the link line and kept though the program calls none of it, so it is first in the program's
        // library list (ASan insists).
        if arguments.first == "cc" {
            arguments.insert(contentsOf: ["-Wl,--no-as-needed", asan, "-Wl,--as-needed",
                                          "-Wl,-rpath," + (asan as NSString).deletingLastPathComponent], at: 1)
        }
        if executable.contains("python") || arguments.first?.contains("python") == true {
            environment["LD_PRELOAD"] = asan
            environment["ASAN_OPTIONS"] = "detect_leaks=0"
        }
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    p.currentDirectoryURL = URL(fileURLWithPath: Checkout.root)
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return ProcessResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}

/// The `chunk: [...]` line of an example's output.
func chunkLine(_ text: String) throws -> [Float] {
    let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("chunk: ") })
    return try JSONDecoder().decode([Float].self, from: Data(line.dropFirst(7).utf8))
}

/// The Swift API, the C ABI, Python over ctypes and `reflex predict` give the same chunk for the same inputs and seed.
@Suite(.serialized) struct EmbeddingTests {
    static let seed: UInt64 = 7

    /// The reference: the Swift API, as `reflex predict` runs it (`PolicyPrediction`).
    func reference() throws -> [Float] {
        let policy = try PolicyLoader.load(directory: Checkout.policy)
        let c = policy.config
        let history = Tensor(shape: [c.nObsSteps, c.observationSize], repeating: 0)
        for i in 0 ..< c.conditionSize { history.data[i] = Float(i % 7) * 0.05 }
        let file = NSTemporaryDirectory() + "embed-inputs-\(UUID().uuidString).safetensors"
        try writeSafetensors([("observation", history)], to: file)
        let out = try PolicyPrediction.predict(policy: policy, inputs: try SafetensorsFile(path: file), seed: Self.seed)
        return try #require(out.first { $0.0 == "action" }).1.scalars
    }

    @Test func reflexPredictGivesTheSwiftAPIsChunk() throws {
        let expected = try reference()
        let policy = try PolicyLoader.load(directory: Checkout.policy)
        let c = policy.config
        let history = Tensor(shape: [c.nObsSteps, c.observationSize], repeating: 0)
        for i in 0 ..< c.conditionSize { history.data[i] = Float(i % 7) * 0.05 }
        let inputs = NSTemporaryDirectory() + "predict-in-\(UUID().uuidString).safetensors"
        try writeSafetensors([("observation", history)], to: inputs)
        let r = try runProcess(Checkout.buildDirectory + "/reflex",
                               ["predict", Checkout.policy, "--inputs", inputs, "--out", inputs + ".out", "--seed", "\(Self.seed)", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try JSONDecoder().decode([String: [Float]].self, from: Data(r.stdout.utf8))
        #expect(object["action"] == expected)
    }

    @Test func aCProgramLinkedAgainstTheCABIGivesTheSameChunkAndDrivesAnArm() throws {
        let expected = try reference()
        let binary = NSTemporaryDirectory() + "reflex-c-example-\(UUID().uuidString)"
        let build = Checkout.buildDirectory
        let cc = try runProcess("/usr/bin/env", ["cc", "-std=c11", "-Wall", "-Werror", "-I", "Sources/ReflexC/include",
                                                  "examples/c/reflex_example.c", "-L", build, "-lReflexC", "-Wl,-rpath," + build,
                                                  "-o", binary])
        #expect(cc.status == 0, "the C example does not compile: \(cc.stderr)")
        guard cc.status == 0 else { return }
        let r = try runProcess(binary, [Checkout.policy, "\(Self.seed)", "examples/deployment-sim.yaml"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try chunkLine(r.stdout) == expected)
        #expect(r.stdout.contains("wrong size: 4 ("))               // REFLEX_ERROR_SHAPE, with its message
        #expect(r.stdout.contains("\"emergencyStop\":true"))
        #expect(r.stdout.contains("start under e-stop: 5 ("))       // REFLEX_ERROR_STATE
        let status = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("status: ") })
        #expect(status.contains("\"lifecycle\"") && status.contains("\"task\":{"))
    }

    @Test func pythonOverCtypesGivesTheSameChunk() throws {
        let expected = try reference()
        let r = try runProcess("/usr/bin/env", ["python3", "examples/python/reflex.py", Checkout.policy, "\(Self.seed)",
                                                "examples/deployment-sim.yaml"],
                               environment: ["REFLEX_LIB": Checkout.buildDirectory + "/libReflexC.so"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try chunkLine(r.stdout) == expected)
        #expect(r.stdout.contains("wrong size: 4 ("))
        #expect(r.stdout.contains("\"ticks\""))
    }
}
