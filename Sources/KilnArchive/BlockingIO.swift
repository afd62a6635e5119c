import Dispatch

/// Runs synchronous, blocking pipelines (tar, compression, file I/O) on a Dispatch queue so the
/// cooperative thread pool of Swift concurrency is never blocked by them.
public enum BlockingIO {
    /// Runs `work` off the cooperative pool and returns its result.
    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { cont in
            DispatchQueue.global(qos: .userInitiated).async {
                cont.resume(with: Result { try work() })
            }
        }
    }
}
