// The camera channel's frames: a shared-memory ring beside the datagram socket (megabyte frames do not belong in
// datagrams). A publisher (`reflex emulate --sim … --frames`, examples/usb-camera/publish.py) maps a file, usually
// under /dev/shm, and writes each camera's frames into a few slots; subscribers map the same file read-only and take
// the newest frame. Each slot is guarded by a seqlock (its sequence number is odd while the publisher writes), so a
// reader copies a frame and then checks the sequence did not move: it never uses a torn frame, and the publisher
// never waits for a reader. docs/hardware.md has the layout for other publishers.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore
import Synchronization

/// One camera of a frame ring: its name (the policy's camera, e.g. `front`) and frame size.
public struct FrameRingCamera: Sendable, Equatable {
    /// Pixel formats a ring carries.
    public enum Format: UInt32, Sendable {
        /// H × W × 3 bytes, rows top to bottom, R G B per pixel (what `reflex collect` records).
        case rgb8 = 1
    }

    public var name: String
    public var width: Int
    public var height: Int
    public var format: Format

    public init(name: String, width: Int, height: Int, format: Format = .rgb8) throws {
        guard !name.isEmpty, name.utf8.count < FrameRing.nameBytes, !name.utf8.contains(0) else {
            throw ReflexError(.invalidValue, "camera name '\(name)' must be 1…\(FrameRing.nameBytes - 1) bytes")
        }
        guard (1 ... 8192).contains(width), (1 ... 8192).contains(height) else {
            throw ReflexError(.invalidValue, "camera '\(name)' of \(width)×\(height) pixels: each side must be 1…8192")
        }
        self.name = name
        self.width = width
        self.height = height
        self.format = format
    }

    /// Bytes of one frame.
    public var frameBytes: Int { width * height * 3 }
}

/// The ring's layout (all fields little-endian, offsets in bytes):
/// - header, 4096 bytes: magic u32 @0 (`RXFR`), version u32 @4 (1), header size u32 @8 (4096), camera count u32 @12
///   (1…16), slots per camera u32 @16 (1…64), reserved u32 @20, file size u64 @24, publisher pid u32 @32;
/// - camera k's descriptor at 64 + 128·k: name @0 (32 bytes, UTF-8, NUL-padded), width u32 @32, height u32 @36,
///   format u32 @40 (1: RGB8), frame bytes u32 @44, slot stride u64 @48, first slot's offset u64 @56, published
///   u64 @64 (the number of the newest complete frame, 0 before the first);
/// - frame n (1, 2, …) of camera k in slot (n − 1) mod slots, at first slot + slot · stride: sequence u64 @0 (odd
///   while being written), frame number u64 @8, capture time u64 @16 (CLOCK_MONOTONIC ns), pixels from @64.
///
/// Writing frame n: sequence += 1 (odd), write pixels, number and time, sequence += 1 (even), published = n.
/// Reading: n = published; s = sequence (retry if odd); copy; the frame is good if sequence is still s and the
/// slot's number is n.
public enum FrameRing {
    public static let magic: UInt32 = 0x5246_5852 // "RXFR" read as a little-endian word
    public static let version: UInt32 = 1
    public static let headerSize = 4096
    public static let descriptorOffset = 64
    public static let descriptorSize = 128
    public static let slotHeaderSize = 64
    public static let nameBytes = 32
    public static let maximumCameras = 16
    public static let maximumSlots = 64

    /// The ring beside camera channel `channel`: /dev/shm/<socket name>.frames where /dev/shm exists (Linux),
    /// else `channel`.frames. Both sides of `reflex emulate --camera` / `reflex run --camera` derive it this way.
    public static func defaultPath(forChannel channel: String) -> String {
        var st = stat()
        if stat("/dev/shm", &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            let name = channel.split(separator: "/").last.map(String.init) ?? channel
            return "/dev/shm/" + name + ".frames"
        }
        return channel + ".frames"
    }

    static func slotStride(frameBytes: Int) -> Int { (slotHeaderSize + frameBytes + 63) / 64 * 64 }
}

/// Why a frame ring was refused.
public enum FrameRingError: Error, Sendable, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, errno: Int32)
    case tooSmall(path: String, bytes: Int)
    case badMagic(path: String, UInt32)
    case unsupportedVersion(path: String, UInt32)
    case badLayout(path: String, String)
    case sizeMismatch(path: String, header: Int, file: Int)
    case noSuchCamera(path: String, name: String, available: [String])
    case wrongFrameSize(path: String, camera: String, width: Int, height: Int, wantedWidth: Int, wantedHeight: Int)
    case wrongFormat(path: String, camera: String, format: UInt32)

    public var description: String {
        switch self {
        case let .cannotOpen(p, e):
            return "cannot open the frame ring \(p) (errno \(e)); start the publisher first (reflex emulate --sim lift --camera … --frames front:64x64, or examples/usb-camera/publish.py)"
        case let .tooSmall(p, n): return "frame ring \(p) has \(n) bytes, less than its \(FrameRing.headerSize)-byte header"
        case let .badMagic(p, m): return "frame ring \(p) does not start with RXFR (0x\(String(m, radix: 16))): not a frame ring"
        case let .unsupportedVersion(p, v): return "frame ring \(p) is version \(v); this reader speaks \(FrameRing.version)"
        case let .badLayout(p, why): return "frame ring \(p): \(why)"
        case let .sizeMismatch(p, h, f): return "frame ring \(p) says it is \(h) bytes but the file has \(f)"
        case let .noSuchCamera(p, n, a): return "frame ring \(p) has no camera '\(n)' (it has: \(a.joined(separator: ", ")))"
        case let .wrongFrameSize(p, c, w, h, ww, wh):
            return "frame ring \(p): camera '\(c)' gives \(w)×\(h) frames, the policy needs \(ww)×\(wh)"
        case let .wrongFormat(p, c, f): return "frame ring \(p): camera '\(c)' has pixel format \(f); only 1 (RGB8) is known"
        }
    }

    /// The error as Reflex's cold-path error.
    public var reflexError: ReflexError {
        switch self {
        case let .cannotOpen(p, _): return ReflexError(.deviceNotFound, description, at: .init(file: p))
        default: return ReflexError(.malformedFrameRing, description)
        }
    }
}

extension ReflexError.Code {
    /// A frame ring (the camera channel's shared memory) that is not what a reader can use.
    public static let malformedFrameRing = Self("malformedFrameRing")
}

/// A mapped ring, shared by its publisher and the readers of one process.
final class FrameRingMapping: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let size: Int

    init(base: UnsafeMutableRawPointer, size: Int) {
        self.base = base
        self.size = size
    }

    deinit { munmap(base, size) }

    @inline(__always) func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: base.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
    @inline(__always) func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: base.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
    @inline(__always) func put32(_ v: UInt32, _ at: Int) { base.storeBytes(of: v.littleEndian, toByteOffset: at, as: UInt32.self) }
    @inline(__always) func put64(_ v: UInt64, _ at: Int) { base.storeBytes(of: v.littleEndian, toByteOffset: at, as: UInt64.self) }

    /// The 8-byte-aligned word at `at` as an atomic (the sequence and published counters; x86-64 and arm64 are
    /// little-endian, so the atomic's value is the layout's).
    @inline(__always) func atomic(_ at: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (base + at).assumingMemoryBound(to: Atomic<UInt64>.self)
    }
}

/// Header writes on a mapping not yet owned.
private struct FrameRingView {
    let base: UnsafeMutableRawPointer
    func put32(_ v: UInt32, _ at: Int) { base.storeBytes(of: v.littleEndian, toByteOffset: at, as: UInt32.self) }
    func put64(_ v: UInt64, _ at: Int) { base.storeBytes(of: v.littleEndian, toByteOffset: at, as: UInt64.self) }
}

/// One camera's place in a mapped ring.
struct FrameRingSlots: Sendable {
    var descriptor: Int
    var firstSlot: Int
    var stride: Int
    var slots: Int
    var frameBytes: Int

    var published: Int { descriptor + 64 }
    func slot(ofFrame n: UInt64) -> Int { firstSlot + Int((n - 1) % UInt64(slots)) * stride }
}

/// The publishing side of a frame ring: creates the ring file and writes frames into it.
public final class FrameRingWriter: @unchecked Sendable { // one writing thread
    /// The ring's file ("" for a ring in this process's memory only).
    public let path: String
    public let cameras: [FrameRingCamera]
    public let slots: Int
    let mapping: FrameRingMapping
    private let places: [FrameRingSlots]
    private var numbers: [UInt64]
    private var writing: Int? = nil

    /// Creates the ring at `path` (replacing a file there; written beside it and renamed into place, so a reader
    /// never maps a half-made header), or in anonymous shared memory when `path` is nil (a publisher and readers in
    /// one process: `reflex run --sim` with a camera policy).
    /// - Warning: Not real-time safe.
    public init(path: String?, cameras: [FrameRingCamera], slots: Int = 4) throws {
        guard (1 ... FrameRing.maximumCameras).contains(cameras.count) else {
            throw ReflexError(.invalidValue, "a frame ring carries 1…\(FrameRing.maximumCameras) cameras, got \(cameras.count)")
        }
        guard Set(cameras.map(\.name)).count == cameras.count else {
            throw ReflexError(.invalidValue, "two cameras of one name in a frame ring: \(cameras.map(\.name))")
        }
        guard (1 ... FrameRing.maximumSlots).contains(slots) else {
            throw ReflexError(.invalidValue, "a frame ring has 1…\(FrameRing.maximumSlots) slots per camera, got \(slots)")
        }
        var places: [FrameRingSlots] = []
        var offset = FrameRing.headerSize
        for (k, c) in cameras.enumerated() {
            let stride = FrameRing.slotStride(frameBytes: c.frameBytes)
            places.append(FrameRingSlots(descriptor: FrameRing.descriptorOffset + FrameRing.descriptorSize * k,
                                         firstSlot: offset, stride: stride, slots: slots, frameBytes: c.frameBytes))
            offset += stride * slots
        }
        let size = offset
        let base: UnsafeMutableRawPointer
        if let path {
            let temporary = path + ".\(getpid()).tmp"
            let fd = open(temporary, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw FrameRingError.cannotOpen(path: temporary, errno: errno).reflexError }
            defer { sysClose(fd) }
            guard ftruncate(fd, off_t(size)) == 0 else {
                let e = errno
                unlink(temporary)
                throw ReflexError(.io, "cannot size the frame ring \(temporary) to \(size) bytes (errno \(e))", at: .init(file: path))
            }
            guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
                let e = errno
                unlink(temporary)
                throw ReflexError(.io, "cannot map the frame ring \(temporary) (errno \(e))", at: .init(file: path))
            }
            base = p
            FrameRingWriter.writeHeader(base, size: size, cameras: cameras, places: places, slots: slots)
            guard rename(temporary, path) == 0 else {
                let e = errno
                munmap(p, size)
                unlink(temporary)
                throw ReflexError(.io, "cannot move the frame ring into place at \(path) (errno \(e))", at: .init(file: path))
            }
        } else {
            guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
                throw ReflexError(.io, "cannot map a \(size)-byte frame ring (errno \(errno))")
            }
            base = p
            FrameRingWriter.writeHeader(base, size: size, cameras: cameras, places: places, slots: slots)
        }
        self.path = path ?? ""
        self.cameras = cameras
        self.slots = slots
        self.places = places
        mapping = FrameRingMapping(base: base, size: size)
        numbers = [UInt64](repeating: 0, count: cameras.count)
    }

    deinit {
        if !path.isEmpty { unlink(path) }
    }

    private static func writeHeader(_ base: UnsafeMutableRawPointer, size: Int, cameras: [FrameRingCamera],
                                    places: [FrameRingSlots], slots: Int) {
        let m = FrameRingView(base: base)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: FrameRing.headerSize)
        m.put32(FrameRing.version, 4)
        m.put32(UInt32(FrameRing.headerSize), 8)
        m.put32(UInt32(cameras.count), 12)
        m.put32(UInt32(slots), 16)
        m.put64(UInt64(size), 24)
        m.put32(UInt32(truncatingIfNeeded: getpid()), 32)
        for (c, p) in zip(cameras, places) {
            let name = Array(c.name.utf8)
            for (i, b) in name.enumerated() { base.storeBytes(of: b, toByteOffset: p.descriptor + i, as: UInt8.self) }
            m.put32(UInt32(c.width), p.descriptor + 32)
            m.put32(UInt32(c.height), p.descriptor + 36)
            m.put32(c.format.rawValue, p.descriptor + 40)
            m.put32(UInt32(c.frameBytes), p.descriptor + 44)
            m.put64(UInt64(p.stride), p.descriptor + 48)
            m.put64(UInt64(p.firstSlot), p.descriptor + 56)
        }
        // The magic last: a reader that sees it sees a whole header.
        atomicMemoryFence(ordering: .releasing)
        m.put32(FrameRing.magic, 0)
    }

    /// Index of the camera named `name`.
    public func cameraIndex(_ name: String) -> Int? { cameras.firstIndex { $0.name == name } }

    /// Starts frame n + 1 of camera `camera`: marks its slot as being written and returns where its pixels go
    /// (`frameBytes` bytes). Finish with `commitFrame`.
    /// - Note: Real-time safe.
    public func beginFrame(camera: Int) -> UnsafeMutableRawPointer {
        let p = places[camera]
        let slot = p.slot(ofFrame: numbers[camera] + 1)
        let seq = mapping.atomic(slot)
        let s = seq.pointee.load(ordering: .relaxed)
        seq.pointee.store(s | 1 == s ? s + 2 : s + 1, ordering: .relaxed) // odd: being written
        atomicMemoryFence(ordering: .releasing)
        writing = camera
        return mapping.base + slot + FrameRing.slotHeaderSize
    }

    /// Publishes the frame begun with `beginFrame(camera:)`, taken at `captureTime` (CLOCK_MONOTONIC ns).
    /// - Note: Real-time safe.
    public func commitFrame(camera: Int, captureTime: UInt64) {
        let p = places[camera]
        let n = numbers[camera] + 1
        let slot = p.slot(ofFrame: n)
        mapping.put64(n, slot + 8)
        mapping.put64(captureTime, slot + 16)
        let seq = mapping.atomic(slot)
        seq.pointee.store(seq.pointee.load(ordering: .relaxed) &+ 1, ordering: .releasing) // even: complete
        mapping.atomic(p.published).pointee.store(n, ordering: .releasing)
        numbers[camera] = n
        writing = nil
    }

    /// Copies `pixels` (`frameBytes` bytes) in as camera `camera`'s next frame.
    /// - Note: Real-time safe.
    public func publish(camera: Int, pixels: UnsafeRawPointer, captureTime: UInt64) {
        let into = beginFrame(camera: camera)
        into.copyMemory(from: pixels, byteCount: places[camera].frameBytes)
        commitFrame(camera: camera, captureTime: captureTime)
    }

    /// Frames published so far on camera `camera`.
    public func published(camera: Int) -> UInt64 { numbers[camera] }
}

/// What one read of a ring's newest frame found.
public enum FrameRead: Sendable, Equatable {
    /// A whole frame was copied: its number and capture time (CLOCK_MONOTONIC ns).
    case frame(number: UInt64, captureTime: UInt64)
    /// The publisher has not finished a frame of this camera yet.
    case none
    /// The publisher overwrote the slot while it was copied, on every attempt: nothing usable was copied.
    case torn
}

/// The subscribing side of a frame ring: maps it read-only, checks its header, copies the newest frame.
public final class FrameRingReader: @unchecked Sendable { // one reading thread
    public let path: String
    public let cameras: [FrameRingCamera]
    let mapping: FrameRingMapping
    private let places: [FrameRingSlots]

    /// Maps the ring at `path` and checks its header: magic, version, sizes and every camera's place; a ring that
    /// does not add up is refused with the reason.
    /// - Warning: Not real-time safe.
    public init(path: String) throws(FrameRingError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        defer { sysClose(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .cannotOpen(path: path, errno: errno) }
        let size = Int(st.st_size)
        guard size >= FrameRing.headerSize else { throw .tooSmall(path: path, bytes: size) }
        guard let p = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw .cannotOpen(path: path, errno: errno)
        }
        let mapping = FrameRingMapping(base: p, size: size)
        let (cameras, places) = try FrameRingReader.check(mapping, path: path)
        self.path = path
        self.mapping = mapping
        self.cameras = cameras
        self.places = places
    }

    /// A reader of a ring in this process (`FrameRingWriter(path: nil, …)`).
    public init(sharing writer: FrameRingWriter) {
        path = writer.path
        mapping = writer.mapping
        cameras = writer.cameras
        places = (0 ..< writer.cameras.count).map { k in
            let d = FrameRing.descriptorOffset + FrameRing.descriptorSize * k
            return FrameRingSlots(descriptor: d, firstSlot: Int(writer.mapping.u64(d + 56)), stride: Int(writer.mapping.u64(d + 48)),
                                  slots: writer.slots, frameBytes: writer.cameras[k].frameBytes)
        }
    }

    private static func check(_ m: FrameRingMapping, path: String) throws(FrameRingError) -> ([FrameRingCamera], [FrameRingSlots]) {
        let magic = m.u32(0)
        guard magic == FrameRing.magic else { throw .badMagic(path: path, magic) }
        let version = m.u32(4)
        guard version == FrameRing.version else { throw .unsupportedVersion(path: path, version) }
        guard m.u32(8) == UInt32(FrameRing.headerSize) else { throw .badLayout(path: path, "header size \(m.u32(8)), expected \(FrameRing.headerSize)") }
        let count = Int(m.u32(12)), slots = Int(m.u32(16))
        guard (1 ... FrameRing.maximumCameras).contains(count) else { throw .badLayout(path: path, "\(count) cameras (1…\(FrameRing.maximumCameras))") }
        guard (1 ... FrameRing.maximumSlots).contains(slots) else { throw .badLayout(path: path, "\(slots) slots per camera (1…\(FrameRing.maximumSlots))") }
        let declared = m.u64(24)
        guard declared == UInt64(m.size) else { throw .sizeMismatch(path: path, header: Int(clamping: declared), file: m.size) }
        var cameras: [FrameRingCamera] = [], places: [FrameRingSlots] = []
        for k in 0 ..< count {
            let d = FrameRing.descriptorOffset + FrameRing.descriptorSize * k
            var nameBytes: [UInt8] = []
            for i in 0 ..< FrameRing.nameBytes {
                let b = m.base.load(fromByteOffset: d + i, as: UInt8.self)
                if b == 0 { break }
                nameBytes.append(b)
            }
            guard let name = String(validating: nameBytes, as: UTF8.self), !name.isEmpty else {
                throw .badLayout(path: path, "camera \(k) has no valid UTF-8 name")
            }
            let width = Int(m.u32(d + 32)), height = Int(m.u32(d + 36)), format = m.u32(d + 40)
            guard let f = FrameRingCamera.Format(rawValue: format) else { throw .wrongFormat(path: path, camera: name, format: format) }
            guard let camera = try? FrameRingCamera(name: name, width: width, height: height, format: f) else {
                throw .badLayout(path: path, "camera '\(name)' is \(width)×\(height) pixels (each side 1…8192)")
            }
            guard Int(m.u32(d + 44)) == camera.frameBytes else {
                throw .badLayout(path: path, "camera '\(name)' has \(m.u32(d + 44))-byte frames; \(width)×\(height) RGB8 is \(camera.frameBytes)")
            }
            let stride = m.u64(d + 48), first = m.u64(d + 56)
            guard stride >= UInt64(FrameRing.slotHeaderSize + camera.frameBytes), stride % 8 == 0, first % 8 == 0,
                  first >= UInt64(FrameRing.headerSize), stride <= UInt64(m.size),
                  first <= UInt64(m.size) - stride * UInt64(slots) else {
                throw .badLayout(path: path, "camera '\(name)''s slots (at \(first), \(stride) bytes each, \(slots) of them) do not fit in \(m.size) bytes")
            }
            cameras.append(camera)
            places.append(FrameRingSlots(descriptor: d, firstSlot: Int(first), stride: Int(stride), slots: slots, frameBytes: camera.frameBytes))
        }
        return (cameras, places)
    }

    /// Index of camera `name`, checked against the size a policy wants.
    /// - Warning: Not real-time safe.
    public func camera(named name: String, width: Int, height: Int) throws(FrameRingError) -> Int {
        guard let k = cameras.firstIndex(where: { $0.name == name }) else {
            throw .noSuchCamera(path: path, name: name, available: cameras.map(\.name))
        }
        let c = cameras[k]
        guard c.width == width, c.height == height else {
            throw .wrongFrameSize(path: path, camera: name, width: c.width, height: c.height, wantedWidth: width, wantedHeight: height)
        }
        return k
    }

    /// The newest complete frame's number and capture time without copying it (nil: none yet, or it is being
    /// overwritten right now).
    /// - Note: Real-time safe.
    public func newest(camera: Int) -> (number: UInt64, captureTime: UInt64)? {
        let p = places[camera]
        let n = mapping.atomic(p.published).pointee.load(ordering: .acquiring)
        guard n > 0 else { return nil }
        let slot = p.slot(ofFrame: n)
        let seq = mapping.atomic(slot)
        let s1 = seq.pointee.load(ordering: .acquiring)
        guard s1 & 1 == 0 else { return nil }
        let number = mapping.u64(slot + 8), time = mapping.u64(slot + 16)
        atomicMemoryFence(ordering: .acquiring)
        guard seq.pointee.load(ordering: .relaxed) == s1, number == n else { return nil }
        return (n, time)
    }

    /// Copies camera `camera`'s newest complete frame into `into` (`frameBytes` bytes). A slot the publisher
    /// writes while it is copied is read again, up to `attempts` times; after that the read is `.torn` and
    /// `into` holds nothing to use.
    /// - Note: Real-time safe.
    public func read(camera: Int, into: UnsafeMutableRawPointer, attempts: Int = 3) -> FrameRead {
        let p = places[camera]
        let published = mapping.atomic(p.published)
        for _ in 0 ..< max(attempts, 1) {
            let n = published.pointee.load(ordering: .acquiring)
            guard n > 0 else { return .none }
            let slot = p.slot(ofFrame: n)
            let seq = mapping.atomic(slot)
            let s1 = seq.pointee.load(ordering: .acquiring)
            if s1 & 1 != 0 { continue }
            let number = mapping.u64(slot + 8), time = mapping.u64(slot + 16)
            into.copyMemory(from: mapping.base + slot + FrameRing.slotHeaderSize, byteCount: p.frameBytes)
            atomicMemoryFence(ordering: .acquiring)
            if seq.pointee.load(ordering: .relaxed) == s1 && number == n { return .frame(number: n, captureTime: time) }
        }
        return .torn
    }

    /// Copies frame `number` of camera `camera` if its slot still holds it (`.none` once the ring has moved past it):
    /// for tools and tests that look at more than the newest frame (`reflex camera probe`).
    /// - Note: Real-time safe.
    public func read(camera: Int, number n: UInt64, into: UnsafeMutableRawPointer) -> FrameRead {
        let p = places[camera]
        guard n > 0, n <= mapping.atomic(p.published).pointee.load(ordering: .acquiring) else { return .none }
        let slot = p.slot(ofFrame: n)
        let seq = mapping.atomic(slot)
        let s1 = seq.pointee.load(ordering: .acquiring)
        guard s1 & 1 == 0 else { return .torn }
        let number = mapping.u64(slot + 8), time = mapping.u64(slot + 16)
        into.copyMemory(from: mapping.base + slot + FrameRing.slotHeaderSize, byteCount: p.frameBytes)
        atomicMemoryFence(ordering: .acquiring)
        guard seq.pointee.load(ordering: .relaxed) == s1 else { return .torn }
        return number == n ? .frame(number: n, captureTime: time) : .none
    }

    /// The pid the publisher wrote in the header.
    public var publisherPID: Int32 { Int32(bitPattern: mapping.u32(32)) }
}
