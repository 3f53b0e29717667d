import Foundation
import ReflexCore
import Testing

/// Directory of this test target's committed fixtures.
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

/// A fresh temporary directory for one test.
func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "reflex-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Runs `body` and returns the ReflexError it throws (failing the test if it throws none or another type).
func reflexError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> ReflexError? {
    do {
        try body()
        Issue.record("expected a ReflexError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let e as ReflexError {
        return e
    } catch {
        Issue.record("expected a ReflexError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
