import Foundation
import TestSupport
import Testing

@testable import ReflexServe

/// Where a Chromium lives ($REFLEX_CHROMIUM or PATH; `make test` installs Debian's chromium).
let chromiumPath: String? = TestPeers.chromium

/// A headless Chromium driven over the DevTools protocol (its WebSocket), with the test's own raw client.
final class HeadlessChromium: @unchecked Sendable {
    let process = Process()
    let profile: String
    var socket: RawHTTPClient.WebSocket?
    var nextID = 1

    init(path: String, url: String, profile: String) throws {
        self.profile = profile
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                             "--user-data-dir=\(profile)", "--remote-debugging-port=0", "--window-size=1280,860", url]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    deinit { close() }

    func close() {
        socket = nil
        if process.isRunning { process.terminate(); process.waitUntilExit() }
    }

    /// Connects to the page target whose URL contains `urlPart`.
    func attach(urlPart: String, timeout: Double = 20) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: profile + "/DevToolsActivePort", encoding: .utf8),
               let port = text.split(separator: "\n").first.flatMap({ Int($0) }) {
                let list = try? RawHTTPClient(endpoint: .tcp(port: port)).request("GET", "/json/list")
                if let list, let targets = try? JSONSerialization.jsonObject(with: Data(list.body)) as? [[String: Any]],
                   let page = targets.first(where: { ($0["type"] as? String) == "page" && (($0["url"] as? String) ?? "").contains(urlPart) }),
                   let ws = page["webSocketDebuggerUrl"] as? String, let r = ws.range(of: "/devtools/") {
                    let (status, socket) = try RawHTTPClient(endpoint: .tcp(port: port)).webSocket(String(ws[r.lowerBound...]))
                    guard status == 101, let socket else { throw RawHTTPClient.ClientError("DevTools upgrade: \(status)") }
                    self.socket = socket
                    return
                }
            }
            usleep(100_000)
        }
        throw RawHTTPClient.ClientError("no DevTools page target for \(urlPart)")
    }

    /// Sends one DevTools command and returns its `result`.
    func call(_ method: String, _ params: [String: Any] = [:]) throws -> [String: Any] {
        guard let socket else { throw RawHTTPClient.ClientError("not attached") }
        let id = nextID
        nextID += 1
        let message = try JSONSerialization.data(withJSONObject: ["id": id, "method": method, "params": params])
        try socket.sendText(String(decoding: message, as: UTF8.self))
        while true {
            let text = try socket.nextText(timeout: 20)
            guard let o = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], o["id"] as? Int == id else { continue }
            if let error = o["error"] { throw RawHTTPClient.ClientError("\(method): \(error)") }
            return o["result"] as? [String: Any] ?? [:]
        }
    }

    /// Evaluates a JavaScript expression in the page; returns its value.
    func evaluate(_ expression: String) throws -> Any? {
        let r = try call("Runtime.evaluate", ["expression": expression, "returnByValue": true])
        return (r["result"] as? [String: Any])?["value"]
    }
}

/// The status page in a real browser: headless Chromium opens it from a live daemon, runs its JavaScript (the
/// WebSocket stream), and the DOM shows live joint values and commands. Skipped where no Chromium is installed
/// (`make test` installs Debian's `chromium`); with CI set, a failure. With REFLEX_STATUS_SCREENSHOT=FILE.png it also saves a screenshot
/// (Benchmarks/serve_page.sh).
@Suite struct StatusPageBrowserTests {
    @Test(.enabled(if: TestPeers.runs(chromiumPath != nil), Comment(rawValue: TestPeers.skipReason("headless Chromium (apt-get install chromium)"))))
    func liveJointValuesAppearInTheDOM() async throws {
        let chromium = try #require(chromiumPath, Comment(rawValue: TestPeers.missing("chromium")))
        let d = try await LiveDaemon(preload: ["a"])
        #expect(try await d.post("/v1/episode/start", ["policy": "a"]).status == 200)
        guard case let .tcp(port) = d.client.endpoint else { return }
        let url = "http://127.0.0.1:\(port)/#token=\(LiveDaemon.token)"
        let profile = d.root + "/chromium-profile"
        let screenshot = ProcessInfo.processInfo.environment["REFLEX_STATUS_SCREENSHOT"]
        let (dom, frames): (String, Int) = try await blocking {
            let browser = try HeadlessChromium(path: chromium, url: url, profile: profile)
            defer { browser.close() }
            try browser.attach(urlPart: "127.0.0.1:\(port)")
            // Wait (real time) for the page to have rendered a few frames of the stream: about a second alone, but in
            // the full parallel suite on two cores Chromium is starved for tens of seconds (1 frame in 20 s once).
            var frames = 0
            let deadline = Date().addingTimeInterval(90)
            while frames < 10 && Date() < deadline {
                frames = Int(try browser.evaluate("Number(document.body.dataset.frames || 0)") as? Double ?? 0)
                usleep(50_000)
            }
            let dom = try browser.evaluate("document.documentElement.outerHTML") as? String ?? ""
            if let screenshot {
                let shot = try browser.call("Page.captureScreenshot", ["format": "png"])
                if let b64 = shot["data"] as? String, let png = Data(base64Encoded: b64) {
                    try png.write(to: URL(fileURLWithPath: screenshot))
                }
            }
            return (dom, frames)
        }
        #expect(frames >= 10)
        #expect(dom.contains("id=\"connection\" class=\"pill ok\">live<"), "\(dom.prefix(1500))")
        let rows = dom.matches(of: /<td class="pos" data-joint="([a-z_]+)">(-?\d+\.\d{3})<\/td><td class="cmd">(-?\d+\.\d{3}|—)<\/td>/)
        #expect(rows.count == 6, "joint rows: \(rows.map { String($0.1) })")
        #expect(rows.first.map { String($0.1) } == "shoulder_pan")
        #expect(rows.contains { $0.3 != "—" }) // commands are streaming while the episode runs
        // The values on the page are the arm's: within a few ticks' motion of what the daemon reads now.
        if let sample = d.core.controller.jointSample(), let first = rows.first, let shown = Double(first.2) {
            #expect(abs(shown - sample.position[0]) < 0.5)
        }
        #expect(dom.contains("id=\"lifecycle\" class=\"pill ok\">active<"))
        try await d.shutdown()
    }
}
