import Foundation
import KilnArchive
import KilnOCI
import KilnStore

/// Re-encodes layers for an export that asks for a compression: new blobs (made on this
/// machine) take it; with `force`, every blob does. Converted blobs go into the content store.
public struct LayerEncoder: Sendable {
    let fetcher: any BlobFetcher

    /// An encoder reading blobs through `fetcher` (into its store).
    public init(fetcher: any BlobFetcher) { self.fetcher = fetcher }

    /// `layer` encoded as asked (or as it is, when no conversion is called for).
    public func encode(_ layer: CachedLayer, compression wanted: Compression, force: Bool) async throws -> CachedLayer {
        let madeHere = layer.source == nil
        let current = MediaType.layerCompression(layer.mediaType)
        let needs: Bool
        switch wanted {
        case .gzip(let level): needs = force ? current != .gzip : (madeHere && (current != .gzip || level != 6))
        case .zstd: needs = current != .zstd && (madeHere || force)
        case .uncompressed: needs = current != .uncompressed && (madeHere || force)
        case .estargz: needs = layer.tocDigest == nil && (madeHere || force)
        }
        guard needs else { return layer }
        let store = fetcher.store
        let source = try await fetcher.fetch(layer)
        let ingest = store.newIngestPath()
        let blob = try await BlockingIO.run { try LayerConverter.convert(source: source, to: ingest, compression: wanted) }
        let mt = MediaType.layer(blob.compression.layerCompression, oci: true)
        try await store.commit(ingestPath: ingest, digest: blob.digest, mediaType: mt, diffID: blob.diffID, uncompressedSize: blob.uncompressedSize)
        var out = CachedLayer(digest: blob.digest, diffID: blob.diffID, mediaType: mt, size: blob.size, createdAt: layer.createdAt)
        out.tocDigest = blob.tocDigest
        out.uncompressedSize = blob.uncompressedSize
        return out
    }
}
