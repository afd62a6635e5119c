import Foundation
import KilnOCI
import KilnSystem

/// The live display for terminals (see ``TTYFrame``): redrawn in place on every tick and at
/// most every 100 ms on events, sized to the terminal at each draw (so a resize takes effect
/// at once); at the end the final frame stays, followed by `--explain`'s cache misses, the
/// warnings and the failed steps' last lines.
public actor TTYPrinter: ProgressPrinter {
    private let output: FileHandle
    private var order: [Digest] = []
    private var states: [Digest: VertexStatus] = [:]
    private var tasks: [Digest: [TaskStatus]] = [:]
    private var logs = LogTail()
    private var drawnLines = 0
    private var lastDraw = Date.distantPast
    private var warnings: [String] = []
    /// `--explain`'s reasons, by step, to list under the final frame (which folds sub-tasks).
    private var misses: [String] = []
    private let started = Date()
    private var ended = false

    /// A printer writing to `output`.
    public init(output: FileHandle) { self.output = output }

    public func handle(_ event: ProgressEvent) async {
        switch event {
        case .vertex(let v):
            if states[v.digest] == nil { order.append(v.digest) }
            states[v.digest] = v
            if v.error != nil, !v.canceled { logs.failed(v.digest, name: v.name, started: v.started) }
        case .log(let vertex, _, let data):
            _ = logs.add(data, vertex: vertex, started: states[vertex]?.started)
        case .status(let s):
            var list = tasks[s.vertex] ?? []
            if let i = list.firstIndex(where: { $0.id == s.id }) {
                // A late in-flight update does not undo a finished transfer.
                if !list[i].isDone { list[i] = s }
            } else {
                list.append(s)
            }
            tasks[s.vertex] = list
        case .warning(_, let short, let detail):
            warnings.append(ProgressEvent.warningText(short, detail))
        case .cacheMiss(let vertex, let reasons):
            let now = Date()
            tasks[vertex, default: []].append(TaskStatus(vertex: vertex, id: "cache-miss", name: ProgressEvent.cacheMissText(reasons),
                                                         started: now, completed: now))
            misses.append("\(states[vertex]?.name ?? vertex.description): " + reasons.joined(separator: "; "))
        }
        if !ended, Date().timeIntervalSince(lastDraw) >= 0.1 { draw(finished: false) }
    }

    public func tick() async { if !ended { draw(finished: false) } }

    private func draw(finished: Bool) {
        lastDraw = Date()
        _ = logs.flush(olderThan: PlainPrinter.partialLineDelay, started: { self.states[$0]?.started })
        let entries = order.compactMap { d in
            states[d].map { TTYFrame.Entry(status: $0, tasks: tasks[d] ?? [], logs: (logs.lines[d] ?? []).map(\.text)) }
        }
        let size = TerminalSize.of(output.fileDescriptor)
        let lines = TTYFrame(entries: entries, started: started, finished: finished).lines(now: lastDraw, width: size.columns, height: size.rows)
        // Up to the first line drawn, then each line cleared and written, then everything below
        // cleared (a shorter frame, or lines a narrower terminal wrapped).
        var text = drawnLines > 0 ? "\r\u{1B}[\(drawnLines)A" : ""
        for l in lines { text += "\u{1B}[2K" + l + "\n" }
        text += "\u{1B}[J"
        drawnLines = lines.count
        Console.write(text, to: output.fileDescriptor)
    }

    public func finish() async {
        guard !ended else { return }
        ended = true
        draw(finished: true)
        var tail = ""
        if !misses.isEmpty {
            tail += " \(misses.count) step\(misses.count == 1 ? "" : "s") missed the cache:\n"
            for m in misses { tail += "CACHE MISS: \(m)\n" }
        }
        if !warnings.isEmpty {
            tail += " \(warnings.count) warning\(warnings.count == 1 ? "" : "s") found:\n"
            for w in warnings { tail += "WARNING: \(w)\n" }
        }
        tail += logs.failureText
        if !tail.isEmpty { Console.write(tail, to: output.fileDescriptor) }
    }
}

/// The size of the terminal behind a file descriptor (80×24 when it is not one).
enum TerminalSize {
    static func of(_ fd: Int32) -> (columns: Int, rows: Int) {
        var size = winsize()
        guard ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 else { return (80, 24) }
        return (Int(size.ws_col), Int(size.ws_row))
    }
}
