import Foundation
import KilnOCI
import KilnRegistry
import KilnStore
import KilnWorker

/// Puts layer blobs into a repository as cheaply as the registry allows: nothing when it has
/// them, a cross-repository mount from any repository of the same registry known to hold them,
/// else an upload — fetching the blob first only then. Image and cache exports both use it.
public struct LayerPusher: Sendable {
    let client: RegistryClient
    let store: ContentStore
    let materializer: Materializer

    /// A pusher.
    public init(client: RegistryClient, store: ContentStore, materializer: Materializer) {
        self.client = client
        self.store = store
        self.materializer = materializer
    }

    /// Pushes `layers` to `ref`, four at a time.
    public func push(_ layers: [CachedLayer], to ref: Reference) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var running = 0
            for layer in layers {
                if running >= 4 { try await group.next(); running -= 1 }
                group.addTask { try await self.push(layer, to: ref) }
                running += 1
            }
            try await group.waitForAll()
        }
    }

    private func push(_ layer: CachedLayer, to ref: Reference) async throws {
        let desc = Descriptor(mediaType: layer.mediaType, digest: layer.digest, size: layer.size)
        if try await client.blobSize(layer.digest, in: ref) != nil { return }
        var candidates = try store.sources(layer.digest).compactMap { try? Reference(parsing: $0) }
        if let s = layer.source, let r = try? Reference(parsing: s) { candidates.append(r) }
        candidates = candidates.filter { $0.apiHost == ref.apiHost && $0.repository != ref.repository }
        let (store, materializer) = (self.store, self.materializer)
        try await client.pushBlob(desc, to: ref, mountCandidates: Array(candidates.prefix(3)), skipExistenceCheck: true) {
            try await materializer.ensureBlob(layer)
            return store.path(for: layer.digest)
        }
        try store.addSource(layer.digest, repository: ref.name)
    }
}
