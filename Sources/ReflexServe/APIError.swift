import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ReflexCore
import ReflexPolicy
import ReflexRobot

/// A refused request: an HTTP status and a JSON body `{"error": "...", "reason": "..."}`. `error` is a stable
/// machine-readable kind; `reason` says what was wrong in words. Every refusal happens before anything reaches
/// the control loop.
public struct APIError: Error, HTTPResponseError, Sendable, Equatable {
    public var status: HTTPResponse.Status
    public var error: String
    public var reason: String

    public init(_ status: HTTPResponse.Status, _ error: String, _ reason: String) {
        self.status = status
        self.error = error
        self.reason = reason
    }

    public static func badRequest(_ reason: String) -> APIError { APIError(.badRequest, "bad_request", reason) }
    public static func notFound(_ reason: String) -> APIError { APIError(.notFound, "not_found", reason) }
    public static func conflict(_ reason: String) -> APIError { APIError(.conflict, "conflict", reason) }
    public static func forbidden(_ reason: String) -> APIError { APIError(.forbidden, "forbidden", reason) }
    public static let unauthorized = APIError(.unauthorized, "unauthorized", "a valid bearer token is required (Authorization: Bearer TOKEN)")

    /// Maps the runtime's typed errors onto statuses: unknown names and missing files are 404, a request at the
    /// wrong moment (an episode running, the e-stop engaged) is 409, shapes and invalid policies are 422.
    public init(_ e: ReflexError) {
        let reason = e.description
        switch e.code {
        case .fileNotFound: self.init(.notFound, "not_found", reason)
        case .invalidTransition: self.init(.conflict, "conflict", reason)
        case .shapeMismatch: self.init(.unprocessableContent, "shape_mismatch", reason)
        case .invalidPolicy: self.init(.unprocessableContent, "invalid_policy", reason)
        case .invalidArgument where e.message.hasPrefix("no policy"): self.init(.notFound, "unknown_policy", reason)
        case .invalidArgument, .invalidValue: self.init(.badRequest, "invalid_value", reason)
        case .device, .io: self.init(.serviceUnavailable, "device", reason)
        default:
            let code = e.code.rawValue
            if code.hasPrefix("yaml") || code.hasPrefix("safetensors") {
                self.init(.unprocessableContent, "invalid_file", reason)
            } else {
                self.init(.internalServerError, "internal", reason)
            }
        }
    }

    /// Any error a handler threw, as an APIError.
    static func from(_ error: any Error) -> APIError {
        if let e = error as? APIError { return e }
        if let e = error as? ReflexError { return APIError(e) }
        if let e = error as? HTTPError {
            if e.status == .contentTooLarge { return APIError(.contentTooLarge, "too_large", e.body ?? "request body too large") }
            return APIError(e.status, "http", e.body ?? "\(e.status)")
        }
        if let e = error as? DecodingError { return .badRequest("malformed JSON: \(describe(e))") }
        return APIError(.internalServerError, "internal", "\(error)")
    }

    static func describe(_ e: DecodingError) -> String {
        func path(_ c: [any CodingKey]) -> String {
            c.isEmpty ? "the body" : c.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch e {
        case let .keyNotFound(key, ctx): return "missing key '\(path(ctx.codingPath + [key]))'"
        case let .typeMismatch(_, ctx), let .valueNotFound(_, ctx): return "wrong type at \(path(ctx.codingPath)): \(ctx.debugDescription)"
        case let .dataCorrupted(ctx): return "\(path(ctx.codingPath)): \(ctx.debugDescription)"
        @unknown default: return "\(e)"
        }
    }

    struct Body: Codable { var error: String; var reason: String }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"reflex\"" }
        let data = (try? JSONEncoder().encode(Body(error: error, reason: reason))) ?? Data("{}".utf8)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
