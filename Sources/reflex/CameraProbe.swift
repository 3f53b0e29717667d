import ArgumentParser
import Foundation
import ReflexCore
import ReflexHardware

/// `reflex camera`: tools for the camera channel's frame ring.
struct CameraCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "camera",
        abstract: "Look at a camera channel's frame ring (what reflex emulate --frames or examples/usb-camera/publish.py write).",
        subcommands: [Probe.self]
    )

    struct Probe: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a frame ring: its cameras, frames per second over --seconds, the newest frame's age; optionally save it as a PPM."
        )

        @Argument(help: "The ring's file, e.g. /dev/shm/so101.cam.frames.") var path: String
        @Option(help: "Watch this long to count frames (s).") var seconds: Double = 1
        @Option(help: "Write each camera's newest frame to PREFIX<camera>.ppm.") var out: String?

        func run() throws {
            let reader: FrameRingReader
            do { reader = try FrameRingReader(path: path) } catch { throw HardwareCommandError(description: error.description) }
            print("\(path): \(reader.cameras.count) camera(s), publisher pid \(reader.publisherPID)")
            let first = reader.cameras.indices.map { reader.newest(camera: $0)?.number ?? 0 }
            Thread.sleep(forTimeInterval: max(0, seconds))
            for (k, c) in reader.cameras.enumerated() {
                var line = "  \(c.name): \(c.width)x\(c.height) RGB8"
                if let n = reader.newest(camera: k) {
                    let now = monotonicNanoseconds()
                    let age = now > n.captureTime ? Double(now - n.captureTime) * 1e-6 : 0
                    let rate = seconds > 0 ? Double(n.number - min(first[k], n.number)) / seconds : 0
                    line += ", frame \(n.number), newest \(String(format: "%.1f", age)) ms old, \(String(format: "%.1f", rate)) frames/s"
                    if let out {
                        var frame = [UInt8](repeating: 0, count: c.frameBytes)
                        if case .frame = frame.withUnsafeMutableBytes({ reader.read(camera: k, into: $0.baseAddress!) }) {
                            let file = out + c.name + ".ppm"
                            try writeFileAtomically(frame.withUnsafeBufferPointer { PortablePixmap.encodeP6(width: c.width, height: c.height, rgb: $0) }, to: file)
                            line += ", saved \(file)"
                        }
                    }
                } else {
                    line += ", no frame yet"
                }
                print(line)
            }
        }
    }
}
