import AllocationCounter
import Foundation
import ReflexCore
import ReflexRobot
import Testing

@testable import ReflexHardware

/// The camera side channel of hardware in the loop: wire format, refusal of malformed datagrams, and the
/// publisher/subscriber pair over a real Unix datagram socket.
@Suite struct CameraChannelTests {
    static func estimate(episode: UInt32 = 3, sequence: UInt64 = 41, success: Bool = true) -> CameraEstimate {
        let h = 0.5.squareRoot()
        return CameraEstimate(episode: episode, sequence: sequence, captureTime: 123_456_789,
                              position: Vector3(0.2, -0.05, 0.015), orientation: SIMD4(0, 0, h, h),
                              goal: Vector3(0.2, -0.05, 0.065), success: success)
    }

    static func bytes(_ m: CameraMessage) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: CameraMessage.maximumSize)
        let n = b.withUnsafeMutableBytes { m.encode(into: $0) }
        return Array(b[0 ..< n])
    }

    static func decode(_ b: [UInt8]) -> Result<CameraMessage, CameraDatagramError> {
        b.withUnsafeBytes { raw in
            do throws(CameraDatagramError) { return .success(try CameraMessage.decode(raw)) } catch { return .failure(error) }
        }
    }

    @Test func everyKindRoundTrips() {
        let messages: [CameraMessage] = [.estimate(Self.estimate()), .estimate(Self.estimate(success: false)), .subscribe,
                                         .reset(episode: 7, seed: 0xDEAD_BEEF_0000_0001), .resetDone(episode: 7, seed: 12)]
        for m in messages {
            let b = Self.bytes(m)
            #expect(Array(b[0 ..< 4]) == Array("RXCM".utf8))
            #expect(Self.decode(b) == .success(m))
        }
        #expect(Self.bytes(.estimate(Self.estimate())).count == 112)
        #expect(Self.bytes(.subscribe).count == 8)
    }

    @Test func malformedDatagramsGetTypedErrors() {
        let good = Self.bytes(.estimate(Self.estimate()))
        #expect(Self.decode([]) == .failure(.tooShort(0)))
        #expect(Self.decode(Array(good[0 ..< 5])) == .failure(.tooShort(5)))
        var b = good; b[0] = UInt8(ascii: "X")
        if case .failure(.badMagic) = Self.decode(b) {} else { Issue.record("bad magic accepted") }
        b = good; b[4] = 9
        #expect(Self.decode(b) == .failure(.unsupportedVersion(9)))
        b = good; b[5] = 77
        #expect(Self.decode(b) == .failure(.unknownKind(77)))
        #expect(Self.decode(Array(good.dropLast())) == .failure(.wrongLength(kind: 1, expected: 112, got: 111)))
        #expect(Self.decode(good + [0]) == .failure(.wrongLength(kind: 1, expected: 112, got: 113)))
        b = good; b[12] = 0x06
        #expect(Self.decode(b) == .failure(.unknownFlags(6)))
        b = good
        b.withUnsafeMutableBytes { $0.storeBytes(of: Double.nan.bitPattern.littleEndian, toByteOffset: 40, as: UInt64.self) }
        #expect(Self.decode(b) == .failure(.nonFinite(offset: 40)))
        b = good
        b.withUnsafeMutableBytes { $0.storeBytes(of: 2.0.bitPattern.littleEndian, toByteOffset: 80, as: UInt64.self) }
        #expect(Self.decode(b) == .failure(.notAUnitQuaternion))
        // The cold-path form names the byte offset.
        let e = CameraDatagramError.nonFinite(offset: 40).reflexError
        #expect(e.code == .malformedDatagram && e.location.byteOffset == 40)
    }

    @Test func randomAndCorruptedDatagramsNeverBecomeEstimatesByAccident() {
        var gen = RandomGenerator(seed: 5)
        var accepted = 0
        for _ in 0 ..< 2000 {
            let n = Int(gen.next() % 130)
            let b = (0 ..< n).map { _ in UInt8(truncatingIfNeeded: gen.next()) }
            if case .success = Self.decode(b) { accepted += 1 }
        }
        #expect(accepted == 0)
        // One flipped byte in a good estimate: refused, or still a finite estimate with a unit quaternion.
        let good = Self.bytes(.estimate(Self.estimate()))
        for k in 0 ..< good.count {
            var b = good
            b[k] ^= 0xA5
            if case .success(.estimate(let e)) = Self.decode(b) {
                #expect(e.position.x.isFinite && e.goal.z.isFinite)
                let q = e.orientation
                #expect(abs((q * q).sum() - 1) < 2e-3)
            }
        }
    }

    /// A path of our own under /tmp (sun_path holds 108 bytes).
    static func socketPath(_ tag: String) -> String { "/tmp/rx-cam-\(getpid())-\(tag)" }

    @Test func subscriberGetsNewestEstimateAndResetsAreAcknowledged() throws {
        let path = Self.socketPath("a")
        let publisher = try CameraPublisher(path: path)
        let subscriber = try CameraSubscriber(path: path)
        #expect(publisher.nextReset() == nil)
        #expect(publisher.subscriberCount == 1)
        #expect(subscriber.poll() == false) // nothing yet, and it does not block
        for s in 1 ... 3 { publisher.publish(Self.estimate(episode: 0, sequence: UInt64(s))) }
        #expect(subscriber.poll())
        #expect(subscriber.latest?.sequence == 3)
        #expect(subscriber.received == 3)

        // The reset handshake: the runner blocks in requestReset while the scene answers from another thread.
        let scene = Thread {
            let deadline = Date().addingTimeInterval(5)
            while Date() < deadline {
                if let r = publisher.nextReset() {
                    publisher.acknowledgeReset(episode: r.episode, seed: r.seed)
                    publisher.publish(Self.estimate(episode: r.episode, sequence: 10))
                    return
                }
                usleep(1000)
            }
        }
        scene.start()
        try subscriber.requestReset(episode: 4, seed: 99, timeout: 5)
        #expect(subscriber.acknowledged?.episode == 4 && subscriber.acknowledged?.seed == 99)
        #expect(subscriber.latest?.episode == 4)
    }

    @Test func garbageSentToThePublisherIsCountedAndSkipped() throws {
        let path = Self.socketPath("b")
        let publisher = try CameraPublisher(path: path)
        var target = try UnixAddress(path: path)
        let fd = try datagramSocket()
        defer { close(fd) }
        func send(_ b: [UInt8]) {
            // The length is read before the address is borrowed: `target` is captured, so reading it inside the
            // borrow is an overlapping access (a runtime exclusivity trap in debug builds).
            let length = target.length
            _ = b.withUnsafeBytes { raw in
                withUnsafePointer(to: &target.storage) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, raw.baseAddress, raw.count, 0, $0, length) }
                }
            }
        }
        send([1, 2, 3])
        send(Array("hello, camera".utf8))
        send(Self.bytes(.estimate(Self.estimate()))) // well-formed, but not something a runner may send
        #expect(publisher.nextReset() == nil)
        #expect(publisher.malformed == 3)
        #expect(publisher.subscriberCount == 0)
        // An unnamed sender cannot be answered; a real subscriber after the garbage is served.
        let subscriber = try CameraSubscriber(path: path)
        _ = publisher.nextReset()
        publisher.publish(Self.estimate(episode: 0, sequence: 1))
        #expect(subscriber.poll())
    }

    @Test func missingChannelIsATypedError() {
        #expect {
            _ = try CameraSubscriber(path: Self.socketPath("missing"))
        } throws: { ($0 as? ReflexError)?.code == .deviceNotFound }
    }

    @Test func pollAllocatesNothing() throws {
        #expect(rx_allocation_counter_active() == 1)
        let path = Self.socketPath("c")
        let publisher = try CameraPublisher(path: path)
        let subscriber = try CameraSubscriber(path: path)
        _ = publisher.nextReset()
        publisher.publish(Self.estimate(episode: 0, sequence: 1))
        subscriber.poll()
        var total: UInt64 = 0
        for s in 2 ..< 102 {
            publisher.publish(Self.estimate(episode: 0, sequence: UInt64(s)))
            let before = rx_thread_allocation_count()
            subscriber.poll()
            total += rx_thread_allocation_count() - before
        }
        #expect(subscriber.latest?.sequence == 101)
        #expect(total == 0, "\(total) allocations in 100 polls")
    }
}
