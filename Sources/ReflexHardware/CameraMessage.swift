// The camera side channel's wire format. On a real arm a task's object pose comes from a camera and a pose
// estimator, not from the servo bus; in hardware-in-the-loop the simulator plays that camera. The scene side
// publishes estimates, the runner asks for episode resets; everything else travels over the servo bus.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore
import ReflexRobot

/// One pose estimate of the task's object, as a camera pipeline would deliver it.
public struct CameraEstimate: Sendable, Equatable {
    /// The scene's episode counter (0 before the first reset request): estimates of an earlier episode are stale.
    public var episode: UInt32
    /// Increases by one per published estimate.
    public var sequence: UInt64
    /// When the frame was taken, CLOCK_MONOTONIC nanoseconds (both processes on one machine share the clock).
    public var captureTime: UInt64
    /// Object position in the arm's base frame (m).
    public var position: Vector3
    /// Object orientation, unit quaternion (x, y, z, w).
    public var orientation: SIMD4<Double>
    /// The task's goal point in the base frame (m): the lift target above the cube's start.
    public var goal: Vector3
    /// The scene's own success predicate (the scorer of an evaluation), sampled at the task's control rate.
    public var success: Bool

    public init(episode: UInt32, sequence: UInt64, captureTime: UInt64, position: Vector3, orientation: SIMD4<Double>,
                goal: Vector3, success: Bool) {
        self.episode = episode
        self.sequence = sequence
        self.captureTime = captureTime
        self.position = position
        self.orientation = orientation
        self.goal = goal
        self.success = success
    }
}

/// The datagrams of the camera channel.
///
/// Every datagram starts with an 8-byte header: magic `RXCM`, version 1, kind, 2 reserved bytes; fields are
/// little-endian. Kinds and total sizes:
/// - 1 `estimate` (scene → runner), 112 bytes: episode u32 @8, flags u32 @12 (bit 0 success), sequence u64 @16,
///   capture time u64 @24, position 3×f64 @32, quaternion xyzw 4×f64 @56, goal 3×f64 @88.
/// - 2 `subscribe` (runner → scene), 8 bytes: send me estimates.
/// - 3 `reset` (runner → scene), 24 bytes: episode u32 @8, reserved u32 @12, seed u64 @16 — reset the scene with
///   this seed and number the following estimates `episode`.
/// - 4 `resetDone` (scene → runner), 24 bytes: the same fields, once the scene (and the servos) are in place.
public enum CameraMessage: Sendable, Equatable {
    case estimate(CameraEstimate)
    case subscribe
    case reset(episode: UInt32, seed: UInt64)
    case resetDone(episode: UInt32, seed: UInt64)

    public static let magic: UInt32 = 0x4D43_5852 // "RXCM" read as a little-endian word
    public static let version: UInt8 = 1
    /// The largest datagram (an estimate).
    public static let maximumSize = 112

    var kind: UInt8 {
        switch self {
        case .estimate: return 1
        case .subscribe: return 2
        case .reset: return 3
        case .resetDone: return 4
        }
    }

    static func size(ofKind kind: UInt8) -> Int? {
        switch kind {
        case 1: return 112
        case 2: return 8
        case 3, 4: return 24
        default: return nil
        }
    }

    /// Writes the datagram into `buffer` (at least `maximumSize` bytes); returns its length.
    /// - Note: Real-time safe.
    public func encode(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let n = CameraMessage.size(ofKind: kind) ?? 8
        guard buffer.count >= n else { return 0 }
        put(CameraMessage.magic, buffer, 0)
        buffer[4] = CameraMessage.version
        buffer[5] = kind
        buffer[6] = 0
        buffer[7] = 0
        switch self {
        case .estimate(let e):
            put(e.episode, buffer, 8)
            put(UInt32(e.success ? 1 : 0), buffer, 12)
            put(e.sequence, buffer, 16)
            put(e.captureTime, buffer, 24)
            putDouble(e.position.x, buffer, 32)
            putDouble(e.position.y, buffer, 40)
            putDouble(e.position.z, buffer, 48)
            putDouble(e.orientation.x, buffer, 56)
            putDouble(e.orientation.y, buffer, 64)
            putDouble(e.orientation.z, buffer, 72)
            putDouble(e.orientation.w, buffer, 80)
            putDouble(e.goal.x, buffer, 88)
            putDouble(e.goal.y, buffer, 96)
            putDouble(e.goal.z, buffer, 104)
        case .subscribe:
            break
        case .reset(let episode, let seed), .resetDone(let episode, let seed):
            put(episode, buffer, 8)
            put(UInt32(0), buffer, 12)
            put(seed, buffer, 16)
        }
        return n
    }

    /// Reads one datagram. Anything that is not exactly a well-formed message of a known kind is refused with
    /// the reason, so a stray sender or a truncated read never turns into a pose.
    /// - Note: Real-time safe (typed throws of a plain enum allocate nothing).
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(CameraDatagramError) -> CameraMessage {
        guard bytes.count >= 8 else { throw .tooShort(bytes.count) }
        let m: UInt32 = get(bytes, 0)
        guard m == magic else { throw .badMagic(m) }
        guard bytes[4] == version else { throw .unsupportedVersion(bytes[4]) }
        let kind = bytes[5]
        guard let size = self.size(ofKind: kind) else { throw .unknownKind(kind) }
        guard bytes.count == size else { throw .wrongLength(kind: kind, expected: size, got: bytes.count) }
        switch kind {
        case 1:
            let flags: UInt32 = get(bytes, 12)
            guard flags & ~1 == 0 else { throw .unknownFlags(flags) }
            var v = SIMD16<Double>()
            for k in 0 ..< 10 {
                let d = getDouble(bytes, 32 + 8 * k)
                guard d.isFinite else { throw .nonFinite(offset: 32 + 8 * k) }
                v[k] = d
            }
            let q = SIMD4(v[3], v[4], v[5], v[6])
            let norm = (q * q).sum().squareRoot()
            guard abs(norm - 1) < 1e-3 else { throw .notAUnitQuaternion }
            return .estimate(CameraEstimate(episode: get(bytes, 8), sequence: get(bytes, 16), captureTime: get(bytes, 24),
                                            position: Vector3(v[0], v[1], v[2]), orientation: q,
                                            goal: Vector3(v[7], v[8], v[9]), success: flags & 1 != 0))
        case 2:
            return .subscribe
        case 3:
            return .reset(episode: get(bytes, 8), seed: get(bytes, 16))
        default:
            return .resetDone(episode: get(bytes, 8), seed: get(bytes, 16))
        }
    }
}

/// Why a camera-channel datagram was refused.
public enum CameraDatagramError: Error, Sendable, Equatable, CustomStringConvertible {
    case tooShort(Int)
    case badMagic(UInt32)
    case unsupportedVersion(UInt8)
    case unknownKind(UInt8)
    case wrongLength(kind: UInt8, expected: Int, got: Int)
    case unknownFlags(UInt32)
    case nonFinite(offset: Int)
    case notAUnitQuaternion

    public var description: String {
        switch self {
        case .tooShort(let n): return "camera datagram of \(n) bytes is shorter than the 8-byte header"
        case .badMagic(let m): return "camera datagram does not start with RXCM (0x\(String(m, radix: 16)))"
        case .unsupportedVersion(let v): return "camera datagram version \(v), this reader speaks \(CameraMessage.version)"
        case .unknownKind(let k): return "camera datagram of unknown kind \(k)"
        case .wrongLength(let k, let e, let g): return "camera datagram of kind \(k) has \(g) bytes, expected \(e)"
        case .unknownFlags(let f): return "camera estimate with unknown flag bits 0x\(String(f, radix: 16))"
        case .nonFinite(let o): return "camera estimate has a NaN or infinite value at byte \(o)"
        case .notAUnitQuaternion: return "camera estimate's orientation is not a unit quaternion"
        }
    }

    /// The error as Reflex's cold-path error, with the byte offset where it can be named.
    public var reflexError: ReflexError {
        if case .nonFinite(let o) = self { return ReflexError(.malformedDatagram, description, at: .init(byteOffset: o)) }
        return ReflexError(.malformedDatagram, description)
    }
}

extension ReflexError.Code {
    /// A datagram on a side channel (the camera channel) that is not a well-formed message.
    public static let malformedDatagram = Self("malformedDatagram")
}

@inline(__always) private func put<T: FixedWidthInteger>(_ v: T, _ b: UnsafeMutableRawBufferPointer, _ at: Int) {
    b.storeBytes(of: v.littleEndian, toByteOffset: at, as: T.self)
}

@inline(__always) private func putDouble(_ v: Double, _ b: UnsafeMutableRawBufferPointer, _ at: Int) {
    put(v.bitPattern, b, at)
}

@inline(__always) private func get<T: FixedWidthInteger>(_ b: UnsafeRawBufferPointer, _ at: Int) -> T {
    T(littleEndian: b.loadUnaligned(fromByteOffset: at, as: T.self))
}

@inline(__always) private func getDouble(_ b: UnsafeRawBufferPointer, _ at: Int) -> Double {
    Double(bitPattern: get(b, at))
}
