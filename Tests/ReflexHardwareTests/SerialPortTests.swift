import Foundation
import ReflexCore
import Testing

@testable import ReflexHardware

@Suite struct SerialPortTests {
    @Test func bytesCrossAPseudoTerminalBothWays() throws {
        let pty = try PseudoTerminal()
        let port = try SerialPort(path: pty.slavePath, baud: 1_000_000)
        let request: [UInt8] = [0xFF, 0xFF, 0x01, 0x02, 0x01, 0xFB, 0x0A, 0x0D]
        try port.write(request)
        var got = [UInt8](repeating: 0, count: 64)
        var n = 0
        while n < request.count {
            let k = got.withUnsafeMutableBytes { pty.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[n...]), timeoutMilliseconds: 1000) }
            if k == 0 { break }
            n += k
        }
        #expect(Array(got[0 ..< n]) == request, "raw mode must pass every byte unchanged (no CR/LF mapping)")
        let reply: [UInt8] = [0xFF, 0xFF, 0x01, 0x02, 0x00, 0x0D, 0x0A, 0xFC]
        reply.withUnsafeBytes { pty.write($0) }
        var back = [UInt8](repeating: 0, count: 64)
        var m = 0
        while m < reply.count {
            let k = try back.withUnsafeMutableBytes {
                try port.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[m...]), deadline: monotonicNanoseconds() + 1_000_000_000)
            }
            if k == 0 { break }
            m += k
        }
        #expect(Array(back[0 ..< m]) == reply)
    }

    @Test func readReturnsNothingWhenTheDeadlinePasses() throws {
        let pty = try PseudoTerminal()
        let port = try SerialPort(path: pty.slavePath, baud: 115_200)
        var buf = [UInt8](repeating: 0, count: 8)
        let start = monotonicNanoseconds()
        let n = try buf.withUnsafeMutableBytes { try port.read(into: $0, deadline: start + 20_000_000) }
        #expect(n == 0)
        #expect(monotonicNanoseconds() >= start + 20_000_000, "read must wait until the deadline, not return early")
    }

    @Test(arguments: [1_000_000, 500_000, 250_000, 57_600, 1_234_567])
    func setsAnyBaudRateExactly(_ baud: Int) throws {
        let pty = try PseudoTerminal()
        let port = try SerialPort(path: pty.slavePath, baud: baud)
        #expect(try port.appliedBaud() == baud)
    }

    @Test func missingDeviceIsATypedError() {
        #expect {
            _ = try SerialPort(path: "/dev/reflex-no-such-device", baud: 1_000_000)
        } throws: { ($0 as? ReflexError)?.code == .deviceNotFound }
    }

    @Test func secondOpenOfTheSameDeviceIsBusy() throws {
        let pty = try PseudoTerminal()
        let first = try SerialPort(path: pty.slavePath, baud: 1_000_000)
        #expect {
            _ = try SerialPort(path: pty.slavePath, baud: 1_000_000)
        } throws: { ($0 as? ReflexError)?.code == .deviceBusy }
        first.close()
        _ = try SerialPort(path: pty.slavePath, baud: 1_000_000) // free again once closed
    }

    @Test func aRegularFileIsNotASerialDevice() throws {
        let path = NSTemporaryDirectory() + "reflex-not-a-tty-\(getpid())"
        #expect(FileManager.default.createFile(atPath: path, contents: Data([1, 2, 3])))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect {
            _ = try SerialPort(path: path, baud: 1_000_000)
        } throws: { ($0 as? ReflexError)?.code == .deviceUnavailable }
    }

    @Test func linkPathPointsAtTheSlave() throws {
        let link = NSTemporaryDirectory() + "reflex-pty-link-\(getpid())"
        let pty = try PseudoTerminal(link: link)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == pty.slavePath)
        _ = try SerialPort(path: link, baud: 1_000_000)
        pty.close()
        #expect(!FileManager.default.fileExists(atPath: link))
    }
}
