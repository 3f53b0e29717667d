// A pseudo-terminal pair: the emulator holds the master side, clients open the slave path as if it were a
// USB serial adapter (pyserial, the vendors' SDKs, `SerialPort`).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore

/// A pseudo-terminal whose slave side looks like a serial device, optionally reachable through a symlink.
///
/// The slave stays open here too (in raw mode), so the master never sees a hang-up between clients and nothing
/// the emulator writes before a client configures the line gets translated (no `\n` → `\r\n`, no echo).
public final class PseudoTerminal {
    /// The master side's descriptor (non-blocking).
    public let masterDescriptor: Int32
    private let slaveKeepAlive: Int32
    /// The slave device path, e.g. `/dev/pts/7`.
    public let slavePath: String
    /// A symlink to `slavePath` made at creation (removed by `close()`), or nil.
    public let linkPath: String?
    private var closed = false

    /// Opens a new pair; with `link`, also makes a symlink at that path (replacing a stale symlink there).
    /// - Warning: Not real-time safe.
    public init(link: String? = nil) throws {
        // posix_openpt/unlockpt/ptsname done by hand: Glibc's Swift module hides them behind _XOPEN_SOURCE.
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        guard master >= 0 else {
            throw ReflexError(.deviceUnavailable, "cannot open /dev/ptmx: \(String(cString: strerror(errno)))")
        }
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard withUnsafeMutablePointer(to: &unlock, { ioctl(master, PseudoTerminal.TIOCSPTLCK, $0) }) == 0,
              withUnsafeMutablePointer(to: &number, { ioctl(master, PseudoTerminal.TIOCGPTN, $0) }) == 0 else {
            sysClose(master)
            throw ReflexError(.deviceUnavailable, "unlocking the pty failed: \(String(cString: strerror(errno)))")
        }
        let path = "/dev/pts/\(number)"
        let slave = open(path, O_RDWR | O_NOCTTY)
        guard slave >= 0 else {
            sysClose(master)
            throw ReflexError(.deviceUnavailable, "cannot open pty slave \(path)")
        }
        var t = termios()
        _ = tcgetattr(slave, &t)
        cfmakeraw(&t)
        _ = tcsetattr(slave, TCSANOW, &t)
        _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)
        if let link {
            var st = stat()
            if lstat(link, &st) == 0 {
                guard (st.st_mode & S_IFMT) == S_IFLNK else {
                    sysClose(master); sysClose(slave)
                    throw ReflexError(.invalidArgument, "\(link) exists and is not a symlink; not replacing it",
                                      at: .init(file: link))
                }
                _ = unlink(link)
            }
            guard symlink(path, link) == 0 else {
                sysClose(master); sysClose(slave)
                throw ReflexError(.io, "cannot create symlink \(link): \(String(cString: strerror(errno)))",
                                  at: .init(file: link))
            }
        }
        masterDescriptor = master
        slaveKeepAlive = slave
        slavePath = path
        linkPath = link
    }

    /// The path clients should open: the symlink when there is one, else the slave device.
    public var clientPath: String { linkPath ?? slavePath }

    /// Reads from the master side, waiting up to `timeoutMilliseconds` for data; returns 0 on timeout.
    /// - Note: Real-time safe.
    public func read(into buffer: UnsafeMutableRawBufferPointer, timeoutMilliseconds: Int32) -> Int {
        read(into: buffer, timeoutNanoseconds: UInt64(max(timeoutMilliseconds, 0)) * 1_000_000)
    }

    /// Reads from the master side, waiting up to `timeoutNanoseconds` (sub-millisecond waits are kept).
    /// - Note: Real-time safe.
    public func read(into buffer: UnsafeMutableRawBufferPointer, timeoutNanoseconds: UInt64) -> Int {
        var p = pollfd(fd: masterDescriptor, events: Int16(POLLIN), revents: 0)
        if timeoutNanoseconds >= 1_000_000 {
            guard poll(&p, 1, Int32(min(timeoutNanoseconds / 1_000_000, 60_000))) > 0 else { return 0 }
        } else if poll(&p, 1, 0) <= 0 {
            // Below poll's millisecond resolution (ppoll is hidden by Glibc's module): sleep, then look once more.
            guard timeoutNanoseconds > 0 else { return 0 }
            var ts = timespec(tv_sec: 0, tv_nsec: Int(timeoutNanoseconds))
            nanosleep(&ts, nil)
            guard poll(&p, 1, 0) > 0 else { return 0 }
        }
        let n = sysRead(masterDescriptor, buffer.baseAddress!, buffer.count)
        return max(n, 0)
    }

    /// Writes all bytes to the master side (the client reads them from the slave).
    /// - Note: Real-time safe.
    public func write(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let n = sysWrite(masterDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if n > 0 { offset += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EINTR) {
                var p = pollfd(fd: masterDescriptor, events: Int16(POLLOUT), revents: 0)
                _ = poll(&p, 1, 10)
                continue
            }
            return
        }
    }

    /// Closes both sides and removes the symlink (idempotent).
    /// - Warning: Not real-time safe.
    public func close() {
        guard !closed else { return }
        closed = true
        if let linkPath { _ = unlink(linkPath) }
        sysClose(slaveKeepAlive)
        sysClose(masterDescriptor)
    }

    deinit { close() }

    // _IOW('T', 0x31, int) and _IOR('T', 0x30, unsigned int).
    static let TIOCSPTLCK: UInt = 0x4004_5431
    static let TIOCGPTN: UInt = 0x8004_5430
}
