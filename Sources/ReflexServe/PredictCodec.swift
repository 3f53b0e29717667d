import HTTPTypes
import Hummingbird
import NIOCore
import ReflexCore
import ReflexPolicy

/// `POST /v1/predict` with `Content-Type: application/octet-stream`: the body is a safetensors file holding an F32
/// (or F16/BF16) tensor `observation` (n_obs_steps × observation_size, any shape with that many values); the other
/// fields come from the query (`?policy=lift&steps_executed=0&episode_start=true&seed=1`, and for chunks that join
/// under delay `steps_since_observation`, `committed`, `execution`) or the file's
/// `__metadata__`. The answer is a safetensors file with `action` (horizon × action_size, F32) and the figures in
/// its metadata — what `safetensors.torch.save`/`load` or any other implementation reads and writes.
enum PredictCodec {
    static func request(fromSafetensors bytes: [UInt8], query: [String: String]) throws -> PredictRequest {
        let file = try SafetensorsFile(bytes: bytes, name: "request body")
        guard file.contains("observation") else {
            throw APIError.badRequest("the safetensors body needs a tensor named 'observation' (it has: \(file.names.joined(separator: ", ")))")
        }
        let t = try file.tensor("observation")
        let observation = Array(UnsafeBufferPointer(start: t.data, count: t.count))
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
        return PredictRequest(policy: policy, observation: observation, stepsExecuted: try int("steps_executed") ?? 0,
                              episodeStart: episodeStart, seed: seed, stepsSinceObservation: try int("steps_since_observation"),
                              committed: try int("committed") ?? 0, execution: execution)
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
