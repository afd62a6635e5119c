import Foundation
import KilnOCI
import KilnSystem

/// A live view for terminals: one line per vertex, redrawn in place at most every 100 ms,
/// with the last log line of running steps; a summary line when the build ends.
public actor TTYPrinter: ProgressPrinter {
    private let output: FileHandle
    private var order: [Digest] = []
    private var states: [Digest: VertexStatus] = [:]
    private var lastLine: [Digest: String] = [:]
    private var drawnLines = 0
    private var lastDraw = Date.distantPast
    private var warnings: [String] = []

    /// A printer writing to `output`.
    public init(output: FileHandle) { self.output = output }

    public func handle(_ event: ProgressEvent) async {
        switch event {
        case .vertex(let v):
            if states[v.digest] == nil { order.append(v.digest) }
            states[v.digest] = v
        case .log(let vertex, _, let data):
            if let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last { lastLine[vertex] = String(line) }
        case .status:
            break
        case .warning(_, let short, _):
            warnings.append(short)
        }
        if Date().timeIntervalSince(lastDraw) >= 0.1 { draw() }
    }

    private func draw() {
        lastDraw = Date()
        var text = drawnLines > 0 ? "\u{1B}[\(drawnLines)A" : ""
        var lines: [String] = []
        for d in order {
            guard let v = states[d] else { continue }
            let mark: String
            if v.canceled { mark = "CANCELED" } else if v.error != nil { mark = "ERROR" } else if v.cached && v.completed != nil { mark = "CACHED" } else if let c = v.completed {
                mark = String(format: "%.1fs", c.timeIntervalSince(v.started ?? c))
            } else {
                mark = String(format: "%.1fs…", Date().timeIntervalSince(v.started ?? Date()))
            }
            var line = " => \(v.name)"
            if line.count > 100 { line = String(line.prefix(99)) + "…" }
            lines.append(line + "  " + mark)
            if v.completed == nil, v.error == nil, let l = lastLine[d] { lines.append("    " + String(l.prefix(96))) }
        }
        for l in lines { text += "\u{1B}[2K" + l + "\n" }
        // Clear lines left over from a taller previous frame.
        if drawnLines > lines.count {
            for _ in lines.count..<drawnLines { text += "\u{1B}[2K\n" }
            text += "\u{1B}[\(drawnLines - lines.count)A"
        }
        drawnLines = lines.count
        Console.write(text, to: output.fileDescriptor)
    }

    public func finish() async {
        draw()
        for w in warnings { Console.write("WARNING: \(w)\n", to: output.fileDescriptor) }
    }
}
