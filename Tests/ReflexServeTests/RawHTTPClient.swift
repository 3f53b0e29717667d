#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A deliberately small HTTP/1.1 client over a real socket (TCP on loopback or a Unix socket), independent of the
/// server's own stack: it writes the request bytes itself, reads the whole response (`Connection: close`), and can
/// upgrade to a WebSocket and read server frames. Blocking calls: tests run them off the cooperative pool.
struct RawHTTPClient: Sendable {
    enum Endpoint { case tcp(port: Int), unix(path: String) }

    struct Response {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        func json() throws -> [String: Any] {
            guard let o = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
                throw ClientError("not a JSON object: \(text)")
            }
            return o
        }
    }

    struct ClientError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    let endpoint: Endpoint
    var token: String?

    func connect() throws -> Int32 {
        switch endpoint {
        case let .tcp(port):
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw ClientError("socket: \(errno)") }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let r = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard r == 0 else { close(fd); throw ClientError("connect 127.0.0.1:\(port): errno \(errno)") }
            return fd
        case let .unix(path):
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw ClientError("socket: \(errno)") }
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
            let r = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard r == 0 else { close(fd); throw ClientError("connect \(path): errno \(errno)") }
            return fd
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, bytes.count - off) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE || errno == ECONNRESET { return } // the server refused early and closed
                throw ClientError("write: errno \(errno)")
            }
            off += n
        }
    }

    static func readSome(_ fd: Int32, timeout: Double = 30) throws -> [UInt8] {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(timeout * 1000)) > 0 else { throw ClientError("read timed out") }
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, 65536) }
        if n < 0 { if errno == ECONNRESET { return [] }; throw ClientError("read: errno \(errno)") }
        return Array(buf[0 ..< n])
    }

    func head(_ method: String, _ path: String, headers: [String: String], bodyLength: Int?, closing: Bool) -> [UInt8] {
        var lines = ["\(method) \(path) HTTP/1.1", "Host: localhost"]
        if closing { lines.append("Connection: close") }
        if let token { lines.append("Authorization: Bearer \(token)") }
        for (k, v) in headers.sorted(by: { $0.key < $1.key }) { lines.append("\(k): \(v)") }
        if let bodyLength { lines.append("Content-Length: \(bodyLength)") }
        return Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    }

    /// One request on its own connection.
    func request(_ method: String, _ path: String, body: [UInt8]? = nil, contentType: String? = "application/json",
                 headers: [String: String] = [:]) throws -> Response {
        let fd = try connect()
        defer { close(fd) }
        var h = headers
        if body != nil, let contentType { h["Content-Type"] = contentType }
        try Self.writeAll(fd, head(method, path, headers: h, bodyLength: body.map(\.count) ?? (method == "POST" ? 0 : nil), closing: true))
        if let body { try Self.writeAll(fd, body) }
        var data: [UInt8] = []
        while true {
            let chunk = try Self.readSome(fd)
            if chunk.isEmpty { break }
            data += chunk
            // Done when a Content-Length body is complete (some servers keep the connection open anyway).
            if let r = try? Self.parse(data), let n = r.headers["content-length"].flatMap({ Int($0) }), r.body.count >= n { return r }
        }
        return try Self.parse(data)
    }

    func json(_ method: String, _ path: String, _ object: Any) throws -> Response {
        try request(method, path, body: Array(try JSONSerialization.data(withJSONObject: object)))
    }

    static func parse(_ data: [UInt8]) throws -> Response {
        guard let end = data.firstRange(of: [13, 10, 13, 10]) else { throw ClientError("no response head in \(data.count) bytes") }
        let head = String(decoding: data[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let parts = head[0].split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw ClientError("bad status line \(head[0])") }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            if let c = line.firstIndex(of: ":") {
                headers[line[..<c].lowercased()] = line[line.index(after: c)...].trimmingCharacters(in: .whitespaces)
            }
        }
        var body = Array(data[end.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" { body = try dechunk(body) }
        return Response(status: status, headers: headers, body: body)
    }

    static func dechunk(_ b: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = [], i = 0
        while i < b.count {
            guard let eol = b[i...].firstRange(of: [13, 10]) else { break }
            guard let n = Int(String(decoding: b[i ..< eol.lowerBound], as: UTF8.self), radix: 16) else { throw ClientError("bad chunk") }
            if n == 0 { break }
            out += b[eol.upperBound ..< eol.upperBound + n]
            i = eol.upperBound + n + 2
        }
        return out
    }

    /// A WebSocket: the upgrade's status, then text frames as they come.
    final class WebSocket: @unchecked Sendable {
        let fd: Int32
        var pending: [UInt8]
        init(fd: Int32, pending: [UInt8]) { self.fd = fd; self.pending = pending }
        deinit { close(fd) }

        /// Sends a text frame (client frames are masked, RFC 6455 §5.3).
        func sendText(_ text: String) throws {
            let payload = Array(text.utf8)
            var frame: [UInt8] = [0x81]
            if payload.count < 126 {
                frame.append(0x80 | UInt8(payload.count))
            } else if payload.count < 65536 {
                frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
            } else {
                frame.append(0x80 | 127)
                for k in (0 ..< 8).reversed() { frame.append(UInt8((payload.count >> (8 * k)) & 0xFF)) }
            }
            let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
            frame += mask
            for (i, b) in payload.enumerated() { frame.append(b ^ mask[i % 4]) }
            try RawHTTPClient.writeAll(fd, frame)
        }

        /// The next text frame's payload (server frames are unmasked).
        func nextText(timeout: Double = 10) throws -> String {
            while true {
                if let (opcode, payload, used) = Self.frame(pending) {
                    pending.removeFirst(used)
                    if opcode == 1 { return String(decoding: payload, as: UTF8.self) }
                    if opcode == 8 { throw ClientError("closed by the server") }
                    continue
                }
                let more = try RawHTTPClient.readSome(fd, timeout: timeout)
                if more.isEmpty { throw ClientError("connection closed") }
                pending += more
            }
        }

        static func frame(_ b: [UInt8]) -> (UInt8, [UInt8], Int)? {
            guard b.count >= 2 else { return nil }
            let opcode = b[0] & 0x0F
            var len = Int(b[1] & 0x7F), off = 2
            if len == 126 {
                guard b.count >= 4 else { return nil }
                len = Int(b[2]) << 8 | Int(b[3]); off = 4
            } else if len == 127 {
                guard b.count >= 10 else { return nil }
                len = (2 ..< 10).reduce(0) { $0 << 8 | Int(b[$1]) }; off = 10
            }
            guard b.count >= off + len else { return nil }
            return (opcode, Array(b[off ..< off + len]), off + len)
        }
    }

    /// Upgrades `path` to a WebSocket; returns the HTTP status and, on 101, the socket.
    func webSocket(_ path: String) throws -> (Int, WebSocket?) {
        let fd = try connect()
        try Self.writeAll(fd, head("GET", path, headers: [
            "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        ], bodyLength: nil, closing: false))
        var data: [UInt8] = []
        while data.firstRange(of: [13, 10, 13, 10]) == nil {
            let more = try Self.readSome(fd)
            if more.isEmpty { break }
            data += more
        }
        guard let end = data.firstRange(of: [13, 10, 13, 10]) else { close(fd); throw ClientError("no upgrade response") }
        let status = Int(String(decoding: data[..<end.lowerBound], as: UTF8.self).split(separator: " ")[1]) ?? 0
        guard status == 101 else { close(fd); return (status, nil) }
        return (101, WebSocket(fd: fd, pending: Array(data[end.upperBound...])))
    }
}
