import ArgumentParser
import Foundation
import Logging
import ReflexServe

/// `reflex serve`: the robot controller daemon — one arm, its safety layer and loop, the policies it may run, and
/// an HTTP/JSON + WebSocket API on a Unix socket (default) or loopback with a bearer token.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the robot controller daemon: HTTP/JSON API, WebSocket telemetry, metrics and a status page over one arm.",
        discussion: """
        Start-up configures the arm and leaves it inactive (torque off): nothing moves until POST /v1/episode/start. \
        SIGTERM or SIGINT stops the loop (the arm holds), then switches torque off as on_exit says, and exits 0. \
        `kill -USR1 <pid>` is an emergency stop. See docs/daemon.md and examples/serve-sim.yaml.
        """
    )

    @Option(help: "Daemon configuration (YAML: arm, policies, listen, rate, safety…).") var config: String
    @Option(help: "Override the config's listen address (unix:PATH or HOST:PORT).") var listen: String?
    @Flag(help: "Allow listening on an address other machines can reach (needs a token too).") var allowRemote = false
    @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).") var logLevel: Logger.Level = .info

    func run() async throws {
        var cfg = try ServeConfig.read(config)
        if let listen { cfg.listen = listen }
        let address = try ListenAddress(parsing: cfg.listen)
        let token = try cfg.tokenFile.map { try ServeSecurity.readToken($0) }
            ?? ProcessInfo.processInfo.environment["REFLEX_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        try ServeSecurity.check(address, token: token, allowRemote: allowRemote)

        let level = logLevel
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "reflex.serve")
        umask(0o077) // the socket and anything else the daemon creates: owner only
        try await ReflexDaemon.run(config: cfg, address: address, token: token, logger: logger)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
