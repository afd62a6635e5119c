import Foundation
import KilnArchive
import KilnOCI
import KilnRegistry
import KilnStore
import KilnWorker

/// Pushes a built image: layers (HEAD, then a cross-repository mount from any repository of
/// the same registry known to hold the blob, else an upload — fetching the blob first when it
/// is only remote), then the config, then the manifest under every tag.
public struct ImageExporter: Sendable {
    let client: RegistryClient
    let store: ContentStore
    let materializer: Materializer

    /// An exporter.
    public init(client: RegistryClient, store: ContentStore, materializer: Materializer) {
        self.client = client
        self.store = store
        self.materializer = materializer
    }

    /// The manifest for `chain` and `config`, with its bytes.
    public static func manifest(chain: [CachedLayer], config: Data) throws -> (ImageManifest, Data) {
        let configDesc = Descriptor(mediaType: MediaType.ociConfig, digest: Digest.of(config), size: Int64(config.count))
        let layers = chain.map { l in
            // OCI manifests carry OCI layer types.
            let mt = MediaType.layerCompression(l.mediaType).map { MediaType.layer($0, oci: true) } ?? l.mediaType
            return Descriptor(mediaType: mt, digest: l.digest, size: l.size)
        }
        let m = ImageManifest(config: configDesc, layers: layers)
        return (m, try m.encoded())
    }

    /// Pushes to every reference; returns the manifest descriptor.
    public func push(chain: [CachedLayer], config: Data, to refs: [Reference]) async throws -> Descriptor {
        let (_, manifestData) = try Self.manifest(chain: chain, config: config)
        for ref in refs {
            try await withThrowingTaskGroup(of: Void.self) { group in
                var running = 0
                for layer in chain {
                    if running >= 4 { try await group.next(); running -= 1 }
                    group.addTask { try await self.pushLayer(layer, to: ref) }
                    running += 1
                }
                try await group.waitForAll()
            }
            try await client.pushBlob(config, mediaType: MediaType.ociConfig, to: ref)
            try await client.putManifest(manifestData, mediaType: MediaType.ociManifest, to: ref)
        }
        return Descriptor(mediaType: MediaType.ociManifest, digest: Digest.of(manifestData), size: Int64(manifestData.count))
    }

    private func pushLayer(_ layer: CachedLayer, to ref: Reference) async throws {
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
