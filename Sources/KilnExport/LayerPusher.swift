import Foundation
import KilnOCI
import Synchronization
import KilnRegistry
import KilnStore
import KilnWorker
import KilnSystem

/// Puts layer blobs into a repository as cheaply as the registry allows: nothing when it has
/// them, a cross-repository mount from any repository of the same registry known to hold them,
/// else an upload — fetching the blob first only then. Image and cache exports both use it.
public struct LayerPusher: Sendable {
    let client: RegistryClient
    let store: ContentStore
    let materializer: Materializer
    let coordinator: BlobPushCoordinator

    /// A pusher; exports running at the same time share `coordinator`.
    public init(client: RegistryClient, store: ContentStore, materializer: Materializer,
                coordinator: BlobPushCoordinator = BlobPushCoordinator()) {
        self.client = client
        self.store = store
        self.materializer = materializer
        self.coordinator = coordinator
    }

    /// Blobs pushed at once by one export (the registry client bounds transfers per host too).
    public static let parallelism = 4

    /// Pushes `layers` to `ref`, ``parallelism`` at a time.
    public func push(_ layers: [CachedLayer], to ref: Reference) async throws {
        try await forEachConcurrently(layers, limit: Self.parallelism) { try await self.push($0, to: ref) }
    }

    private func push(_ layer: CachedLayer, to ref: Reference) async throws {
        try await coordinator.serialize(digest: layer.digest, registry: ref.apiHost) {
            do {
                try await self.pushOne(layer, to: ref)
            } catch let refused as ExportError where refused.digestInvalid {
                // The registry found the bytes do not match the digest: a copy corrupted on disk
                // here is discarded, and the push fetches it again from where it came from.
                guard try await self.store.verify(layer.digest) == false else { throw refused }
                try await self.store.discardCorrupt(layer.digest)
                try await self.pushOne(layer, to: ref)
            }
        }
    }

    private func pushOne(_ layer: CachedLayer, to ref: Reference) async throws {
        let desc = Descriptor(mediaType: layer.mediaType, digest: layer.digest, size: layer.size)
        if try await client.blobSize(layer.digest, in: ref) != nil { return }
        var candidates = try await store.sources(layer.digest).compactMap { try? Reference(parsing: $0) }
        if let s = layer.source, let r = try? Reference(parsing: s) { candidates.append(r) }
        candidates = candidates.filter { $0.apiHost == ref.apiHost && $0.repository != ref.repository }
        let (store, materializer) = (self.store, self.materializer)
        // The registry client reports a failing file as its own error; keep an unfetchable
        // blob recognisable so the build can run the step that made it instead.
        let unavailable = Mutex<BlobUnavailable?>(nil)
        do {
            try await client.pushBlob(desc, to: ref, mountCandidates: Array(candidates.prefix(3)), skipExistenceCheck: true) {
                do {
                    try await materializer.ensureBlob(layer)
                } catch let e as BlobUnavailable {
                    unavailable.withLock { $0 = e }
                    throw e
                }
                return store.path(for: layer.digest)
            }
        } catch {
            if let e = unavailable.withLock({ $0 }) { throw e }
            if error is CancellationError || Task.isCancelled { throw CancellationError() }
            var refused = ExportError("pushing layer \(layer.digest) to \(ref.name): \(ErrorText.describe(error))")
            if case .http(_, _, 400, let details, _) = error as? RegistryError, details.contains(where: { $0.code == "DIGEST_INVALID" }) {
                refused.digestInvalid = true
            }
            throw refused
        }
        try await store.addSource(layer.digest, repository: ref.name)
    }
}
