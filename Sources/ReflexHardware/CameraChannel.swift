// The camera side channel over Unix datagram sockets: the scene side (`CameraPublisher`, bound at a path such as
// /tmp/so101.cam) sends estimates to every subscriber; a runner (`CameraSubscriber`) reads the newest without
// blocking each tick and asks for episode resets. Datagrams keep message boundaries, so a reader never sees half
// an estimate, and a slow reader loses old estimates rather than falling behind.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore

/// A Unix-domain address with its significant length.
struct UnixAddress {
    var storage = sockaddr_un()
    var length: socklen_t = 0

    init() {}

    init(path: String) throws {
        storage.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: storage.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else {
            throw ReflexError(.invalidArgument, "socket path must be 1…\(capacity - 1) bytes", at: .init(file: path))
        }
        withUnsafeMutableBytes(of: &storage.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
    }

    func same(as other: UnixAddress) -> Bool {
        guard length == other.length else { return false }
        var a = storage, b = other.storage
        return withUnsafeBytes(of: &a) { pa in
            withUnsafeBytes(of: &b) { pb in pa.prefix(Int(length)).elementsEqual(pb.prefix(Int(length))) }
        }
    }
}

func datagramSocket() throws -> Int32 {
    #if canImport(Glibc)
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
    #else
    let fd = socket(AF_UNIX, SOCK_DGRAM, 0)
    #endif
    guard fd >= 0 else { throw ReflexError(.io, "cannot create a Unix datagram socket (errno \(errno))") }
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    return fd
}

func bindSocket(_ fd: Int32, _ address: inout UnixAddress) -> Int32 {
    let len = address.length
    return withUnsafePointer(to: &address.storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
    }
}

/// The scene side of the camera channel (the simulator of `reflex emulate --sim … --camera PATH`, or a real pose
/// estimator's process): publishes estimates to every subscriber and takes reset requests.
public final class CameraPublisher: @unchecked Sendable { // one thread at a time
    public let path: String
    private let fd: Int32
    private var subscribers: [UnixAddress] = []
    // Allocated once the socket is bound: an init that throws before then would leak it (no deinit runs).
    private let buffer: UnsafeMutableRawBufferPointer
    /// Datagrams refused as malformed, and the last reason.
    public private(set) var malformed = 0
    public private(set) var lastError: CameraDatagramError?
    /// At most this many subscribers are kept (the newest win).
    public var maximumSubscribers = 8

    /// Binds a datagram socket at `path` (a stale socket file there is replaced; any other file is an error).
    /// - Warning: Not real-time safe.
    public init(path: String) throws {
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFSOCK else {
                throw ReflexError(.deviceBusy, "\(path) exists and is not a socket", at: .init(file: path))
            }
            unlink(path)
        }
        var address = try UnixAddress(path: path)
        fd = try datagramSocket()
        guard bindSocket(fd, &address) == 0 else {
            let e = errno
            sysClose(fd)
            throw ReflexError(.io, "cannot bind the camera channel at \(path) (errno \(e))", at: .init(file: path))
        }
        self.path = path
        buffer = .allocate(byteCount: 256, alignment: 8)
    }

    deinit {
        sysClose(fd)
        unlink(path)
        buffer.deallocate()
    }

    public var subscriberCount: Int { subscribers.count }

    /// Sends `estimate` to every subscriber; one that is gone is dropped.
    public func publish(_ estimate: CameraEstimate) { send(.estimate(estimate)) }

    private func send(_ message: CameraMessage) {
        let n = message.encode(into: buffer)
        var k = 0
        while k < subscribers.count {
            var a = subscribers[k]
            let length = a.length // read before the address is borrowed, not inside the borrow
            let sent = withUnsafePointer(to: &a.storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, buffer.baseAddress, n, 0, $0, length) }
            }
            if sent < 0 && (errno == ECONNREFUSED || errno == ENOENT) {
                subscribers.remove(at: k)
            } else {
                k += 1
            }
        }
    }

    /// Reads pending requests: subscriptions are recorded here; the first reset request is returned (call again
    /// for more). Malformed datagrams are counted and skipped.
    public func nextReset() -> (episode: UInt32, seed: UInt64)? {
        while true {
            var from = UnixAddress()
            var len = socklen_t(MemoryLayout<sockaddr_un>.size)
            let n = withUnsafeMutablePointer(to: &from.storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, buffer.baseAddress, buffer.count, 0, $0, &len) }
            }
            guard n >= 0 else { return nil }
            from.length = len
            do {
                let message = try CameraMessage.decode(UnsafeRawBufferPointer(rebasing: buffer[0 ..< n]))
                switch message {
                case .subscribe:
                    subscribe(from)
                case .reset(let episode, let seed):
                    subscribe(from)
                    return (episode, seed)
                case .estimate, .resetDone:
                    malformed += 1
                    lastError = .unknownKind(message.kind) // a runner never sends these
                }
            } catch {
                malformed += 1
                lastError = error
            }
        }
    }

    private func subscribe(_ address: UnixAddress) {
        guard address.length > socklen_t(MemoryLayout<sa_family_t>.size) else { return } // unnamed: cannot answer
        if subscribers.contains(where: { $0.same(as: address) }) { return }
        subscribers.append(address)
        if subscribers.count > maximumSubscribers { subscribers.removeFirst() }
    }

    /// Tells subscribers the scene of `episode` is in place.
    public func acknowledgeReset(episode: UInt32, seed: UInt64) { send(.resetDone(episode: episode, seed: seed)) }
}

/// The runner side of the camera channel: keeps the newest estimate, read without blocking, and asks the scene for
/// resets between episodes.
public final class CameraSubscriber: @unchecked Sendable {
    public let path: String
    private let fd: Int32
    // Allocated once the channel is connected: an init that throws before then would leak them (no deinit runs).
    private let buffer: UnsafeMutableRawBufferPointer
    private let out: UnsafeMutableRawBufferPointer
    /// The newest estimate received (by sequence number), if any.
    public private(set) var latest: CameraEstimate?
    /// The last reset the scene acknowledged.
    public private(set) var acknowledged: (episode: UInt32, seed: UInt64)?
    public private(set) var received = 0
    /// Datagrams refused as malformed, and the last reason.
    public private(set) var malformed = 0
    public private(set) var lastError: CameraDatagramError?

    /// Connects to the scene's socket at `path` and subscribes.
    /// - Warning: Not real-time safe.
    public init(path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw ReflexError(.deviceNotFound, "no camera channel at \(path) (start the scene side first, e.g. reflex emulate --sim lift --camera \(path))",
                              at: .init(file: path))
        }
        var server = try UnixAddress(path: path)
        let fd = try datagramSocket()
        #if os(Linux)
        // Autobind: the kernel names this socket in the abstract namespace, so the scene can answer and nothing is
        // left on disk.
        var mine = UnixAddress()
        mine.storage.sun_family = sa_family_t(AF_UNIX)
        mine.length = socklen_t(MemoryLayout<sa_family_t>.size)
        #else
        var mine = try UnixAddress(path: path + ".\(getpid())")
        unlink(path + ".\(getpid())")
        #endif
        let serverLength = server.length
        let connected = withUnsafePointer(to: &server.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in
                bindSocket(fd, &mine) == 0 && connect(fd, p, serverLength) == 0
            }
        }
        guard connected else {
            let e = errno
            sysClose(fd)
            throw ReflexError(.deviceUnavailable, "cannot connect to the camera channel at \(path) (errno \(e))",
                              at: .init(file: path))
        }
        self.fd = fd
        self.path = path
        buffer = .allocate(byteCount: 256, alignment: 8)
        out = .allocate(byteCount: 256, alignment: 8)
        send(.subscribe)
    }

    deinit {
        sysClose(fd)
        buffer.deallocate()
        out.deallocate()
    }

    private func send(_ message: CameraMessage) {
        let n = message.encode(into: out)
        _ = sysWrite(fd, out.baseAddress!, n)
    }

    /// Drains the socket without blocking; returns true if a newer estimate arrived.
    /// - Note: Real-time safe.
    @discardableResult
    public func poll() -> Bool {
        var newer = false
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            guard n >= 0 else { return newer }
            do {
                switch try CameraMessage.decode(UnsafeRawBufferPointer(rebasing: buffer[0 ..< n])) {
                case .estimate(let e):
                    received += 1
                    if latest.map({ e.sequence > $0.sequence || e.episode != $0.episode }) ?? true {
                        latest = e
                        newer = true
                    }
                case .resetDone(let episode, let seed):
                    acknowledged = (episode, seed)
                case .subscribe, .reset:
                    malformed += 1
                    lastError = .unknownKind(2)
                }
            } catch {
                malformed += 1
                lastError = error
            }
        }
    }

    /// Asks the scene to reset with `seed` and number the episode `episode`; returns once the scene acknowledged
    /// and its first estimate of that episode arrived. Repeats the request every 200 ms (datagrams can be lost).
    /// - Warning: Not real-time safe.
    public func requestReset(episode: UInt32, seed: UInt64, timeout: Double = 10) throws {
        let deadline = monotonicNanoseconds() + UInt64(timeout * 1e9)
        var nextSend: UInt64 = 0
        while true {
            let now = monotonicNanoseconds()
            if now >= deadline {
                throw ReflexError(.servoNoReply, "the scene at \(path) did not confirm the reset of episode \(episode) within \(timeout) s",
                                  at: .init(file: path))
            }
            if now >= nextSend, acknowledged?.episode != episode {
                send(.reset(episode: episode, seed: seed))
                nextSend = now + 200_000_000
            }
            poll()
            if acknowledged?.episode == episode, latest?.episode == episode { return }
            var ts = timespec(tv_sec: 0, tv_nsec: 2_000_000)
            nanosleep(&ts, nil)
        }
    }
}
