/// Work that did not finish within its time budget.
public struct TimeoutError: Error, Sendable, CustomStringConvertible {
    /// The budget.
    public var limit: Duration

    /// "no answer within 15s".
    public var description: String { "no answer within \(limit.formattedSeconds)" }
}

extension Duration {
    /// `15s`, `1.5s`.
    public var formattedSeconds: String {
        let ms = components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
        return ms % 1000 == 0 ? "\(ms / 1000)s" : "\(Double(ms) / 1000)s"
    }
}

/// Runs `body`, cancelling it and throwing ``TimeoutError`` when it takes longer than `limit`.
/// (`body` must respond to cancellation; the call returns once it has.)
public func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TimeoutError(limit: limit)
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw CancellationError() }
        return first
    }
}
