import Foundation
import ReflexCore
import TestSupport
import Testing

@testable import ReflexHardware

/// examples/usb-camera/publish.py, the OpenCV publisher for a real USB camera, played from a video file: OpenCV writes
/// an MJPG .avi of frames of known colours, the script crops, resizes, converts BGR → RGB and writes them into a
/// frame ring, and Reflex's reader gets those colours back (JPEG: within a few levels).
@Suite struct UsbCameraExampleTests {
    /// Colours (RGB) of each frame's left and right halves.
    static let colours: [([UInt8], [UInt8])] = [
        ([200, 30, 30], [30, 200, 30]), ([30, 30, 200], [220, 220, 40]), ([240, 240, 240], [20, 20, 20]), ([40, 180, 200], [180, 60, 160]),
    ]

    static let makeVideo = """
    import sys, cv2, numpy as np
    colours = %@
    w = cv2.VideoWriter(sys.argv[1], cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    assert w.isOpened()
    for left, right in colours:
        f = np.zeros((48, 64, 3), np.uint8)
        f[:, :32] = left[::-1]   # OpenCV frames are BGR
        f[:, 32:] = right[::-1]
        w.write(f)
    w.release()
    """

    @Test(.enabled(if: TestPeers.runs(TestPeers.python(with: ["cv2", "numpy"]) != nil), Comment(rawValue: TestPeers.skipReason("OpenCV in the peers venv"))))
    func aVideoPlayedThroughThePublisherArrivesInTheRing() throws {
        let python = try #require(TestPeers.python(with: ["cv2", "numpy"]), Comment(rawValue: TestPeers.missing("opencv-python-headless")))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("usb-camera-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let video = dir + "/colours.avi", ring = dir + "/front.frames"
        let list = "[" + Self.colours.map { "(\($0.0), \($0.1))" }.joined(separator: ", ") + "]"
        try Self.run(python, ["-c", Self.makeVideo.replacingOccurrences(of: "%@", with: list), video])
        let script = TestPeers.repositoryRoot + "/examples/usb-camera/publish.py"
        try Self.run(python, [script, "--source", video, "--ring", ring, "--camera", "front", "--size", "32x32", "--slots", "8"])

        let reader = try FrameRingReader(path: ring)
        let k = try reader.camera(named: "front", width: 32, height: 32)
        #expect(reader.newest(camera: k)?.number == UInt64(Self.colours.count))
        var frame = [UInt8](repeating: 0, count: 32 * 32 * 3)
        var worst = 0
        for (n, (left, right)) in Self.colours.enumerated() {
            let r = frame.withUnsafeMutableBytes { reader.read(camera: k, number: UInt64(n + 1), into: $0.baseAddress!) }
            guard case .frame = r else {
                Issue.record("frame \(n + 1): \(r)")
                continue
            }
            // The 64×48 frame is cropped to its central 48×48 and resized to 32×32: the halves meet at column 16.
            for y in 0 ..< 32 {
                for x in 0 ..< 32 where x < 13 || x > 18 {
                    let want = x < 16 ? left : right
                    for c in 0 ..< 3 { worst = max(worst, abs(Int(frame[(y * 32 + x) * 3 + c]) - Int(want[c]))) }
                }
            }
        }
        #expect(worst <= 4, "largest difference from the colours written: \(worst) levels (JPEG; 2 reached)")
    }

    static func run(_ exe: String, _ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw ReflexError(.io, "\(exe) \(args.first ?? "") failed (\(p.terminationStatus)): \(text)")
        }
    }
}
