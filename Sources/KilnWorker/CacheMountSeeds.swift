import Foundation
import KilnArchive
import KilnStore
import KilnSystem

/// Cache mount contents imported with a build cache (`cache-mounts=true` on the export): a
/// cache mount that does not exist on this root yet starts from them, fetched (verified) and
/// unpacked only when a step that uses it runs.
public struct CacheMountSeeds: Sendable {
    /// The blob holding each cache mount id.
    public let layers: [String: CachedLayer]
    let fetcher: any BlobFetcher

    /// Seeds from `layers`, fetched through `fetcher`.
    public init(layers: [String: CachedLayer], fetcher: any BlobFetcher) {
        self.layers = layers
        self.fetcher = fetcher
    }

    /// Makes `dir` (absent, its lock held) from the seed for `id`, if there is one: unpacked
    /// into a scratch directory of the store, then renamed into place. Returns whether it did:
    /// steps sharing the cache hold its lock together, and when another one put its seed in
    /// place first, that one stays.
    func populate(_ dir: String, id: String, store: ContentStore) async throws -> Bool {
        guard let layer = layers[id] else { return false }
        let blob = try await fetcher.fetchVerified(layer)
        let scratch = store.newScratchPath("cache-seed")
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        do {
            try await BlockingIO.run {
                let source = try DetectedCompression.detect(path: blob).decompressing(FileSource(path: blob))
                _ = try LayerApplier(root: scratch).apply(source)
            }
        } catch {
            HostFiles.removeTree(scratch)
            throw error
        }
        guard rename(scratch, dir) == 0 else {
            let failure = errno
            HostFiles.removeTree(scratch)
            if failure == ENOTEMPTY || failure == EEXIST { return false }
            throw WorkerError("cache mount \(id): cannot move its imported contents into place: \(errnoText(failure))")
        }
        return true
    }
}
