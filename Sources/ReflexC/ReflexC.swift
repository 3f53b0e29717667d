import Foundation
import ReflexCore
import ReflexDeployment
import ReflexPolicy
import ReflexRuntime

// The C ABI of include/reflex.h. Each function catches every error, maps it to a reflex_status and keeps its message
// for reflex_last_error on the calling thread. Handles are retained Swift objects behind opaque pointers.

/// reflex_status values (include/reflex.h).
enum CStatus: Int32 {
    case ok = 0, invalidArgument, notFound, invalidFile, shape, state, device, `internal`

    init(_ error: any Error) {
        guard let e = error as? ReflexError else {
            self = .internal
            return
        }
        switch e.code {
        case .invalidArgument, .invalidValue: self = .invalidArgument
        case .fileNotFound: self = .notFound
        case .shapeMismatch: self = .shape
        case .invalidTransition: self = .state
        case .device, .io: self = .device
        case .invalidPolicy: self = .invalidFile
        default:
            let code = e.code.rawValue
            self = code.hasPrefix("yaml") || code.hasPrefix("safetensors") || code.hasPrefix("checkpoint") ? .invalidFile : .internal
        }
    }
}

/// This thread's last error message, as a C string owned by the thread.
enum LastError {
    nonisolated(unsafe) static var key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k) { free($0) }
        return k
    }()

    static func set(_ message: String) {
        if let old = pthread_getspecific(key) { free(old) }
        pthread_setspecific(key, strdup(message))
    }

    static var message: UnsafePointer<CChar>? { pthread_getspecific(key).map { UnsafePointer($0.assumingMemoryBound(to: CChar.self)) } }
}

/// Runs `body`, mapping a thrown error to its status and message.
func guarded(_ body: () throws -> Void) -> Int32 {
    do {
        try body()
        LastError.set("")
        return CStatus.ok.rawValue
    } catch {
        LastError.set((error as? ReflexError)?.description ?? "\(error)")
        return CStatus(error).rawValue
    }
}

func argumentError(_ message: String) -> ReflexError { ReflexError(.invalidArgument, message) }

func string(_ p: UnsafePointer<CChar>?, _ what: String) throws -> String {
    guard let p else { throw argumentError("\(what) is NULL") }
    return String(cString: p)
}

/// A policy handle: one policy instance and its generator, for one thread at a time, and the buffers its inputs
/// are gathered in (frames, state), made once.
final class PolicyHandle {
    let policy: Policy
    var generator = RandomGenerator(seed: 0)
    let inputs: ObservationFeatures
    /// Each camera's feature and short name as NUL-terminated bytes, compared with a C string without allocating.
    let names: [(full: [CChar], short: [CChar])]
    init(policy: Policy) {
        self.policy = policy
        inputs = ObservationFeatures(policy: policy)
        names = inputs.cameras.map { (Array($0.name.utf8CString), Array($0.shortName.utf8CString)) }
    }

    func cameraIndex(_ name: UnsafePointer<CChar>) -> Int? {
        names.firstIndex { strcmp($0.full, name) == 0 || strcmp($0.short, name) == 0 }
    }
}

/// A controller handle: the deployment (arm, scene) and its controller.
final class ControllerHandle: @unchecked Sendable {
    let deployment: Deployment
    let controller: RobotController
    init(deployment: Deployment, controller: RobotController) {
        self.deployment = deployment
        self.controller = controller
    }
}

func handle<T: AnyObject>(_ p: OpaquePointer?, _ type: T.Type) throws -> T {
    guard let p else { throw argumentError("the handle is NULL") }
    return Unmanaged<T>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue()
}

nonisolated(unsafe) private let versionString = strdup("0.2.0")

@_cdecl("reflex_version")
public func reflex_version() -> UnsafePointer<CChar>? { UnsafePointer(versionString) }

nonisolated(unsafe) private let emptyString = strdup("")

@_cdecl("reflex_last_error")
public func reflex_last_error() -> UnsafePointer<CChar>? { LastError.message ?? UnsafePointer(emptyString) }

// MARK: Policies

@_cdecl("reflex_policy_open")
public func reflex_policy_open(_ directory: UnsafePointer<CChar>?, _ sampler: UnsafePointer<CChar>?,
                               _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        guard let out else { throw argumentError("out is NULL") }
        out.pointee = nil
        let dir = try string(directory, "directory")
        let spec = try sampler.map { try SamplerSpec(parsing: String(cString: $0)) }
        let box = PolicyHandle(policy: try PolicyLoader.load(directory: dir, sampler: spec, acceptingFrames: true))
        out.pointee = OpaquePointer(Unmanaged.passRetained(box).toOpaque())
    }
}

@_cdecl("reflex_policy_close")
public func reflex_policy_close(_ policy: OpaquePointer?) {
    guard let policy else { return }
    Unmanaged<PolicyHandle>.fromOpaque(UnsafeRawPointer(policy)).release()
}

@_cdecl("reflex_policy_shape")
public func reflex_policy_shape(_ policy: OpaquePointer?, _ observationSize: UnsafeMutablePointer<Int>?,
                                _ historySteps: UnsafeMutablePointer<Int>?, _ horizon: UnsafeMutablePointer<Int>?,
                                _ actionSize: UnsafeMutablePointer<Int>?, _ actionSteps: UnsafeMutablePointer<Int>?) -> Int32 {
    guarded {
        let c = try handle(policy, PolicyHandle.self).policy.config
        observationSize?.pointee = c.observationSize
        historySteps?.pointee = c.nObsSteps
        horizon?.pointee = c.horizon
        actionSize?.pointee = c.actionSize
        actionSteps?.pointee = c.nActionSteps
    }
}

@_cdecl("reflex_policy_reset")
public func reflex_policy_reset(_ policy: OpaquePointer?, _ seed: UInt64) -> Int32 {
    guarded {
        let h = try handle(policy, PolicyHandle.self)
        h.policy.reset()
        h.generator = RandomGenerator(seed: seed)
    }
}

@_cdecl("reflex_policy_predict")
public func reflex_policy_predict(_ policy: OpaquePointer?, _ history: UnsafePointer<Float>?, _ historyCount: Int,
                                  _ stepsExecuted: Int, _ chunk: UnsafeMutablePointer<Float>?, _ chunkCapacity: Int) -> Int32 {
    guarded {
        let h = try handle(policy, PolicyHandle.self)
        let c = h.policy.config
        guard let history, let chunk else { throw argumentError("history and chunk must not be NULL") }
        if h.inputs.cameras.contains(where: { $0.rowOffset == nil }) {
            throw argumentError("a camera policy (\(h.inputs.cameras.map(\.name).joined(separator: ", "))): set its frames with reflex_policy_set_image and predict with reflex_policy_predict_images")
        }
        guard historyCount == c.conditionSize else {
            throw ReflexError(.shapeMismatch, "history holds \(historyCount) values; the policy needs \(c.nObsSteps) × \(c.observationSize) = \(c.conditionSize)")
        }
        guard chunkCapacity >= c.horizon * c.actionSize else {
            throw argumentError("chunk holds \(chunkCapacity) values; the policy writes \(c.horizon) × \(c.actionSize) = \(c.horizon * c.actionSize)")
        }
        guard stepsExecuted >= 0 else { throw argumentError("steps_executed must be ≥ 0, got \(stepsExecuted)") }
        for i in 0 ..< historyCount where !history[i].isFinite {
            throw argumentError("history value \(i) is not finite (\(history[i])); nothing was predicted")
        }
        _ = h.policy.predictChunk(history: history, stepsExecuted: stepsExecuted, output: chunk, generator: &h.generator)
    }
}

// MARK: Policies that look through cameras

@_cdecl("reflex_policy_inputs")
public func reflex_policy_inputs(_ policy: OpaquePointer?, _ stateSize: UnsafeMutablePointer<Int>?,
                                 _ cameraCount: UnsafeMutablePointer<Int>?) -> Int32 {
    guarded {
        let h = try handle(policy, PolicyHandle.self)
        stateSize?.pointee = h.inputs.stateSize
        cameraCount?.pointee = h.inputs.cameras.count
    }
}

@_cdecl("reflex_policy_camera")
public func reflex_policy_camera(_ policy: OpaquePointer?, _ index: Int, _ name: UnsafeMutablePointer<CChar>?, _ capacity: Int,
                                 _ height: UnsafeMutablePointer<Int>?, _ width: UnsafeMutablePointer<Int>?,
                                 _ channels: UnsafeMutablePointer<Int>?) -> Int32 {
    guarded {
        let h = try handle(policy, PolicyHandle.self)
        guard index >= 0, index < h.inputs.cameras.count else {
            throw argumentError("camera index \(index) is out of range (the policy has \(h.inputs.cameras.count) cameras)")
        }
        let cam = h.inputs.cameras[index]
        if let name {
            let bytes = h.names[index].full
            guard capacity >= bytes.count else { throw argumentError("the name '\(cam.name)' needs \(bytes.count) bytes, the buffer holds \(capacity)") }
            for (i, b) in bytes.enumerated() { name[i] = b }
        }
        height?.pointee = cam.height
        width?.pointee = cam.width
        channels?.pointee = cam.channels
    }
}

@_cdecl("reflex_policy_set_image")
public func reflex_policy_set_image(_ policy: OpaquePointer?, _ camera: UnsafePointer<CChar>?, _ rgb: UnsafePointer<UInt8>?,
                                    _ height: Int, _ width: Int) -> Int32 {
    guarded {
        let h = try handle(policy, PolicyHandle.self)
        guard let camera, let rgb else { throw argumentError("camera and rgb must not be NULL") }
        guard let k = h.cameraIndex(camera) else {
            throw argumentError("the policy has no camera '\(String(cString: camera))' (it has: \(h.inputs.cameras.map(\.name).joined(separator: ", ")))")
        }
        let cam = h.inputs.cameras[k]
        guard height == cam.height, width == cam.width, cam.channels == 3 else {
            throw ReflexError(.shapeMismatch, "camera '\(cam.name)' takes \(cam.height) x \(cam.width) x \(cam.channels) frames, got \(height) x \(width) x 3")
        }
        h.inputs.setImage(camera: k, rgb: rgb)
    }
}

@_cdecl("reflex_policy_predict_images")
public func reflex_policy_predict_images(_ policy: OpaquePointer?, _ state: UnsafePointer<Float>?, _ stateCount: Int,
                                         _ stepsExecuted: Int, _ chunk: UnsafeMutablePointer<Float>?, _ chunkCapacity: Int) -> Int32 {
    guarded {
        let h = try handle(policy, PolicyHandle.self)
        let c = h.policy.config
        guard let state, let chunk else { throw argumentError("state and chunk must not be NULL") }
        guard chunkCapacity >= c.horizon * c.actionSize else {
            throw argumentError("chunk holds \(chunkCapacity) values; the policy writes \(c.horizon) × \(c.actionSize) = \(c.horizon * c.actionSize)")
        }
        guard stepsExecuted >= 0 else { throw argumentError("steps_executed must be ≥ 0, got \(stepsExecuted)") }
        if let k = h.inputs.imageSet.firstIndex(of: false) {
            throw ReflexError(.invalidTransition, "camera '\(h.inputs.cameras[k].name)' has no frame since the last prediction: reflex_policy_set_image first")
        }
        try h.inputs.setState(state, count: stateCount)
        try h.inputs.apply(to: h.policy)
        h.inputs.clearImages()
        _ = h.policy.predictChunk(history: h.inputs.history, stepsExecuted: stepsExecuted, output: chunk, generator: &h.generator)
    }
}

// MARK: Controllers

@_cdecl("reflex_controller_create")
public func reflex_controller_create(_ configPath: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        guard let out else { throw argumentError("out is NULL") }
        out.pointee = nil
        let path = try string(configPath, "config_path")
        let config = try DeploymentConfig.read(path, ignoringUnknownKeys: true)
        let (deployment, controller) = try config.makeController()
        do { try controller.bringUp() } catch {
            deployment.robot.finalize()
            throw error
        }
        let box = ControllerHandle(deployment: deployment, controller: controller)
        out.pointee = OpaquePointer(Unmanaged.passRetained(box).toOpaque())
    }
}

@_cdecl("reflex_controller_destroy")
public func reflex_controller_destroy(_ controller: OpaquePointer?) {
    guard let controller else { return }
    let box = Unmanaged<ControllerHandle>.fromOpaque(UnsafeRawPointer(controller))
    box.takeUnretainedValue().controller.shutdown()
    box.release()
}

@_cdecl("reflex_controller_load_policy")
public func reflex_controller_load_policy(_ controller: OpaquePointer?, _ name: UnsafePointer<CChar>?,
                                          _ directory: UnsafePointer<CChar>?) -> Int32 {
    guarded {
        let h = try handle(controller, ControllerHandle.self)
        try h.controller.loadPolicy(name: try string(name, "name"), directory: try string(directory, "directory"))
    }
}

@_cdecl("reflex_controller_start")
public func reflex_controller_start(_ controller: OpaquePointer?, _ name: UnsafePointer<CChar>?) -> Int32 {
    guarded {
        let h = try handle(controller, ControllerHandle.self)
        let deployment = h.deployment
        try deployment.resetRemoteSceneToNextEpisode()
        try h.controller.start(policy: try string(name, "name"), prepare: { try deployment.prepareEpisode() })
    }
}

@_cdecl("reflex_controller_stop")
public func reflex_controller_stop(_ controller: OpaquePointer?) -> Int32 {
    guarded { try handle(controller, ControllerHandle.self).controller.stop() }
}

@_cdecl("reflex_controller_emergency_stop")
public func reflex_controller_emergency_stop(_ controller: OpaquePointer?) {
    guard let controller else { return }
    Unmanaged<ControllerHandle>.fromOpaque(UnsafeRawPointer(controller)).takeUnretainedValue().controller.emergencyStop()
}

@_cdecl("reflex_controller_clear_emergency_stop")
public func reflex_controller_clear_emergency_stop(_ controller: OpaquePointer?) -> Int32 {
    guarded { try handle(controller, ControllerHandle.self).controller.clearEmergencyStop() }
}

/// What reflex_controller_status_json writes.
struct CStatusDocument: Encodable {
    var controller: ControllerStatus
    var task: TaskStatus?
}

@_cdecl("reflex_controller_status_json")
public func reflex_controller_status_json(_ controller: OpaquePointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int,
                                          _ length: UnsafeMutablePointer<Int>?) -> Int32 {
    guarded {
        let h = try handle(controller, ControllerHandle.self)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let bytes = Array(try enc.encode(CStatusDocument(controller: h.controller.status(), task: h.deployment.taskStatus())))
        length?.pointee = bytes.count
        guard let buffer, capacity > bytes.count else {
            throw argumentError("the status needs \(bytes.count + 1) bytes, the buffer holds \(capacity)")
        }
        for (i, b) in bytes.enumerated() { buffer[i] = CChar(bitPattern: b) }
        buffer[bytes.count] = 0
    }
}

@_cdecl("reflex_controller_task_succeeded")
public func reflex_controller_task_succeeded(_ controller: OpaquePointer?) -> Int32 {
    guard let controller else { return 0 }
    return Unmanaged<ControllerHandle>.fromOpaque(UnsafeRawPointer(controller)).takeUnretainedValue().deployment.taskSucceeded ? 1 : 0
}
