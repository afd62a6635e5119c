import KilnOCI

/// Shared by the exports of one build, which run at the same time: pushes of one blob to one
/// registry go one after another, so when the image and the cache go to two repositories of
/// that registry the second finds the first's copy and mounts it instead of uploading again.
public actor BlobPushCoordinator {
    private var busy: Set<String> = []
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    /// A coordinator.
    public init() {}

    /// Runs `body` once no other push of `digest` to `registry` is running.
    public func serialize<T: Sendable>(digest: Digest, registry: String, _ body: @Sendable () async throws -> T) async throws -> T {
        let key = registry + " " + digest.description
        if busy.contains(key) {
            await withCheckedContinuation { waiters[key, default: []].append($0) }
        } else {
            busy.insert(key)
        }
        defer { release(key) }
        return try await body()
    }

    private func release(_ key: String) {
        if var queue = waiters[key], !queue.isEmpty {
            let next = queue.removeFirst()
            waiters[key] = queue.isEmpty ? nil : queue
            next.resume()  // the key stays busy: ownership passes to the next waiter
        } else {
            busy.remove(key)
        }
    }
}
