import Foundation

/// Where the tests' independent peers live — the Python venv of Tests/peers-requirements.txt (the vendors' servo
/// SDKs, pybullet) and a headless Chromium — and what a test does when one is missing: skip on a developer's
/// machine, FAIL when the environment variable `CI` is set, so CI never passes by skipping what it was meant to check.
///
/// Lookup, without any fixed home-directory path:
/// - venv: `$REFLEX_PEERS_VENV` (the Makefile exports it), else `.peers-venv/` in the repository (where `make test`
///   creates it);
/// - Chromium: `$REFLEX_CHROMIUM` (the Makefile exports it), else `chromium`, `chromium-browser` or `google-chrome`
///   on `PATH`.
public enum TestPeers {
    /// CI is set (to anything but "", "0" or "false"): a missing peer is a failure, not a skip.
    public static let isCI: Bool = {
        guard let v = ProcessInfo.processInfo.environment["CI"]?.lowercased() else { return false }
        return !(v.isEmpty || v == "0" || v == "false")
    }()

    /// The repository's root, from this file's place in it.
    public static let repositoryRoot: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The peers venv's directory (it may not exist).
    public static let venv: String = {
        if let v = ProcessInfo.processInfo.environment["REFLEX_PEERS_VENV"], !v.isEmpty { return v }
        return repositoryRoot + "/.peers-venv"
    }()

    /// The venv's python, when it exists.
    public static let python: String? = {
        let p = venv + "/bin/python"
        return FileManager.default.isExecutableFile(atPath: p) ? p : nil
    }()

    /// The venv's site-packages directory (lib/python3.X/site-packages), when it exists.
    public static let sitePackages: String? = {
        let lib = venv + "/lib"
        guard let versions = try? FileManager.default.contentsOfDirectory(atPath: lib) else { return nil }
        for v in versions.sorted() where v.hasPrefix("python") {
            let p = lib + "/" + v + "/site-packages"
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        return nil
    }()

    /// A package directory inside the venv's site-packages (e.g. "pybullet_data", "scservo_sdk").
    public static func package(_ name: String) -> String? {
        guard let s = sitePackages else { return nil }
        let p = s + "/" + name
        return FileManager.default.fileExists(atPath: p) ? p : nil
    }

    /// The venv's python when every listed package directory is installed in it.
    public static func python(with packages: [String]) -> String? {
        packages.allSatisfy { package($0) != nil } ? python : nil
    }

    /// A headless-capable Chromium.
    public static let chromium: String? = {
        let env = ProcessInfo.processInfo.environment
        if let c = env["REFLEX_CHROMIUM"], !c.isEmpty { return FileManager.default.isExecutableFile(atPath: c) ? c : nil }
        let path = (env["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            for dir in path where FileManager.default.isExecutableFile(atPath: dir + "/" + name) { return dir + "/" + name }
        }
        return nil
    }()

    /// Whether a test that needs a peer runs: when the peer is there, or when CI is set (the test then fails on
    /// its `#require`); elsewhere it is skipped with `skipReason(_:)`.
    public static func runs(_ available: Bool) -> Bool { available || isCI }

    /// The skip comment for a missing peer.
    public static func skipReason(_ what: String) -> String {
        "skipped: no \(what) (make test installs it; with CI set this is a failure)"
    }

    /// The failure comment for a peer missing under CI.
    public static func missing(_ what: String) -> String {
        "missing peer: \(what) (venv \(venv); make test installs Tests/peers-requirements.txt there, and Debian's chromium)"
    }
}
