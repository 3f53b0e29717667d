import AllocationCounter
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import ReflexCore
import Synchronization
import Testing

@testable import ReflexHardware

/// The camera channel's shared-memory frame ring: round trips (up to 640×480), the seqlock against torn frames, and
/// refusal of rings that do not add up.
@Suite struct FrameRingTests {
    static func path(_ tag: String) -> String {
        FileManager.default.temporaryDirectory.path + "/reflex-ring-\(getpid())-\(tag).frames"
    }

    static func frame(_ c: FrameRingCamera, seed: UInt8) -> [UInt8] {
        (0 ..< c.frameBytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
    }

    @Test func roundTripsSmallAndMegabyteFrames() throws {
        let cams = [try FrameRingCamera(name: "front", width: 64, height: 64), try FrameRingCamera(name: "wrist", width: 640, height: 480)]
        let p = Self.path("rt")
        let writer = try FrameRingWriter(path: p, cameras: cams, slots: 3)
        let reader = try FrameRingReader(path: p)
        #expect(reader.cameras == cams)
        #expect(reader.publisherPID == getpid())
        var out = [UInt8](repeating: 0, count: cams[1].frameBytes)
        #expect(out.withUnsafeMutableBytes { reader.read(camera: 1, into: $0.baseAddress!) } == .none)
        for n in 1 ... 7 { // more frames than slots: the ring wraps
            for (k, c) in cams.enumerated() {
                let f = Self.frame(c, seed: UInt8(n * 3 + k))
                f.withUnsafeBytes { writer.publish(camera: k, pixels: $0.baseAddress!, captureTime: UInt64(1000 * n + k)) }
            }
            for (k, c) in cams.enumerated() {
                let r = out.withUnsafeMutableBytes { reader.read(camera: k, into: $0.baseAddress!) }
                #expect(r == .frame(number: UInt64(n), captureTime: UInt64(1000 * n + k)))
                #expect(Array(out[0 ..< c.frameBytes]) == Self.frame(c, seed: UInt8(n * 3 + k)))
                #expect(reader.newest(camera: k)?.number == UInt64(n))
            }
        }
        #expect(try reader.camera(named: "wrist", width: 640, height: 480) == 1)
    }

    @Test func aFrameBeingWrittenIsNeverReturned() throws {
        // One slot: the frame being written is the one the reader wants, so it must say torn, not mix bytes.
        let c = try FrameRingCamera(name: "front", width: 8, height: 8)
        let writer = try FrameRingWriter(path: nil, cameras: [c], slots: 1)
        let reader = FrameRingReader(sharing: writer)
        let old = [UInt8](repeating: 1, count: c.frameBytes)
        old.withUnsafeBytes { writer.publish(camera: 0, pixels: $0.baseAddress!, captureTime: 5) }
        let into = writer.beginFrame(camera: 0)
        into.initializeMemory(as: UInt8.self, repeating: 2, count: c.frameBytes / 2) // half-written
        var out = [UInt8](repeating: 0, count: c.frameBytes)
        #expect(out.withUnsafeMutableBytes { reader.read(camera: 0, into: $0.baseAddress!) } == .torn)
        #expect(reader.newest(camera: 0) == nil)
        into.advanced(by: c.frameBytes / 2).initializeMemory(as: UInt8.self, repeating: 2, count: c.frameBytes / 2)
        writer.commitFrame(camera: 0, captureTime: 6)
        #expect(out.withUnsafeMutableBytes { reader.read(camera: 0, into: $0.baseAddress!) } == .frame(number: 2, captureTime: 6))
        #expect(out.allSatisfy { $0 == 2 })
    }

    @Test func aReaderRacingTheWriterSeesOnlyWholeFrames() throws {
        // The writer fills each frame with one byte value; every frame the reader accepts must be uniform.
        let c = try FrameRingCamera(name: "front", width: 96, height: 96)
        let writer = try FrameRingWriter(path: nil, cameras: [c], slots: 2)
        let reader = FrameRingReader(sharing: writer)
        let done = StopFlag()
        let thread = Thread {
            var v: UInt8 = 0
            while !done.value.load(ordering: .relaxed) {
                v &+= 1
                let into = writer.beginFrame(camera: 0)
                for i in 0 ..< c.frameBytes { into.storeBytes(of: v, toByteOffset: i, as: UInt8.self) }
                writer.commitFrame(camera: 0, captureTime: UInt64(v))
            }
        }
        thread.start()
        var out = [UInt8](repeating: 0, count: c.frameBytes)
        var whole = 0, torn = 0, mixed = 0, reads = 0
        let giveUp = monotonicNanoseconds() + 10_000_000_000
        // At least 20,000 reads, and until 200 whole frames came through (the writer thread may start late).
        while (reads < 20_000 || whole < 200) && monotonicNanoseconds() < giveUp {
            reads += 1
            switch out.withUnsafeMutableBytes({ reader.read(camera: 0, into: $0.baseAddress!, attempts: 1) }) {
            case .frame(_, let t):
                whole += 1
                if !out.allSatisfy({ $0 == UInt8(t) }) { mixed += 1 }
            case .torn: torn += 1
            case .none: break
            }
        }
        done.value.store(true, ordering: .relaxed)
        while !thread.isFinished { usleep(1000) }
        #expect(mixed == 0, "\(mixed) of \(whole) accepted frames mixed two frames (\(torn) reads said torn)")
        #expect(whole > 0)
    }

    /// Writes a valid ring, changes `patch` bytes, and returns the reader's refusal.
    static func refusal(_ tag: String, patch: (UnsafeMutableRawPointer) -> Void = { _ in }, truncateTo: Int? = nil) throws -> FrameRingError? {
        let p = path(tag)
        let cams = [try FrameRingCamera(name: "front", width: 64, height: 48)]
        let writer = try FrameRingWriter(path: p, cameras: cams, slots: 2)
        defer { withExtendedLifetime(writer) {} }
        patch(writer.mapping.base)
        if let truncateTo { _ = truncate(p, off_t(truncateTo)) }
        do throws(FrameRingError) {
            _ = try FrameRingReader(path: p)
            return nil
        } catch {
            return error
        }
    }

    @Test func ringsThatDoNotAddUpAreRefusedWithTheReason() throws {
        let bad = try Self.refusal("magic") { $0.storeBytes(of: UInt32(0x1234), as: UInt32.self) }
        #expect(bad.map { if case .badMagic(_, 0x1234) = $0 { true } else { false } } == true)
        #expect(bad?.description.contains("does not start with RXFR") == true)
        let version = try Self.refusal("version") { $0.storeBytes(of: UInt32(9), toByteOffset: 4, as: UInt32.self) }
        #expect(version.map { if case .unsupportedVersion(_, 9) = $0 { true } else { false } } == true)
        let format = try Self.refusal("format") { $0.storeBytes(of: UInt32(7), toByteOffset: 64 + 40, as: UInt32.self) }
        #expect(format.map { if case .wrongFormat(_, "front", 7) = $0 { true } else { false } } == true)
        let short = try Self.refusal("short", truncateTo: 5000)
        #expect(short.map { if case .sizeMismatch(_, _, 5000) = $0 { true } else { false } } == true)
        let tiny = try Self.refusal("tiny", truncateTo: 100)
        #expect(tiny.map { if case .tooSmall(_, 100) = $0 { true } else { false } } == true)
        let bytes = try Self.refusal("bytes") { $0.storeBytes(of: UInt32(5), toByteOffset: 64 + 44, as: UInt32.self) }
        #expect(bytes.map { if case .badLayout = $0 { true } else { false } } == true)
        let slots = try Self.refusal("slots") { $0.storeBytes(of: UInt64(1 << 40), toByteOffset: 64 + 56, as: UInt64.self) }
        #expect(slots.map { if case .badLayout = $0 { true } else { false } } == true)
        #expect(try Self.refusal("fine") == nil)
        do throws(FrameRingError) {
            _ = try FrameRingReader(path: Self.path("absent"))
            Issue.record("a missing ring was opened")
        } catch {
            #expect(error == .cannotOpen(path: Self.path("absent"), errno: ENOENT))
        }
    }

    @Test func aCameraOfAnotherSizeOrNameIsRefused() throws {
        let p = Self.path("size")
        let writer = try FrameRingWriter(path: p, cameras: [try FrameRingCamera(name: "front", width: 64, height: 48)])
        let reader = try FrameRingReader(path: p)
        #expect(throws: FrameRingError.wrongFrameSize(path: p, camera: "front", width: 64, height: 48, wantedWidth: 96, wantedHeight: 96)) {
            try reader.camera(named: "front", width: 96, height: 96)
        }
        #expect(throws: FrameRingError.noSuchCamera(path: p, name: "wrist", available: ["front"])) {
            try reader.camera(named: "wrist", width: 64, height: 48)
        }
        withExtendedLifetime(writer) {}
    }

    @Test func readingAndWritingAFrameAllocateNothing() throws {
        let c = try FrameRingCamera(name: "front", width: 640, height: 480)
        let writer = try FrameRingWriter(path: nil, cameras: [c], slots: 2)
        let reader = FrameRingReader(sharing: writer)
        let src = UnsafeMutableRawPointer.allocate(byteCount: c.frameBytes, alignment: 64)
        let dst = UnsafeMutableRawPointer.allocate(byteCount: c.frameBytes, alignment: 64)
        defer { src.deallocate(); dst.deallocate() }
        src.initializeMemory(as: UInt8.self, repeating: 9, count: c.frameBytes)
        writer.publish(camera: 0, pixels: src, captureTime: 1)
        _ = reader.read(camera: 0, into: dst)
        let before = rx_thread_allocation_count()
        for n in 2 ..< 22 {
            writer.publish(camera: 0, pixels: src, captureTime: UInt64(n))
            _ = reader.read(camera: 0, into: dst)
            _ = reader.newest(camera: 0)
        }
        let total = rx_thread_allocation_count() - before
        #expect(total == 0, "\(total) allocations in 20 frames written and read")
    }
}

final class StopFlag: Sendable { let value = Atomic<Bool>(false) }
