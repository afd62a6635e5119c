import Foundation
import KilnOCI

/// The last lines each vertex printed, with the time since it started, and the blocks of the
/// steps that failed: buildx shows a failed step's last output once, under the error, rather
/// than in the error message.
struct LogTail: Sendable {
    /// One line of output.
    struct Line: Sendable, Equatable {
        /// Seconds since the vertex started.
        var offset: Double
        var text: String
    }

    /// Lines kept a vertex.
    let limit: Int
    private(set) var lines: [Digest: [Line]] = [:]
    private var partial: [Digest: (bytes: [UInt8], since: Date)] = [:]
    /// Failed vertices' names and last lines, in the order they failed.
    private(set) var failures: [(name: String, lines: [Line])] = []

    init(limit: Int = 10) { self.limit = limit }

    /// Splits `data` into lines (a trailing partial line waits for its end or ``flush(_:olderThan:now:)``)
    /// and returns the complete ones.
    mutating func add(_ data: [UInt8], vertex: Digest, started: Date?, now: Date = Date()) -> [Line] {
        var pending = partial[vertex] ?? ([], now)
        pending.bytes += data
        var complete: [Line] = []
        while let nl = pending.bytes.firstIndex(of: 0x0a) {
            complete.append(line(pending.bytes[..<nl], started: started, at: pending.since))
            pending.bytes.removeSubrange(...nl)
            pending.since = now
        }
        partial[vertex] = pending.bytes.isEmpty ? nil : pending
        keep(complete, vertex: vertex)
        return complete
    }

    /// Ends the partial lines that have waited at least `age` seconds (every one with 0).
    mutating func flush(olderThan age: Double, started: (Digest) -> Date?, now: Date = Date()) -> [(Digest, Line)] {
        var out: [(Digest, Line)] = []
        for (vertex, pending) in partial where now.timeIntervalSince(pending.since) >= age {
            let l = line(pending.bytes[...], started: started(vertex), at: pending.since)
            partial[vertex] = nil
            keep([l], vertex: vertex)
            out.append((vertex, l))
        }
        return out.sorted { $0.1.offset < $1.1.offset }
    }

    /// Ends `vertex`'s partial line, if any.
    mutating func flush(_ vertex: Digest, started: Date?) -> Line? {
        guard let pending = partial.removeValue(forKey: vertex) else { return nil }
        let l = line(pending.bytes[...], started: started, at: pending.since)
        keep([l], vertex: vertex)
        return l
    }

    /// Records that `vertex` (shown as `name`) failed, with the lines it printed last — its
    /// partial line ended first, and returned for printers that show it.
    @discardableResult
    mutating func failed(_ vertex: Digest, name: String, started: Date?) -> Line? {
        let flushed = flush(vertex, started: started)
        if let kept = lines[vertex], !kept.isEmpty { failures.append((name, kept)) }
        return flushed
    }

    /// buildx's block for each failed step: its name and last lines between rules.
    var failureText: String {
        failures.map { f in
            "------\n > \(f.name):\n" + f.lines.map { String(format: "%.3f", $0.offset) + " " + $0.text + "\n" }.joined() + "------\n"
        }.joined()
    }

    private mutating func keep(_ new: [Line], vertex: Digest) {
        guard !new.isEmpty else { return }
        var kept = lines[vertex] ?? []
        kept += new
        if kept.count > limit { kept.removeFirst(kept.count - limit) }
        lines[vertex] = kept
    }

    private func line(_ bytes: ArraySlice<UInt8>, started: Date?, at: Date) -> Line {
        var text = String(decoding: bytes, as: UTF8.self)
        if text.hasSuffix("\r") { text.removeLast() }
        return Line(offset: max(0, at.timeIntervalSince(started ?? at)), text: text)
    }
}
