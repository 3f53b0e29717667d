// Reflex's fuzz targets. Each takes bytes as they would arrive from outside — a downloaded file, a serial line, a
// datagram, an HTTP body — and runs the parser and its validation. A thrown error is the expected answer to bad
// input; a crash, a hang, an AddressSanitizer report or a runaway allocation is a finding.
import Foundation
@testable import ReflexCore
@testable import ReflexRobot
@testable import ReflexPolicy
import ReflexSteering
import ReflexHardware
import ReflexDeployment
@testable import ReflexServe

/// The fuzz targets by name; `REFLEX_FUZZ_TARGET` picks one per run.
let fuzzTargets: [String: @Sendable ([UInt8]) -> Void] = [
    "safetensors": fuzzSafetensors,
    "json": fuzzJSON,
    "yaml": fuzzYAML,
    "urdf": fuzzURDF,
    "mesh": fuzzMesh,
    "lerobot-config": fuzzLeRobotConfig,
    "lerobot-calibration": fuzzLeRobotCalibration,
    "ppm": fuzzPortablePixmap,
    "servo-frames": fuzzServoFrames,
    "servo-emulator": fuzzServoEmulator,
    "camera-message": fuzzCameraMessage,
    "daemon-request": fuzzDaemonRequest,
]

/// Splits the input after its first byte: the selector picks a variant (a file type, a framing) and the rest is the
/// payload, so one corpus reaches every variant.
func split(_ data: [UInt8]) -> (UInt8, [UInt8]) {
    guard let first = data.first else { return (0, []) }
    return (first, Array(data.dropFirst()))
}

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

func fuzzSafetensors(_ data: [UInt8]) {
    guard let file = try? SafetensorsFile(bytes: data, name: "fuzz") else { return }
    for name in file.names {
        _ = try? file.tensor(name)
        _ = try? file.rawBytes(name)
    }
}

func fuzzJSON(_ data: [UInt8]) {
    _ = try? data.withUnsafeBufferPointer { try JSONParser.parse($0) }
}

/// Every YAML file Reflex reads, decoded and validated as its loader does.
func fuzzYAML(_ data: [UInt8]) {
    let (selector, payload) = split(data)
    let s = text(payload)
    let decoder = YAMLDecoder()
    switch selector % 9 {
    case 0: _ = try? decoder.decode(RobotDescriptionFile.self, from: s)
    case 1: if let c = try? decoder.decode(PolicyConfig.self, from: s) { _ = try? c.validate() }
    case 2: if let c = try? YAMLDecoder(rejectUnknownKeys: false).decode(DeploymentConfig.self, from: s) { _ = try? c.validate() }
    case 3: if let c = try? decoder.decode(ServeConfig.self, from: s) { _ = try? c.validate() }
    case 4: _ = try? decoder.decode(BusCalibration.self, from: s)
    case 5: _ = try? decoder.decode(SafetyConfig.self, from: s)
    case 6: _ = try? decoder.decode(ValueFunctionConfig.self, from: s)
    case 7: _ = try? Sweep(text: s)
    default: _ = try? YAMLNode.parse(s, file: nil)
    }
}

func fuzzURDF(_ data: [UInt8]) {
    _ = try? URDFParser.parse(Data(data), file: "fuzz.urdf", baseDirectory: "/nonexistent")
}

func fuzzMesh(_ data: [UInt8]) {
    let (selector, payload) = split(data)
    if selector & 1 == 0 {
        _ = try? MeshLoader.stl(payload, path: "fuzz.stl")
    } else {
        _ = try? MeshLoader.obj(payload, path: "fuzz.obj")
    }
}

/// LeRobot's config.json (a diffusion or an ACT policy's options) and a processor pipeline file (its normalizer steps).
func fuzzLeRobotConfig(_ data: [UInt8]) {
    let (selector, payload) = split(data)
    guard let json = try? payload.withUnsafeBufferPointer({ try JSONParser.parse($0) }) else { return }
    if selector & 3 == 2 {
        _ = try? LeRobotACTConfig(json: json)
    } else if selector & 1 == 0 {
        _ = try? LeRobotDiffusionConfig(json: json)
    } else {
        _ = try? NormalizerStep(pipeline: json, path: "fuzz.json", registryName: "normalizer_processor", directory: "/nonexistent")
    }
}

func fuzzLeRobotCalibration(_ data: [UInt8]) {
    _ = try? LeRobotCalibration.parse(text(data), file: "fuzz.json")
}

func fuzzPortablePixmap(_ data: [UInt8]) {
    _ = try? PortablePixmap.decode(data)
}

/// Reply and request streams of both protocols, fed in pieces of varying size as a serial line delivers them.
func fuzzServoFrames(_ data: [UInt8]) {
    let (selector, payload) = split(data)
    let framings: [ServoFraming] = [.feetechStatus, .feetechInstruction, .dynamixelStatus, .dynamixelInstruction]
    var parser = ServoFrameParser(framing: framings[Int(selector % 4)], capacity: 512)
    var offset = 0
    var piece = Int(selector >> 2) % 23 + 1
    var checksum: UInt32 = 0
    while offset < payload.count {
        let end = min(payload.count, offset + piece)
        payload[offset ..< end].withUnsafeBytes { parser.append($0) }
        offset = end
        piece = piece % 23 + 1
        while true {
            switch parser.next() {
            case .needMore: break
            case .corrupt: continue
            case .frame(let frame):
                checksum &+= parser.withParameters(of: frame) { p in p.reduce(0) { $0 &+ UInt32($1) } }
                continue
            }
            break
        }
    }
    blackHole(checksum)
}

/// The emulator behind `reflex emulate` answering whatever arrives on its line.
func fuzzServoEmulator(_ data: [UInt8]) {
    let (selector, payload) = split(data)
    let servos: [EmulatedServo] = selector & 1 == 0
        ? (1 ... 6).map { EmulatedServo(table: STS3215.table, id: UInt8($0)) }
        : (1 ... 6).map { EmulatedServo(table: $0 < 6 ? XL430.table : XL330.table, id: UInt8($0)) }
    guard let emulator = try? ServoBusEmulator(servos: servos) else { return }
    var now: UInt64 = 1_000_000_000
    var offset = 0
    while offset < payload.count {
        let end = min(payload.count, offset + 37)
        emulator.receive(Array(payload[offset ..< end]), now: now)
        emulator.advance(dt: 0.001)
        now += 1_000_000
        blackHole(UInt32(emulator.takeOutput(dueBy: now + 1_000_000_000).count))
        offset = end
    }
}

func fuzzCameraMessage(_ data: [UInt8]) {
    _ = data.withUnsafeBytes { try? CameraMessage.decode($0) }
}

/// The daemon's request bodies: `POST /v1/predict` as safetensors with its query, and the JSON bodies of every route.
func fuzzDaemonRequest(_ data: [UInt8]) {
    let (selector, payload) = split(data)
    let decoder = JSONDecoder()
    switch selector % 5 {
    case 0:
        _ = try? PredictCodec.request(fromSafetensors: payload, query: [:])
    case 1: _ = try? decoder.decode(PredictRequest.self, from: Data(payload))
    case 2: _ = try? decoder.decode(LoadPolicyRequest.self, from: Data(payload))
    case 3: _ = try? decoder.decode(PolicyNameRequest.self, from: Data(payload))
    default: _ = try? decoder.decode(SteeringChange.self, from: Data(payload))
    }
}

/// Keeps a result alive so the optimizer cannot drop the work that made it.
nonisolated(unsafe) var sink: UInt32 = 0
@inline(never) func blackHole(_ x: UInt32) { sink &+= x }

nonisolated(unsafe) var selectedTarget: (@Sendable ([UInt8]) -> Void)?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let name = ProcessInfo.processInfo.environment["REFLEX_FUZZ_TARGET"] ?? ""
    guard let target = fuzzTargets[name] else {
        FileHandle.standardError.write(Data("set REFLEX_FUZZ_TARGET to one of: \(fuzzTargets.keys.sorted().joined(separator: ", "))\n".utf8))
        exit(2)
    }
    selectedTarget = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    selectedTarget?(bytes)
    return 0
}
