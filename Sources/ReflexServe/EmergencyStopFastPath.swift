import HTTPTypes
import NIOCore
import NIOHTTPTypes
import ReflexCore

/// Engages the emergency stop on the NIO event loop as soon as the head of an authorized `POST /v1/estop` is
/// parsed — before the request joins whatever queue of handler tasks a load has built up on Swift's cooperative
/// pool. The request then continues to the router, which answers it (and logs the event) as usual; engaging twice
/// is harmless (the stop is a latched flag). The answer can lag under load; the stop does not.
final class EmergencyStopFastPath: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    let core: DaemonCore
    let token: [UInt8]?

    init(core: DaemonCore, token: String?) {
        self.core = core
        self.token = token.map { Array($0.utf8) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case let .head(head) = unwrapInboundIn(data), head.method == .post,
           let path = head.path, path == "/v1/estop" || path.hasPrefix("/v1/estop?"), authorized(head.headerFields) {
            core.engageEmergencyStopNow()
        }
        context.fireChannelRead(data)
    }

    private func authorized(_ headers: HTTPFields) -> Bool {
        guard let token else { return true }
        guard let h = headers[.authorization], h.lowercased().hasPrefix("bearer ") else { return false }
        return BearerAuthMiddleware.equal(Array(h.dropFirst(7).utf8), token)
    }
}
