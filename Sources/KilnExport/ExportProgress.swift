import Foundation
import KilnOCI
import KilnProgress

/// Where an export reports its sub-tasks, as BuildKit's exporters do under their vertex
/// (`exporting layers`, `pushing layer sha256:…`, `pushing manifest for REF@sha256:…`).
public struct ExportProgress: Sendable {
    /// The output's vertex; nil reports nothing.
    public let vertex: Digest?
    let report: @Sendable (ProgressEvent) async -> Void

    /// Reports under `vertex` to `report`.
    public init(vertex: Digest, report: @escaping @Sendable (ProgressEvent) async -> Void) {
        self.vertex = vertex
        self.report = report
    }

    private init() {
        vertex = nil
        report = { _ in }
    }

    /// Reports nothing.
    public static let silent = ExportProgress()

    /// Runs `body` as the sub-task `name` (moving `bytes`): shown when it starts and when it is done.
    public func task<T: Sendable>(_ name: String, bytes: Int64 = 0, _ body: () async throws -> T) async throws -> T {
        guard let vertex else { return try await body() }
        return try await reportingTask(name, vertex: vertex, bytes: bytes, report: report, body)
    }

    /// A sub-task that finished as it started (`exporting config sha256:…`), with its size.
    public func done(_ name: String, bytes: Int64 = 0) async {
        guard let vertex else { return }
        let now = Date()
        await report(.status(TaskStatus(vertex: vertex, id: name, name: name, current: bytes, total: bytes, started: now, completed: now)))
    }
}
