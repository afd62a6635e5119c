import Foundation
import KilnOCI
import KilnSystem

/// The state of one vertex, as progress printers see it. The last update of a digest wins.
public struct VertexStatus: Sendable, Equatable {
    /// Stable id of the vertex within the build (its cache key id).
    public var digest: Digest
    /// `[stage i/n] INSTRUCTION args`.
    public var name: String
    /// When work on it started.
    public var started: Date?
    /// When it finished.
    public var completed: Date?
    /// Whether its result came from a cache (final state).
    public var cached: Bool
    /// The failure, if it failed.
    public var error: String?
    /// Whether it stopped because the build was interrupted (its `error` is then BuildKit's
    /// "context canceled").
    public var canceled: Bool

    /// A status.
    public init(digest: Digest, name: String, started: Date? = nil, completed: Date? = nil, cached: Bool = false, error: String? = nil,
                canceled: Bool = false) {
        self.digest = digest
        self.name = name
        self.started = started
        self.completed = completed
        self.cached = cached
        self.error = canceled ? (error ?? Self.canceledError) : error
        self.canceled = canceled
    }

    /// The error BuildKit gives an interrupted vertex.
    public static let canceledError = "context canceled"
}

/// Something that happened during a build.
public enum ProgressEvent: Sendable {
    /// A vertex changed state.
    case vertex(VertexStatus)
    /// Output of a vertex (stream 1 stdout, 2 stderr).
    case log(vertex: Digest, stream: Int, data: [UInt8])
    /// A sub-task with a byte count (pulls, pushes).
    case status(vertex: Digest, id: String, name: String, current: Int64, total: Int64)
    /// A warning, optionally about a vertex.
    case warning(vertex: Digest?, short: String, detail: [String])
}

/// Consumes progress events.
public protocol ProgressPrinter: Sendable {
    /// Handles one event.
    func handle(_ event: ProgressEvent) async
    /// Flushes what is pending at the end of the build.
    func finish() async
}

/// Reports `body` as the vertex `name`: started, then completed, with the error when `body`
/// throws — unless `leaveOpen` says the work will run again and finish the vertex then.
/// For work that is not a build step (downloads, cache imports, outputs).
public func reportingVertex<T: Sendable, E: Error>(
    _ name: String, id: Digest, report: (ProgressEvent) async -> Void,
    leaveOpen: (E) -> Bool = { _ in false }, _ body: () async throws(E) -> T
) async throws(E) -> T {
    let start = Date()
    await report(.vertex(VertexStatus(digest: id, name: name, started: start)))
    do {
        let result = try await body()
        await report(.vertex(VertexStatus(digest: id, name: name, started: start, completed: Date())))
        return result
    } catch {
        if error is CancellationError || Task.isCancelled {
            await report(.vertex(VertexStatus(digest: id, name: name, started: start, completed: Date(), canceled: true)))
        } else if !leaveOpen(error) {
            await report(.vertex(VertexStatus(digest: id, name: name, started: start, completed: Date(), error: ErrorText.describe(error))))
        }
        throw error
    }
}

/// The `--progress` modes.
public enum ProgressMode: String, Sendable, CaseIterable {
    /// tty when stderr is a terminal, else plain.
    case auto
    /// Line-oriented, buildx style.
    case plain
    /// Live view for terminals.
    case tty
    /// Nothing but errors.
    case quiet
    /// BuildKit SolveStatus JSON lines.
    case rawjson

    /// A printer for this mode writing to `output`.
    public func printer(output: FileHandle = .standardError) -> any ProgressPrinter {
        switch self {
        case .auto: isatty(output.fileDescriptor) != 0 ? TTYPrinter(output: output) : PlainPrinter(output: output)
        case .plain: PlainPrinter(output: output)
        case .tty: TTYPrinter(output: output)
        case .quiet: QuietPrinter()
        case .rawjson: RawJSONPrinter(output: output)
        }
    }
}

/// Prints nothing.
public struct QuietPrinter: ProgressPrinter {
    /// A silent printer.
    public init() {}
    public func handle(_ event: ProgressEvent) async {}
    public func finish() async {}
}

/// One JSON object a line in BuildKit's SolveStatus shape (`vertexes`, `statuses`, `logs`,
/// `warnings`), as `buildctl --progress rawjson` prints it.
public actor RawJSONPrinter: ProgressPrinter {
    private let output: FileHandle

    /// A printer writing to `output`.
    public init(output: FileHandle) { self.output = output }

    static func time(_ d: Date?) -> JSONValue {
        guard let d else { return .null }
        return .string(Timestamp.rfc3339(seconds: d.timeIntervalSince1970))
    }

    public func handle(_ event: ProgressEvent) async {
        var obj: [String: JSONValue] = [:]
        switch event {
        case .vertex(let v):
            var fields: [String: JSONValue] = ["digest": .string(v.digest.description), "name": .string(v.name)]
            if v.started != nil { fields["started"] = Self.time(v.started) }
            if v.completed != nil { fields["completed"] = Self.time(v.completed) }
            if v.cached { fields["cached"] = .bool(true) }
            if let e = v.error { fields["error"] = .string(e) }
            obj["vertexes"] = .array([.object(fields)])
        case .log(let vertex, let stream, let data):
            obj["logs"] = .array([.object(["vertex": .string(vertex.description), "stream": .int(Int64(stream)),
                                           "data": .string(Data(data).base64EncodedString()), "timestamp": Self.time(Date())])])
        case .status(let vertex, let id, let name, let current, let total):
            obj["statuses"] = .array([.object(["id": .string(id), "vertex": .string(vertex.description), "name": .string(name),
                                               "current": .int(current), "total": .int(total), "timestamp": Self.time(Date())])])
        case .warning(let vertex, let short, let detail):
            var w: [String: JSONValue] = ["short": .string(Data(short.utf8).base64EncodedString()),
                                          "detail": .array(detail.map { .string(Data($0.utf8).base64EncodedString()) })]
            if let vertex { w["vertex"] = .string(vertex.description) }
            obj["warnings"] = .array([.object(w)])
        }
        if let data = try? CanonicalJSON.encode(obj) { Console.write(data + Data("\n".utf8), to: output.fileDescriptor) }
    }

    public func finish() async {}
}

/// buildx's plain output: `#N [stage i/n] STEP`, `#N CACHED`, `#N 0.123 log line`, `#N DONE 0.3s`.
public actor PlainPrinter: ProgressPrinter {
    private let output: FileHandle
    private var numbers: [Digest: Int] = [:]
    private var announced: Set<Digest> = []
    private var finished: Set<Digest> = []
    private var partial: [Digest: [UInt8]] = [:]
    private var starts: [Digest: Date] = [:]

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
        case .vertex(let v):
            let n = number(v.digest)
            if v.completed == nil, finished.remove(v.digest) != nil {
                // Restarted (a cached result whose layer could not be fetched runs again).
                announced.remove(v.digest)
            }
            if announced.insert(v.digest).inserted {
                write("#\(n) \(v.name)")
                starts[v.digest] = v.started ?? Date()
            }
            guard !finished.contains(v.digest) else { return }
            if v.canceled {
                finished.insert(v.digest)
                flushPartial(v.digest)
                write("#\(n) CANCELED")
            } else if let e = v.error {
                finished.insert(v.digest)
                write("#\(n) ERROR: \(e)")
            } else if v.cached && v.completed != nil {
                finished.insert(v.digest)
                write("#\(n) CACHED")
            } else if let c = v.completed {
                finished.insert(v.digest)
                flushPartial(v.digest)
                let secs = c.timeIntervalSince(starts[v.digest] ?? c)
                write("#\(n) DONE \(String(format: "%.1f", max(0, secs)))s")
            }
        case .log(let vertex, _, let data):
            let n = number(vertex)
            var buf = (partial[vertex] ?? []) + data
            while let nl = buf.firstIndex(of: 0x0a) {
                let line = String(decoding: buf[..<nl], as: UTF8.self)
                let t = Date().timeIntervalSince(starts[vertex] ?? Date())
                write("#\(n) \(String(format: "%.3f", t)) \(line)")
                buf.removeSubrange(...nl)
            }
            partial[vertex] = buf
        case .status(let vertex, let id, let name, let current, let total):
            let n = number(vertex)
            if current == total && total > 0 { write("#\(n) \(name.isEmpty ? id : name) \(current)B done") }
        case .warning(_, let short, let detail):
            write("WARNING: \(short)" + (detail.isEmpty ? "" : " (" + detail.joined(separator: "; ") + ")"))
        }
    }

    private func flushPartial(_ d: Digest) {
        if let rest = partial[d], !rest.isEmpty {
            write("#\(number(d)) \(String(decoding: rest, as: UTF8.self))")
            partial[d] = []
        }
    }

    public func finish() async {
        for d in partial.keys { flushPartial(d) }
    }
}

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
