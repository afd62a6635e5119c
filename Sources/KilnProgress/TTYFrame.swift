import Foundation
import KilnOCI

/// What the live display shows, drawn into lines that fit the terminal: buildx's layout —
/// a `[+] Building 12.3s (8/9)` header, one line a vertex with its time (ticking while it
/// runs), and under each running vertex its sub-tasks and last output lines. When the frame
/// is taller than the terminal, finished vertices are collapsed into one line first.
struct TTYFrame {
    /// One vertex and what runs under it.
    struct Entry {
        var status: VertexStatus
        var tasks: [TaskStatus]
        var logs: [String]
    }

    var entries: [Entry]
    var started: Date
    var finished: Bool
    /// Output lines shown under a running step.
    static let logLines = 6

    /// The frame's lines at `now`, each at most `width - 1` columns, at most `height - 1` lines.
    func lines(now: Date, width: Int, height: Int) -> [String] {
        let done = entries.filter { $0.status.completed != nil || $0.status.error != nil }.count
        var header = "[+] Building \(Self.seconds(now.timeIntervalSince(started))) (\(done)/\(entries.count))"
        if finished { header += entries.contains { $0.status.error != nil } ? " FAILED" : " FINISHED" }
        let columns = min(80, max(10, width - 1))
        var body: [[String]] = entries.map { block($0, now: now, columns: columns) }
        let maxLines = max(3, height - 1)
        var collapsed = 0
        // Finished vertices go first (oldest first), then the oldest of the rest.
        while body.reduce(0, { $0 + $1.count }) > maxLines - 1 - (collapsed > 0 ? 1 : 0), let i = collapsible(body) {
            body.remove(at: i)
            collapsed += 1
        }
        var out = [header]
        if collapsed > 0 { out.append(" => … \(collapsed) more step\(collapsed == 1 ? "" : "s") (shown once the build ends)") }
        out += body.joined()
        // A single running step with more lines than the terminal keeps its newest ones.
        if out.count > maxLines { out = [out[0]] + out.suffix(maxLines - 1) }
        return out.map { Self.fit($0, width: width) }
    }

    private func collapsible(_ body: [[String]]) -> Int? {
        let finishedIndex = body.indices.first { i in
            let s = entries[entries.count - body.count + i].status
            return s.completed != nil || s.error != nil
        }
        return finishedIndex ?? (body.count > 1 ? 0 : nil)
    }

    private func block(_ e: Entry, now: Date, columns: Int) -> [String] {
        let v = e.status
        let running = v.completed == nil && v.error == nil
        var prefix = " => "
        if v.cached && v.completed != nil { prefix += "CACHED " }
        if v.canceled { prefix += "CANCELED " } else if v.error != nil { prefix += "ERROR " }
        let time = Self.seconds((v.completed ?? now).timeIntervalSince(v.started ?? now))
        var lines = [Self.columns(prefix + v.name, time, width: columns)]
        guard running || v.error != nil else { return lines }
        for t in e.tasks {
            let end = t.completed ?? now
            var right = t.started.map { Self.seconds(end.timeIntervalSince($0)) } ?? ""
            if t.total > 0, t.current < t.total { right = ByteCount.short(t.current) + " / " + ByteCount.short(t.total) + " " + right }
            lines.append(Self.columns(" => => " + t.label + (t.isDone ? " done" : ""), right, width: columns))
        }
        lines += e.logs.suffix(Self.logLines).map { " => => # " + $0 }
        return lines
    }

    /// `left` and `right` as one line `width` columns wide: `right` flush right, `left` cut to
    /// make room for it.
    static func columns(_ left: String, _ right: String, width: Int) -> String {
        guard !right.isEmpty else { return left }
        var left = left
        if left.count + 1 + right.count > width { left = String(left.prefix(max(1, width - right.count - 2))) + "…" }
        return left + String(repeating: " ", count: max(1, width - left.count - right.count)) + right
    }

    static func seconds(_ s: Double) -> String { String(format: "%.1fs", max(0, s)) }

    /// `line` cut to `width - 1` columns, control characters removed.
    static func fit(_ line: String, width: Int) -> String {
        let clean = String(line.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f }.map(Character.init))
        let limit = max(10, width - 1)
        return clean.count <= limit ? clean : String(clean.prefix(limit - 1)) + "…"
    }
}
