// A POSIX serial port in raw mode: the wire under a Feetech or Dynamixel bus (USB adapters such as the
// Waveshare bus servo board or the U2D2), and the pseudo-terminal the emulator offers.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore

/// An open serial device in raw 8N1 mode at any baud rate up to (at least) 1 Mbit/s.
///
/// Opening takes an exclusive lock (`flock` and `TIOCEXCL`), so a second program on the same arm fails with
/// `.deviceBusy` instead of interleaving its packets with ours. Reads wait with `poll` up to an absolute
/// deadline, so a tick can bound the time it spends on the bus.
public final class SerialPort: ServoTransport {
    /// The device path, e.g. `/dev/ttyACM0` or `/dev/pts/5`.
    public let path: String
    /// The line rate in bits per second.
    public private(set) var baud: Int
    private var fd: Int32

    /// Opens `path` at `baud` bits per second, raw 8N1, no flow control.
    /// - Throws: `ReflexError` `.deviceNotFound`, `.deviceBusy` or `.deviceUnavailable`, with the path.
    /// - Warning: Not real-time safe.
    public init(path: String, baud: Int, exclusive: Bool = true) throws {
        self.path = path
        self.baud = baud
        let fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            let where_ = ReflexError.Location(file: path)
            switch e {
            case ENOENT, ENODEV, ENXIO:
                throw ReflexError(.deviceNotFound, "no serial device at \(path) (\(Self.errorText(e)))", at: where_)
            case EBUSY:
                throw ReflexError(.deviceBusy, "serial device \(path) is in use by another process", at: where_)
            default:
                throw ReflexError(.deviceUnavailable, "cannot open \(path): \(Self.errorText(e))", at: where_)
            }
        }
        self.fd = fd
        do {
            if isatty(fd) == 0 {
                throw ReflexError(.deviceUnavailable, "\(path) is not a serial device (not a tty)",
                                  at: .init(file: path))
            }
            if exclusive {
                if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                    throw ReflexError(.deviceBusy, "serial device \(path) is in use by another process (locked)",
                                      at: .init(file: path))
                }
                _ = ioctl(fd, UInt(TIOCEXCL))
            }
            try configureRaw()
            try setBaud(baud)
            discardInput()
        } catch {
            sysClose(fd)
            self.fd = -1
            throw error
        }
    }

    deinit { close() }

    /// Closes the device (idempotent).
    /// - Warning: Not real-time safe.
    public func close() {
        if fd >= 0 {
            sysClose(fd)
            fd = -1
        }
    }

    /// True until `close()`.
    public var isOpen: Bool { fd >= 0 }

    private func configureRaw() throws {
        var t = termios()
        guard tcgetattr(fd, &t) == 0 else { throw ioError("tcgetattr") }
        cfmakeraw(&t)
        t.c_cflag |= tcflag_t(CLOCAL | CREAD)
        t.c_cflag &= ~tcflag_t(CSTOPB | PARENB)
        #if os(Linux)
        t.c_cflag &= ~tcflag_t(CRTSCTS)
        #endif
        t.c_iflag &= ~tcflag_t(IXON | IXOFF | IXANY)
        // Non-blocking reads: timing is done with poll, never with VMIN/VTIME.
        withUnsafeMutableBytes(of: &t.c_cc) { cc in
            cc[Int(VMIN)] = 0
            cc[Int(VTIME)] = 0
        }
        guard tcsetattr(fd, TCSANOW, &t) == 0 else { throw ioError("tcsetattr") }
    }

    /// Changes the line rate. On Linux any rate is set exactly through `termios2`/`BOTHER`
    /// (1 Mbit/s, 500 kbit/s and the odd rates Feetech and ROBOTIS boards use).
    /// - Warning: Not real-time safe.
    public func setBaud(_ baud: Int) throws {
        guard baud > 0, baud <= 12_000_000 else {
            throw ReflexError(.invalidArgument, "baud rate \(baud) is out of range", at: .init(file: path))
        }
        #if os(Linux)
        var t2 = Termios2()
        guard withUnsafeMutablePointer(to: &t2, { ioctl(fd, Termios2.TCGETS2, $0) }) == 0 else { throw ioError("TCGETS2") }
        t2.c_cflag &= ~Termios2.CBAUD
        t2.c_cflag |= Termios2.BOTHER
        t2.c_cflag &= ~(Termios2.CBAUD << Termios2.IBSHIFT)
        t2.c_cflag |= Termios2.BOTHER << Termios2.IBSHIFT
        t2.c_ispeed = UInt32(baud)
        t2.c_ospeed = UInt32(baud)
        guard withUnsafeMutablePointer(to: &t2, { ioctl(fd, Termios2.TCSETS2, $0) }) == 0 else {
            throw ReflexError(.deviceUnavailable, "\(path) refused baud rate \(baud): \(Self.errorText(errno))",
                              at: .init(file: path))
        }
        #else
        var t = termios()
        guard tcgetattr(fd, &t) == 0 else { throw ioError("tcgetattr") }
        cfsetspeed(&t, speed_t(baud))
        guard tcsetattr(fd, TCSANOW, &t) == 0 else {
            throw ReflexError(.deviceUnavailable, "\(path) refused baud rate \(baud)", at: .init(file: path))
        }
        #endif
        self.baud = baud
    }

    /// The rate the driver reports back (what the line really runs at).
    /// - Warning: Not real-time safe.
    public func appliedBaud() throws -> Int {
        #if os(Linux)
        var t2 = Termios2()
        guard withUnsafeMutablePointer(to: &t2, { ioctl(fd, Termios2.TCGETS2, $0) }) == 0 else { throw ioError("TCGETS2") }
        return Int(t2.c_ospeed)
        #else
        var t = termios()
        guard tcgetattr(fd, &t) == 0 else { throw ioError("tcgetattr") }
        return Int(cfgetospeed(&t))
        #endif
    }

    /// Writes every byte, waiting for room in the kernel buffer if needed.
    /// - Note: Real-time safe.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard fd >= 0 else { throw closedError() }
        var offset = 0
        while offset < bytes.count {
            let n = sysWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n > 0 {
                offset += n
            } else if n < 0 && (errno == EAGAIN || errno == EINTR) {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&p, 1, 100)
            } else {
                throw ioError("write")
            }
        }
    }

    /// Reads what is available, waiting with `poll` until `deadline` (monotonic ns) for the first byte.
    /// Returns 0 when the deadline passes.
    /// - Note: Real-time safe.
    public func read(into buffer: UnsafeMutableRawBufferPointer, deadline: UInt64) throws -> Int {
        guard fd >= 0 else { throw closedError() }
        guard buffer.count > 0 else { return 0 }
        while true {
            let n = sysRead(fd, buffer.baseAddress!, buffer.count)
            if n > 0 { return n }
            if n < 0 && errno != EAGAIN && errno != EINTR {
                if errno == EIO { return 0 } // a pty whose other side is not open yet: nothing to read
                throw ioError("read")
            }
            let now = monotonicNanoseconds()
            if now >= deadline { return 0 }
            let remainingMs = Int32(min((deadline - now + 999_999) / 1_000_000, 1000))
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, remainingMs)
            if r == 0 && monotonicNanoseconds() >= deadline { return 0 }
            if r > 0 && (p.revents & Int16(POLLHUP)) != 0 && (p.revents & Int16(POLLIN)) == 0 {
                // The other end hung up (pty closed): behave as a silent line until the deadline.
                let left = deadline > monotonicNanoseconds() ? deadline - monotonicNanoseconds() : 0
                if left > 0 { var ts = timespec(tv_sec: Int(left / 1_000_000_000), tv_nsec: Int(left % 1_000_000_000)); nanosleep(&ts, nil) }
                return 0
            }
        }
    }

    /// Drops unread input (`tcflush(TCIFLUSH)`).
    /// - Note: Real-time safe.
    public func discardInput() {
        if fd >= 0 { _ = tcflush(fd, TCIFLUSH) }
    }

    /// Blocks until all written bytes left the UART (`tcdrain`).
    /// - Warning: Not real-time safe on USB adapters (can take a USB frame).
    public func drainOutput() {
        if fd >= 0 { _ = tcdrain(fd) }
    }

    private func ioError(_ what: String) -> ReflexError {
        ReflexError(.io, "\(what) on \(path) failed: \(Self.errorText(errno))", at: .init(file: path))
    }

    private func closedError() -> ReflexError {
        ReflexError(.io, "serial port \(path) is closed", at: .init(file: path))
    }

    static func errorText(_ e: Int32) -> String {
        String(cString: strerror(e))
    }
}

#if os(Linux)
/// `struct termios2` from `<asm-generic/termbits.h>`, which Glibc's `<termios.h>` cannot be imported beside:
/// it carries the exact input and output speeds that `BOTHER` asks for.
struct Termios2 {
    var c_iflag: UInt32 = 0
    var c_oflag: UInt32 = 0
    var c_cflag: UInt32 = 0
    var c_lflag: UInt32 = 0
    var c_line: UInt8 = 0
    var c_cc: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
               UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var c_ispeed: UInt32 = 0
    var c_ospeed: UInt32 = 0

    // _IOR('T', 0x2A, struct termios2) and _IOW('T', 0x2B, struct termios2), sizeof = 44 (x86_64, arm64).
    static let TCGETS2: UInt = 0x802C_542A
    static let TCSETS2: UInt = 0x402C_542B
    static let CBAUD: UInt32 = 0o010017
    static let BOTHER: UInt32 = 0o010000
    static let IBSHIFT: UInt32 = 16
}
#endif
