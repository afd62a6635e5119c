/// A counting semaphore for async code: waiters suspend instead of blocking a thread. The one
/// bound on concurrency in kiln (steps at once, transfers per host, pushes, downloads).
public actor AsyncSemaphore {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// A semaphore with `value` permits (at least one).
    public init(value: Int) { available = max(1, value) }

    /// Takes a permit, suspending until one is free.
    public func wait() async {
        if available > 0 {
            available -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    /// Returns a permit.
    public func signal() {
        if waiters.isEmpty {
            available += 1
        } else {
            waiters.removeFirst().resume()
        }
    }

    /// Runs `body` holding one permit; a task cancelled while it waited does not start `body`.
    public func withPermit<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        await wait()
        defer { signal() }
        try Task.checkCancellation()
        return try await body()
    }
}

/// Runs `body` for every element, at most `limit` at a time; the first error cancels the
/// others and is rethrown.
public func forEachConcurrently<T: Sendable>(_ items: [T], limit: Int,
                                             _ body: @escaping @Sendable (T) async throws -> Void) async throws {
    _ = try await mapConcurrently(items, limit: limit) { try await body($0) }
}

/// `body` of every element, at most `limit` at a time, in the elements' order; the first error
/// cancels the others and is rethrown.
public func mapConcurrently<T: Sendable, R: Sendable>(_ items: [T], limit: Int,
                                                      _ body: @escaping @Sendable (T) async throws -> R) async throws -> [R] {
    try await withThrowingTaskGroup(of: (Int, R).self) { group in
        var results = [R?](repeating: nil, count: items.count)
        var next = 0
        for _ in 0..<min(max(1, limit), items.count) {
            let (i, item) = (next, items[next])
            group.addTask { (i, try await body(item)) }
            next += 1
        }
        while let (i, r) = try await group.next() {
            results[i] = r
            if next < items.count {
                let (j, item) = (next, items[next])
                group.addTask { (j, try await body(item)) }
                next += 1
            }
        }
        return results.compactMap { $0 }
    }
}
