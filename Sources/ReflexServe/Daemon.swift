import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import ReflexCore
import ReflexRobot
import ServiceLifecycle

/// Who may listen where: a Unix socket (0600, the owner only) needs nothing more; TCP on loopback needs a bearer
/// token; any other address needs the explicit `--allow-remote` flag as well as the token (plain HTTP: put TLS in
/// front of it).
public enum ServeSecurity {
    public static func check(_ address: ListenAddress, token: String?, allowRemote: Bool) throws {
        if let token, token.utf8.count < 16 || token.contains(where: { $0.isWhitespace }) {
            throw ReflexError(.invalidValue, "the bearer token must be at least 16 characters without spaces", at: .init(keyPath: "token_file"))
        }
        guard case .tcp = address else { return }
        guard token != nil else {
            throw ReflexError(.invalidValue, "listening on TCP (\(address)) needs a bearer token: set token_file in the config or REFLEX_TOKEN (e.g. `head -c 24 /dev/urandom | base64 > token; chmod 600 token`)", at: .init(keyPath: "listen"))
        }
        if !address.isLocal && !allowRemote {
            throw ReflexError(.invalidValue, "\(address) is reachable from other machines; pass --allow-remote to mean it (the API moves an arm)", at: .init(keyPath: "listen"))
        }
    }

    /// Reads a token file, refusing one that others can read.
    public static func readToken(_ path: String) throws -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { throw ReflexError(.fileNotFound, "cannot read the token file", at: .init(file: path)) }
        guard st.st_mode & 0o077 == 0 else {
            throw ReflexError(.invalidValue, "the token file is readable by others (mode \(String(st.st_mode & 0o777, radix: 8))); chmod 600 it", at: .init(file: path))
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw ReflexError(.io, "cannot read the token file", at: .init(file: path)) }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Keeps the loop's events flowing into the log while the daemon runs; on shutdown (SIGTERM/SIGINT through
/// swift-service-lifecycle) it stops the arm safely before the HTTP server goes: it is the last service of the
/// group, so the first one shut down.
struct ControllerService: Service {
    let core: DaemonCore

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            core.pumpEvents()
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        core.pumpEvents()
        await core.safeStop()
    }
}

/// The robot controller daemon: HTTP/JSON API, WebSocket stream, status page and metrics over one `DaemonCore`.
public enum ReflexDaemon {
    /// The HTTP application (tests run it inside their own service group). `onRunning` gets the bound TCP port
    /// (nil on a Unix socket) once the server accepts connections.
    public static func application(core: DaemonCore, address: ListenAddress, token: String?, logger: Logger,
                                   onRunning: @escaping @Sendable (Int?) async -> Void = { _ in }) -> some ApplicationProtocol {
        let bind: BindAddress
        switch address {
        case let .unix(path): bind = .unixDomainSocket(path: path)
        case let .tcp(host, port): bind = .hostname(host, port: port)
        }
        let router = ServeRoutes.makeRouter(core: core, token: token)
        let wsRouter = ServeRoutes.makeWebSocketRouter(core: core, token: token)
        return Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: wsRouter, configuration: .init(
                http1: .init(additionalChannelHandlers: [EmergencyStopFastPath(core: core, token: token)]),
                ws: .init(maxFrameSize: 1 << 16))),
            configuration: .init(address: bind, serverName: "reflex"),
            onServerRunning: { channel in
                if case let .unix(path) = address {
                    // Only the owner may connect (connect(2) needs write permission on the socket file).
                    chmod(path, 0o600)
                }
                await onRunning(channel.localAddress?.port)
            },
            logger: logger
        )
    }

    /// Removes a stale socket file left by a daemon that died (kill -9); refuses when a daemon still answers there.
    public static func prepareSocket(_ address: ListenAddress) throws {
        guard case let .unix(path) = address else { return }
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            throw ReflexError(.invalidValue, "\(path) exists and is not a socket", at: .init(keyPath: "listen"))
        }
        if UnixSocketProbe.answers(path) {
            throw ReflexError(.invalidTransition, "another daemon is listening on \(path)", at: .init(keyPath: "listen"))
        }
        unlink(path)
    }

    /// The whole daemon of `config`: opens and configures its arm (left inactive: nothing moves until an episode
    /// starts), installs SIGUSR1 as the emergency stop, serves until SIGTERM or SIGINT, then stops the arm safely.
    public static func run(config: ServeConfig, address: ListenAddress, token: String?, logger: Logger) async throws {
        let core = try DaemonCore(config: config, logger: logger)
        let arm = core.controller.robot
        EmergencyStopSignal.install()
        do {
            try core.bringUp()
        } catch {
            arm.finalize()
            throw error
        }
        logger.notice("\(arm.name) is \(arm.lifecycle): nothing moves until POST /v1/episode/start")
        logger.notice("listening on \(address)\(token == nil ? "" : " (bearer token required)"); pid \(getpid()); kill -USR1 for an emergency stop")
        try await run(core: core, address: address, token: token, logger: logger) { port in
            if let port { logger.notice("bound TCP port \(port)") }
        }
        logger.notice("exited cleanly: \(arm.name) is \(arm.lifecycle)")
    }

    /// Runs the daemon until SIGTERM or SIGINT, then stops the arm safely (as `on_exit` says) and returns.
    public static func run(core: DaemonCore, address: ListenAddress, token: String?, logger: Logger,
                           onRunning: @escaping @Sendable (Int?) async -> Void = { _ in }) async throws {
        try prepareSocket(address)
        let app = application(core: core, address: address, token: token, logger: logger, onRunning: onRunning)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: app), .init(service: ControllerService(core: core))],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        if case let .unix(path) = address { unlink(path) }
    }
}

/// Whether something accepts connections on a Unix socket.
enum UnixSocketProbe {
    static func answers(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return r == 0
    }
}
