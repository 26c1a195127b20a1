import Foundation

/// A progress bar on stderr for long work (add, get, dag import, gc).
///
/// It draws only when stderr is a terminal and the user did not ask for quiet, so piped
/// output and scripts stay clean. Redraws are throttled to ~10 per second.
final class ProgressBar: @unchecked Sendable {
    private let total: Int64?
    private let label: String
    private let enabled: Bool
    private let lock = NSLock()
    /// Formats an amount: bytes by default, or a count of items (`ProgressBar.count("blocks")`).
    private let format: @Sendable (Int64) -> String
    private var done: Int64 = 0
    private var lastDraw: TimeInterval = 0
    private let start = Date()

    /// - Parameters:
    ///   - total: the amount of work in bytes, if known.
    ///   - quiet: `-q` or similar: never draw.
    ///   - format: how amounts are shown (default: bytes).
    init(label: String, total: Int64?, quiet: Bool, format: @escaping @Sendable (Int64) -> String = ProgressBar.bytes) {
        self.label = label
        self.total = total
        self.format = format
        self.enabled = !quiet && isatty(STDERR_FILENO) == 1
    }

    /// Sets the amount done so far.
    func update(_ value: Int64) {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        done = value
        let now = Date().timeIntervalSince(start)
        guard now - lastDraw >= 0.1 else { return }
        lastDraw = now
        draw(elapsed: now)
    }

    /// Clears the bar's line so other output can be printed; the next update redraws it.
    func clearLine() {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        FileHandle.standardError.write(Data("\r\u{1b}[K".utf8))
        lastDraw = 0
    }

    /// Draws the final state and moves to a new line.
    func finish() {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        if let total { done = max(done, total) }
        draw(elapsed: Date().timeIntervalSince(start))
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func draw(elapsed: TimeInterval) {
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        var line = "\r\(label) \(format(done))"
        if let total, total > 0 {
            let fraction = min(1, Double(done) / Double(total))
            let width = 30
            let filled = Int(fraction * Double(width))
            line += " / \(format(total)) ["
                + String(repeating: "=", count: filled)
                + (filled < width ? ">" + String(repeating: " ", count: width - filled - 1) : "")
                + "] " + String(format: "%5.1f%%", fraction * 100)
        }
        line += "  \(format(Int64(rate)))/s   "
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// A formatter for counts of `unit` ("12345 blocks").
    static func count(_ unit: String) -> @Sendable (Int64) -> String {
        { "\($0) \(unit)" }
    }

    /// Human-readable byte counts (KiB, MiB, GiB).
    static func bytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(n) B" : String(format: "%.1f", value) + " " + units[unit]
    }
}
