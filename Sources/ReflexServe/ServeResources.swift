import Foundation

/// The status page and the OpenAPI document, committed under Sources/ReflexServe/Resources and installed by SwiftPM
/// as `Reflex_ReflexServe.resources` next to the executable. Looked up by hand instead of through `Bundle.module`,
/// whose accessor traps when the bundle is missing: a daemon moved without its resources answers 503 instead.
enum ServeResources {
    static let bundleName = "Reflex_ReflexServe.resources"

    static let directory: String? = {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["REFLEX_SERVE_RESOURCES"] { candidates.append(env) }
        candidates.append(Bundle.main.bundleURL.appendingPathComponent(bundleName).appendingPathComponent("Resources").path)
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        candidates.append(exe.appendingPathComponent(bundleName).appendingPathComponent("Resources").path)
        if let real = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let dir = URL(fileURLWithPath: real).deletingLastPathComponent()
            candidates.append(dir.appendingPathComponent(bundleName).appendingPathComponent("Resources").path)
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/openapi.json") }
    }()


    static func bytes(_ name: String) -> [UInt8]? {
        guard let dir = directory, let data = FileManager.default.contents(atPath: dir + "/" + name) else { return nil }
        return Array(data)
    }
}
