import Foundation

/// A one-line progress display on standard error: a bar, a count, a rate, an ETA and a free-form status.
/// Safe to update from several worker threads (the lock serializes drawing).
final class ProgressLine: @unchecked Sendable {
    private let lock = NSLock()
    let total: Int
    let label: String
    private let start = Date()
    private var lastDraw = Date.distantPast
    private let interactive = isatty(STDERR_FILENO) != 0

    init(total: Int, label: String) {
        self.total = total
        self.label = label
    }

    func update(_ done: Int, status: String = "", force: Bool = false) {
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        guard force || done >= total || now.timeIntervalSince(lastDraw) > (interactive ? 0.1 : 5) else { return }
        lastDraw = now
        let elapsed = now.timeIntervalSince(start)
        let frac = total > 0 ? Double(done) / Double(total) : 1
        let width = 28
        let filled = Int(frac * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let line = "\(label) \(bar) \(done)/\(total) \(String(format: "%.1f", rate))/s eta \(Int(eta))s \(status)"
        FileHandle.standardError.write(Data(((interactive ? "\r\u{1B}[K" : "") + line + (interactive ? "" : "\n")).utf8))
    }

    func finish(_ status: String = "") {
        update(total, status: status, force: true)
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
