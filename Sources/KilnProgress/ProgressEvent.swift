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

/// A sub-task of a vertex, as BuildKit's `VertexStatus`: the last update of an id wins.
public struct TaskStatus: Sendable, Equatable {
    /// The vertex it belongs to.
    public var vertex: Digest
    /// Stable id within the vertex (a blob digest, a step name).
    public var id: String
    /// What is shown (`pushing layer sha256:…`); the id when empty.
    public var name: String
    /// Bytes (or items) done so far.
    public var current: Int64
    /// Bytes (or items) in all; 0 when unknown.
    public var total: Int64
    /// When it started.
    public var started: Date?
    /// When it finished; nil while it runs.
    public var completed: Date?

    /// A status.
    public init(vertex: Digest, id: String, name: String = "", current: Int64 = 0, total: Int64 = 0,
                started: Date? = nil, completed: Date? = nil) {
        (self.vertex, self.id, self.name, self.current, self.total) = (vertex, id, name, current, total)
        (self.started, self.completed) = (started, completed)
    }

    /// The name shown for it.
    public var label: String { name.isEmpty ? id : name }

    /// Whether it has finished: completed, or a transfer with every byte moved.
    public var isDone: Bool { completed != nil || (started == nil && total > 0 && current == total) }
}

/// Something that happened during a build.
public enum ProgressEvent: Sendable {
    /// A vertex changed state.
    case vertex(VertexStatus)
    /// Output of a vertex (stream 1 stdout, 2 stderr).
    case log(vertex: Digest, stream: Int, data: [UInt8])
    /// A sub-task of a vertex: a transfer with a byte count (pulls, pushes) or a named piece
    /// of work with a start and an end (exporting layers, pushing a manifest).
    case status(TaskStatus)
    /// A warning, optionally about a vertex.
    case warning(vertex: Digest?, short: String, detail: [String])
    /// Why a vertex that runs missed the cache (`--explain`): what changed, one reason each.
    case cacheMiss(vertex: Digest, reasons: [String])
}

extension ProgressEvent {
    /// A cache miss's explanation as one line: `cache miss: REASON; REASON`.
    public static func cacheMissText(_ reasons: [String]) -> String { "cache miss: " + reasons.joined(separator: "; ") }

    /// A warning as printers show it: the short text, then its details in parentheses.
    public static func warningText(_ short: String, _ detail: [String]) -> String {
        short + (detail.isEmpty ? "" : " (" + detail.joined(separator: "; ") + ")")
    }
}

/// Consumes progress events.
public protocol ProgressPrinter: Sendable {
    /// Handles one event.
    func handle(_ event: ProgressEvent) async
    /// Called about every 100 ms while a build runs (see ``withProgressTicks(_:_:)``): live
    /// displays redraw their timers, line printers flush partial lines that have waited.
    func tick() async
    /// Flushes what is pending at the end of the build.
    func finish() async
}

extension ProgressPrinter {
    /// Nothing to do on a tick.
    public func tick() async {}
}

/// Runs `body` while `printer` gets a ``ProgressPrinter/tick()`` every `interval`.
public func withProgressTicks<T: Sendable>(_ printer: any ProgressPrinter, interval: Duration = .milliseconds(100),
                                           _ body: () async throws -> T) async throws -> T {
    let ticker = Task {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            await printer.tick()
        }
    }
    defer { ticker.cancel() }
    return try await body()
}

/// Reports `body` as the sub-task `name` of `vertex` (moving `bytes`, when known): started,
/// then completed when it returns (a failure is the vertex's to report).
public func reportingTask<T: Sendable>(_ name: String, id: String? = nil, vertex: Digest, bytes: Int64 = 0,
                                       report: (ProgressEvent) async -> Void, _ body: () async throws -> T) async throws -> T {
    var status = TaskStatus(vertex: vertex, id: id ?? name, name: name, total: bytes, started: Date())
    await report(.status(status))
    let result = try await body()
    status.current = bytes
    status.completed = Date()
    await report(.status(status))
    return result
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
