import Foundation
import KilnOCI
import KilnSystem

/// buildx's plain output: `#N [stage i/n] STEP`, `#N CACHED`, `#N 0.123 log line` (seconds
/// since the step started), sub-tasks as `#N pushing layer sha256:… 0.2s done`, `#N DONE 0.3s`;
/// a failed step's last lines once more at the end, under its name.
public actor PlainPrinter: ProgressPrinter {
    private let output: FileHandle
    private var numbers: [Digest: Int] = [:]
    private var announced: Set<Digest> = []
    private var finished: Set<Digest> = []
    private var starts: [Digest: Date] = [:]
    private var tasksDone: Set<String> = []
    private var tasksStarted: Set<String> = []
    private var logs = LogTail()
    /// A partial line is printed once it has waited this long for its end.
    static let partialLineDelay = 0.5

    /// A printer writing to `output`.
    public init(output: FileHandle) { self.output = output }

    private func number(_ d: Digest) -> Int {
        if let n = numbers[d] { return n }
        let n = numbers.count + 1
        numbers[d] = n
        return n
    }

    private func write(_ s: String) { Console.write(s + "\n", to: output.fileDescriptor) }

    public func handle(_ event: ProgressEvent) async {
        switch event {
        case .vertex(let v): vertex(v)
        case .log(let vertex, _, let data):
            for line in logs.add(data, vertex: vertex, started: starts[vertex]) { write(line, vertex) }
        case .status(let s): status(s)
        case .warning(_, let short, let detail):
            write("WARNING: " + ProgressEvent.warningText(short, detail))
        case .cacheMiss(let vertex, let reasons):
            write("#\(number(vertex)) " + ProgressEvent.cacheMissText(reasons))
        }
    }

    private func vertex(_ v: VertexStatus) {
        let n = number(v.digest)
        if v.completed == nil, finished.remove(v.digest) != nil {
            // Restarted (a cached result whose layer could not be fetched runs again).
            announced.remove(v.digest)
        }
        if announced.insert(v.digest).inserted {
            write("#\(n) \(v.name)")
            starts[v.digest] = v.started ?? Date()
        }
        guard !finished.contains(v.digest), v.completed != nil || v.error != nil else { return }
        finished.insert(v.digest)
        if v.error != nil, !v.canceled {
            if let l = logs.failed(v.digest, name: v.name, started: starts[v.digest]) { write(l, v.digest) }
        } else if let l = logs.flush(v.digest, started: starts[v.digest]) {
            write(l, v.digest)
        }
        if v.canceled {
            write("#\(n) CANCELED")
        } else if let e = v.error {
            write("#\(n) ERROR: \(e.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")")
        } else if v.cached {
            write("#\(n) CACHED")
        } else if let c = v.completed {
            write("#\(n) DONE \(String(format: "%.1f", max(0, c.timeIntervalSince(starts[v.digest] ?? c))))s")
        }
    }

    /// A sub-task: its name when it starts, `… done` when it ends (transfers only then).
    private func status(_ s: TaskStatus) {
        let n = number(s.vertex)
        let key = s.vertex.description + " " + s.id
        if !s.isDone {
            if s.started != nil, tasksStarted.insert(key).inserted { write("#\(n) \(s.label)") }
            return
        }
        guard tasksDone.insert(key).inserted else { return }
        var line = "#\(n) \(s.label)"
        if s.total > 0 { line += " " + ByteCount.short(s.current) + (s.current == s.total ? "" : " / " + ByteCount.short(s.total)) }
        if let start = s.started, let end = s.completed { line += String(format: " %.1fs", max(0, end.timeIntervalSince(start))) }
        write(line + " done")
    }

    private func write(_ line: LogTail.Line, _ vertex: Digest) {
        write("#\(number(vertex)) \(String(format: "%.3f", line.offset)) \(line.text)")
    }

    public func tick() async {
        for (vertex, line) in logs.flush(olderThan: Self.partialLineDelay, started: { self.starts[$0] }) { write(line, vertex) }
    }

    public func finish() async {
        for (vertex, line) in logs.flush(olderThan: 0, started: { self.starts[$0] }) { write(line, vertex) }
        let failures = logs.failureText
        if !failures.isEmpty { Console.write(failures, to: output.fileDescriptor) }
    }
}

/// Byte counts as buildx shows them (`1.08MB`, decimal units).
public enum ByteCount {
    /// `n` bytes in the largest decimal unit below it, with up to two decimals.
    public static func short(_ n: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(n)
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        if unit == 0 { return "\(n)B" }
        var text = String(format: "%.2f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text + units[unit]
    }
}
