import Foundation

/// Runs synchronous, blocking pipelines (tar, compression, file I/O) on a thread of their own,
/// so neither the cooperative pool of Swift concurrency nor Dispatch's worker pool (where the
/// gzip blocks are compressed) is ever blocked by them.
public enum BlockingIO {
    /// Runs `work` on a new thread and returns its result.
    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { cont in
            Thread.detachNewThread {
                cont.resume(with: Result { try work() })
            }
        }
    }
}
