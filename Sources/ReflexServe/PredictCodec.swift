import HTTPTypes
import Hummingbird
import NIOCore
import ReflexCore
import ReflexPolicy

/// `POST /v1/predict` with `Content-Type: application/octet-stream`: the body is a safetensors file holding an F32
/// (or F16/BF16) tensor `observation` (n_obs_steps × observation_size, any shape with that many values), or the
/// named inputs LeRobot's pipeline takes (`observation.state`, `observation.environment_state`, each camera as
/// `observation.images.<camera>`: U8 [H, W, 3] or F32 [3, H, W] in [0, 1]; see `ObservationFeatures`); the other
/// fields come from the query (`?policy=lift&steps_executed=0&episode_start=true&seed=1`, and for chunks that join
/// under delay `steps_since_observation`, `committed`, `execution`) or the file's
/// `__metadata__`. The answer is a safetensors file with `action` (horizon × action_size, F32) and the figures in
/// its metadata — what `safetensors.torch.save`/`load` or any other implementation reads and writes.
enum PredictCodec {
    static func request(fromSafetensors bytes: [UInt8], query: [String: String]) throws -> PredictRequest {
        let file = try SafetensorsFile(bytes: bytes, name: "request body")
        var observation: [Float] = []
        var features: [String: FeatureTensor] = [:]
        if file.contains("observation") {
            guard file.names.count == 1 else {
                throw APIError.badRequest("send either 'observation' (the raw row) or the named inputs (observation.state, observation.images.<camera>, …), not both (the body has: \(file.names.joined(separator: ", ")))")
            }
            let t = try file.tensor("observation")
            observation = Array(UnsafeBufferPointer(start: t.data, count: t.count))
        } else {
            guard !file.names.isEmpty else {
                throw APIError.badRequest("the safetensors body needs 'observation' (the raw row) or the named inputs: observation.state, observation.environment_state, observation.images.<camera>")
            }
            for name in file.names {
                do { features[name] = try FeatureTensor(file, name) } catch let e as ReflexError { throw APIError.badRequest(e.message) }
            }
        }
        func field(_ key: String) -> String? { query[key] ?? file.metadata[key] }
        guard let policy = field("policy") else {
            throw APIError.badRequest("name the policy: ?policy=NAME or __metadata__ {\"policy\": NAME}")
        }
        func int(_ key: String) throws -> Int? {
            guard let s = field(key) else { return nil }
            guard let v = Int(s) else { throw APIError.badRequest("\(key) must be an integer, got '\(s)'") }
            return v
        }
        var episodeStart = false
        if let s = field("episode_start") {
            guard let b = ["true": true, "1": true, "false": false, "0": false][s.lowercased()] else {
                throw APIError.badRequest("episode_start must be true or false, got '\(s)'")
            }
            episodeStart = b
        }
        var seed: UInt64?
        if let s = field("seed") {
            guard let v = UInt64(s) else { throw APIError.badRequest("seed must be a non-negative integer, got '\(s)'") }
            seed = v
        }
        var execution: ExecutionStrategy?
        if let s = field("execution") {
            do { execution = try ExecutionStrategy(parsing: s) } catch let e as ReflexError { throw APIError.badRequest(e.message) }
        }
        var r = PredictRequest(policy: policy, observation: observation, stepsExecuted: try int("steps_executed") ?? 0,
                               episodeStart: episodeStart, seed: seed, stepsSinceObservation: try int("steps_since_observation"),
                               committed: try int("committed") ?? 0, execution: execution)
        r.features = features
        return r
    }

    static func safetensorsResponse(_ r: PredictResponse) throws -> Response {
        let flat = r.actions.flatMap { $0 }
        let bytes = try safetensorsBytes([("action", Tensor(shape: [r.horizon, r.actionSize], values: flat))], metadata: [
            "policy": r.policy, "n_obs_steps": "\(r.nObsSteps)", "n_action_steps": "\(r.nActionSteps)",
            "network_evaluations": "\(r.networkEvaluations)", "warm_started": "\(r.warmStarted)",
            "inference_us": "\(r.inferenceMicroseconds)",
        ])
        var headers = HTTPFields()
        headers[.contentType] = "application/octet-stream"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
