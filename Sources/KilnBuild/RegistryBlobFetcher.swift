import Foundation
import KilnOCI
import KilnRegistry
import KilnStore
import KilnSystem

/// The ``BlobFetcher`` of a build: blobs come from the content store, or — for lazily cached
/// results and base image layers — from the first repository known to hold them that serves
/// them (verified while downloading). Concurrent requests for one blob share one download.
public actor RegistryBlobFetcher: BlobFetcher {
    /// The store blobs land in.
    public nonisolated let store: ContentStore
    private let client: RegistryClient
    private var fetching: [Digest: Task<Void, any Error>] = [:]

    /// A fetcher into `store` through `client`.
    public init(store: ContentStore, client: RegistryClient) {
        self.store = store
        self.client = client
    }

    public func fetch(_ layer: CachedLayer, report: TransferReporter?) async throws -> String {
        if !store.contains(layer.digest) {
            if let t = fetching[layer.digest] {
                try await t.value
            } else {
                let task = Task { try await self.download(layer, report: report) }
                fetching[layer.digest] = task
                defer { fetching[layer.digest] = nil }
                try await task.value
            }
        }
        return store.path(for: layer.digest)
    }

    public func fetchVerified(_ layer: CachedLayer, report: TransferReporter?) async throws -> String {
        let path = try await fetch(layer, report: report)
        guard try await store.verify(layer.digest) == false else { return path }
        try await store.discardCorrupt(layer.digest)
        await report?(layer.digest.description, "stored layer \(layer.digest.encoded.prefix(12)) was corrupt; fetching it again", 0, 0)
        return try await fetch(layer, report: report)
    }

    /// Tries every repository known to hold the blob, the layer's own source first.
    private func download(_ layer: CachedLayer, report: TransferReporter?) async throws {
        var sources: [String] = []
        if let s = layer.source { sources.append(s) }
        for s in (try? await store.sources(layer.digest)) ?? [] where !sources.contains(s) { sources.append(s) }
        var reason = "no repository is known to hold it"
        for source in sources {
            let tmp = store.newIngestPath()
            do {
                let repo = try Reference(parsing: source)
                try await client.fetchBlob(Descriptor(mediaType: layer.mediaType, digest: layer.digest, size: layer.size), from: repo, to: tmp)
                try await store.commit(ingestPath: tmp, digest: layer.digest, mediaType: layer.mediaType, diffID: layer.diffID)
                await report?(layer.digest.description, "pulled \(layer.digest.encoded.prefix(12)) from \(source)", layer.size, layer.size)
                return
            } catch {
                unlink(tmp)
                if Task.isCancelled { throw CancellationError() }
                reason = ErrorText.describe(error)
            }
        }
        throw BlobUnavailable(digest: layer.digest, sources: sources, reason: reason)
    }
}
