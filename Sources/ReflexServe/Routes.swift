import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import NIOCore
import ReflexCore
import ReflexPolicy
import ReflexRuntime

/// The request context of every route (WebSocket-capable).
public typealias ServeContext = BasicWebSocketRequestContext

/// `POST /v1/policies`.
public struct LoadPolicyRequest: Sendable, Codable, Equatable {
    public var name: String
    public var directory: String
}

/// `POST /v1/episode/start` and `POST /v1/policy/switch`.
public struct PolicyNameRequest: Sendable, Codable, Equatable {
    public var policy: String
}

/// What the policy routes answer.
public struct PolicySummary: Sendable, Codable, Equatable {
    public var name: String
    public var kind: String
    public var observationSize: Int
    public var actionSize: Int
    public var nObsSteps: Int
    public var horizon: Int
    public var nActionSteps: Int
    public var sampler: String?
    /// What `/v1/predict`'s safetensors body may name (`ObservationFeatures`): state vectors, and each camera with the
    /// uint8 frame it takes; empty when not given.
    public var inputs: [PolicyInput] = []

    init(name: String, config c: PolicyConfig, inputs: [PolicyInput] = []) {
        self.inputs = inputs
        self.name = name
        kind = c.kind.rawValue
        observationSize = c.observationSize
        actionSize = c.actionSize
        nObsSteps = c.nObsSteps
        horizon = c.horizon
        nActionSteps = c.nActionSteps
        sampler = c.sampler?.description
    }
}

/// One named input of a policy: `observation.state` F32 [S], or a camera `observation.images.<camera>` U8 [H, W, C].
public struct PolicyInput: Sendable, Codable, Equatable {
    public var name: String
    public var dtype: String
    public var shape: [Int]

    /// The inputs `features` decodes.
    static func list(_ features: ObservationFeatures) -> [PolicyInput] {
        features.vectors.map { PolicyInput(name: $0.name, dtype: "F32", shape: [$0.size]) }
            + features.cameras.map { PolicyInput(name: $0.name, dtype: "U8", shape: [$0.height, $0.width, $0.channels]) }
    }
}

/// The daemon's HTTP API: routes over `DaemonCore`, each one parse → validate → one call. Bodies are
/// size-limited and validated here, so a bad request is refused with a typed 4xx before anything reaches the loop.
public enum ServeRoutes {
    /// Every route of the HTTP router (method, path); the OpenAPI document must describe exactly these.
    public static func makeRouter(core: DaemonCore, token: String?) -> Router<ServeContext> {
        let router = Router(context: ServeContext.self)
        let limit = core.config.maxBodyBytes
        router.add(middleware: ErrorMiddleware(core: core))
        router.add(middleware: BearerAuthMiddleware(token: token))
        router.add(middleware: BodyLimitMiddleware(limit: limit))

        router.get("/") { _, _ in try Self.resource("index.html", type: "text/html; charset=utf-8") }
        router.get("/openapi.json") { _, _ in try Self.resource("openapi.json", type: "application/json") }
        router.get("/metrics") { _, _ in
            Self.text(core.metrics(), type: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("/v1/status") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try core.statusJSON())))
        }
        router.get("/v1/stream") { _, _ -> Response in
            throw APIError(.upgradeRequired, "upgrade_required", "/v1/stream is a WebSocket: send Connection: Upgrade, Upgrade: websocket")
        }
        router.post("/v1/policies") { request, _ in
            let body = try await Self.decode(LoadPolicyRequest.self, request, limit: limit)
            try Self.checkName(body.name)
            let (config, inputs) = try await core.loadPolicy(name: body.name, directory: body.directory)
            return try Self.json(PolicySummary(name: body.name, config: config, inputs: inputs), status: .created)
        }
        router.post("/v1/policy/switch") { request, _ in
            let body = try await Self.decode(PolicyNameRequest.self, request, limit: limit)
            try await core.switchPolicy(to: body.policy)
            return try Self.json(["switched_to": body.policy])
        }
        router.post("/v1/episode/start") { request, _ in
            let body = try await Self.decode(PolicyNameRequest.self, request, limit: limit)
            let report = try await core.start(policy: body.policy)
            return try Self.json(EpisodeStarted(policy: body.policy, realTime: report))
        }
        router.post("/v1/episode/stop") { request, _ in
            _ = try await request.body.collect(upTo: limit)
            try await core.stop()
            return try Self.json(["stopped": true])
        }
        router.post("/v1/steering") { request, _ in
            let body = try await Self.decode(SteeringChange.self, request, limit: limit)
            let (options, switched) = try await core.steer(policy: body.policy, change: body)
            return try Self.json(SteeringResult(policy: body.policy, steering: options, switchedRunningLoop: switched))
        }
        router.post("/v1/estop") { _, _ in
            // No body is read and nothing is awaited: an atomic store, then the answer.
            let engagedAt = core.emergencyStopEngagedAt
            core.emergencyStop()
            return try Self.json(EmergencyStopAnswer(emergencyStop: true, engagedAtNs: engagedAt > 0 ? engagedAt : monotonicNanoseconds()))
        }
        router.post("/v1/estop/clear") { request, _ in
            _ = try await request.body.collect(upTo: limit)
            try await core.clearEmergencyStop()
            return try Self.json(["emergency_stop": false])
        }
        router.post("/v1/predict") { request, _ in
            if Self.isOctetStream(request) {
                let bytes = try await request.body.collect(upTo: limit)
                let r = try PredictCodec.request(fromSafetensors: Array(bytes.readableBytesView), query: Self.query(request))
                let response = try await core.predict(r)
                return try PredictCodec.safetensorsResponse(response)
            }
            let body = try await Self.decode(PredictRequest.self, request, limit: limit)
            return try Self.json(try await core.predict(body))
        }
        return router
    }

    /// The router consulted for WebSocket upgrades: `/v1/stream`, behind the same token.
    public static func makeWebSocketRouter(core: DaemonCore, token: String?) -> Router<ServeContext> {
        let router = Router(context: ServeContext.self)
        router.add(middleware: ErrorMiddleware(core: core))
        router.add(middleware: BearerAuthMiddleware(token: token))
        router.ws("/v1/stream") { inbound, outbound, _ in
            try await TelemetryStream(core: core).run(inbound: inbound, outbound: outbound)
        }
        return router
    }

    // MARK: Helpers

    /// `engaged_at_ns`: CLOCK_MONOTONIC time the stop took effect (the event loop's fast path), for clients on this
    /// machine to measure how fast it engaged even when the answer itself waited behind a load.
    struct EmergencyStopAnswer: Codable { var emergencyStop: Bool; var engagedAtNs: UInt64 }
    struct EpisodeStarted: Codable { var policy: String; var realTime: RealTimeReport }
    struct SteeringResult: Codable { var policy: String; var steering: SteeringOptions; var switchedRunningLoop: Bool }

    static func checkName(_ name: String) throws {
        guard !name.isEmpty, name.count <= 64, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }),
              name != ".", name != ".." else {
            throw APIError.badRequest("policy names are 1–64 ASCII letters, digits, '-', '_' or '.', and not '.' or '..', got '\(name)'")
        }
    }

    static func query(_ request: Request) -> [String: String] {
        var out: [String: String] = [:]
        for (k, v) in request.uri.queryParameters where out[String(k)] == nil { out[String(k)] = String(v) }
        return out
    }

    static func isOctetStream(_ request: Request) -> Bool {
        request.headers[.contentType]?.lowercased().hasPrefix("application/octet-stream") == true
    }

    /// Reads and decodes a JSON body: 415 for another content type, 413 past the limit, 400 for malformed JSON.
    static func decode<T: Decodable>(_ type: T.Type, _ request: Request, limit: Int) async throws -> T {
        if let ct = request.headers[.contentType], !ct.lowercased().hasPrefix("application/json") {
            // Strict on purpose: a browser page elsewhere can send form-encoded or text/plain bodies cross-origin
            // without a preflight, never application/json.
            throw APIError(.unsupportedMediaType, "unsupported_media_type", "send JSON with Content-Type: application/json (curl: -H 'content-type: application/json'), got '\(ct)'")
        }
        let buffer = try await request.body.collect(upTo: limit)
        guard buffer.readableBytes > 0 else { throw APIError.badRequest("the request needs a JSON body") }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let e as DecodingError {
            throw APIError.badRequest("malformed JSON: \(APIError.describe(e))")
        }
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try DaemonJSON.encoder.encode(value)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func text(_ text: String, type: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func resource(_ name: String, type: String) throws -> Response {
        guard let bytes = ServeResources.bytes(name) else {
            throw APIError(.serviceUnavailable, "missing_resource", "\(name) was not installed with the daemon (Reflex_ReflexServe.resources next to the executable)")
        }
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// Turns every thrown error into a typed JSON refusal and counts it.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = ServeContext
    let core: DaemonCore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let e: APIError
            if error is NIOTooManyBytesError {
                e = APIError(.contentTooLarge, "too_large", "the request body is larger than max_body_bytes (\(core.config.maxBodyBytes))")
            } else {
                e = APIError.from(error)
            }
            core.countRefusal(Int(e.status.code))
            if e.status.code >= 500 { context.logger.error("\(request.method) \(request.uri.path): \(e.reason)") }
            return try e.response(from: request, context: context)
        }
    }
}

/// Bearer-token check (constant time). `/` and `/openapi.json` are public (a page and a document, no data); the
/// WebSocket also takes `?access_token=` because browsers cannot set headers on one.
struct BearerAuthMiddleware: RouterMiddleware {
    typealias Context = ServeContext
    let token: [UInt8]?

    init(token: String?) { self.token = token.map { Array($0.utf8) } }

    static let publicPaths: Set<String> = ["/", "/openapi.json"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token, !Self.publicPaths.contains(request.uri.path) else { return try await next(request, context) }
        var offered: Substring?
        if let h = request.headers[.authorization], h.lowercased().hasPrefix("bearer ") {
            offered = h.dropFirst(7)
        } else if request.uri.path == "/v1/stream" {
            offered = request.uri.queryParameters["access_token"]
        }
        guard let offered, Self.equal(Array(offered.utf8), token) else { throw APIError.unauthorized }
        return try await next(request, context)
    }

    /// Compares without an early exit, so timing does not tell how much of a guess was right.
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0 ..< max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return diff == 0
    }
}

/// Refuses a declared body over the limit before reading it (chunked bodies are cut at the limit when read).
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = ServeContext
    let limit: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw APIError(.contentTooLarge, "too_large", "the request body (\(length) bytes) is larger than max_body_bytes (\(limit))")
        }
        return try await next(request, context)
    }
}
