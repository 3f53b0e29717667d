import Foundation

/// The robot descriptions shipped with Reflex (the YAML files in robots/ and the URDFs they name), installed by
/// SwiftPM as a resource bundle next to the binary that links Reflex (an executable, or the C ABI's shared library),
/// so an embedder finds `so101` without a checkout or a working directory. Looked up by hand rather than through
/// `Bundle.module`, whose accessor traps when the bundle is missing.
public enum BundledRobots {
    /// The bundle's directory name, as SwiftPM names it (package `Reflex`, target `ReflexRobotDescriptions`).
    public static let bundleName = "Reflex_ReflexRobotDescriptions.resources"

    /// The directory holding the bundled descriptions, or nil when the bundle is not installed next to the binary.
    public static let directory: String? = {
        var candidates: [String] = []
        // The binary image holding this code: the executable, or a shared library loaded by a C or Python host.
        if let image = imagePath() {
            let dir = URL(fileURLWithPath: image).resolvingSymlinksInPath().deletingLastPathComponent()
            candidates.append(dir.appendingPathComponent(bundleName).path)
        }
        candidates.append(Bundle.main.bundleURL.appendingPathComponent(bundleName).path)
        if let real = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(URL(fileURLWithPath: real).deletingLastPathComponent().appendingPathComponent(bundleName).path)
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/so101.yaml") }
    }()

    /// The file of the loaded image that holds this module's code: the mapping of /proc/self/maps that contains
    /// this module's code (nil where there is no /proc).
    static func imagePath() -> String? {
        let anchor: @convention(c) () -> Void = bundledRobotsAnchor
        let address = unsafeBitCast(anchor, to: UInt.self)
        // Read to the end: /proc files report a size of 0, so size-based readers see nothing.
        guard let file = FileHandle(forReadingAtPath: "/proc/self/maps") else { return nil }
        defer { try? file.close() }
        var bytes = Data()
        while let chunk = try? file.read(upToCount: 1 << 16), !chunk.isEmpty { bytes.append(chunk) }
        let maps = String(decoding: bytes, as: UTF8.self)
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, let dash = fields[0].firstIndex(of: "-"),
                  let low = UInt(fields[0][..<dash], radix: 16),
                  let high = UInt(fields[0][fields[0].index(after: dash)...], radix: 16),
                  low <= address, address < high
            else { continue }
            let path = fields[5...].joined(separator: " ")
            return path.hasPrefix("/") ? path : nil
        }
        return nil
    }
}

/// A function whose address lies in the code of the image that holds this module.
private func bundledRobotsAnchor() {}
