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
