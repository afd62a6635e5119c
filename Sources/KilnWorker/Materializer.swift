import Foundation
import KilnArchive
import KilnOCI
import KilnStore
import KilnSystem

/// Turns layer chains into directories (the copying snapshotter): every blob of the chain is
/// fetched through the ``BlobFetcher`` when missing, then applied in order, verified while it
/// is read. Finished snapshots are kept by ChainID and shared between builds.
public actor Materializer: ChainFilesystems {
    private let store: ContentStore
    private let fetcher: any BlobFetcher
    private var inflight: [Digest: Task<String, any Error>] = [:]

    /// A materializer over `fetcher`'s store.
    public init(fetcher: any BlobFetcher) {
        self.store = fetcher.store
        self.fetcher = fetcher
    }

    /// ChainID of a layer chain.
    public static func chainID(_ chain: [CachedLayer]) -> Digest { ChainID.of(chain.map(\.diffID)) }

    /// Reports byte transfers (layer pulls) of a vertex.
    public typealias Reporter = TransferReporter

    /// The directory holding the filesystem of `chain` (read it, do not change it).
    public func directory(for chain: [CachedLayer], report: Reporter? = nil) async throws -> String {
        let id = Self.chainID(chain)
        if let t = inflight[id] { return try await t.value }
        let task = Task { try await self.build(chain, id: id, report: report) }
        inflight[id] = task
        do {
            return try await task.value
        } catch {
            // A failed snapshot may succeed later (after its missing blob is rebuilt).
            inflight[id] = nil
            throw error
        }
    }

    private func build(_ chain: [CachedLayer], id: Digest, report: Reporter?) async throws -> String {
        let final = store.root + "/snapshots/" + id.encoded
        // Held before it is looked for: a concurrent prune either keeps it or it is made again.
        try await store.hold(resources: [ContentStore.snapshotResource(id.encoded)])
        try await store.hold(chain.map(\.digest))
        if FileManager.default.fileExists(atPath: final) { return final }
        try FileManager.default.createDirectory(atPath: store.root + "/snapshots", withIntermediateDirectories: true)
        for l in chain { _ = try await fetcher.fetch(l, report: report) }
        var repaired = Set<Digest>()
        while true {
            let tmp = store.newScratchPath("snapshot")
            do {
                try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
                for layer in chain { try await Self.apply(store.path(for: layer.digest), digest: layer.digest, onto: tmp) }
                guard rename(tmp, final) == 0 || FileManager.default.fileExists(atPath: final) else {
                    throw StoreError.io(path: final, reason: errnoText(errno))
                }
                _ = try? await BlockingIO.run { HostFiles.removeTree(tmp) }
                return final
            } catch StoreError.digestMismatch(let corrupt, _) where repaired.insert(corrupt).inserted {
                // A stored blob whose bytes changed on disk: discarded and fetched again (or, if
                // no source serves it, its step runs again), never a failure of every later build.
                _ = try? await BlockingIO.run { HostFiles.removeTree(tmp) }
                try await store.discardCorrupt(corrupt)
                guard let layer = chain.first(where: { $0.digest == corrupt }) else { throw StoreError.notFound(corrupt) }
                await report?(corrupt.description, "stored layer \(corrupt.encoded.prefix(12)) was corrupt; fetching it again", 0, 0)
                _ = try await fetcher.fetch(layer, report: report)
            } catch {
                _ = try? await BlockingIO.run { HostFiles.removeTree(tmp) }
                throw error
            }
        }
    }

    /// Applies the blob at `path` onto `root`, verifying `digest` in the same pass; a mismatch
    /// is reported as ``StoreError/digestMismatch(expected:actual:)`` even when the corruption
    /// made the layer unreadable.
    static func apply(_ path: String, digest: Digest, onto root: String) async throws {
        try await BlockingIO.run {
            let verified = DigestingSource(try FileSource(path: path), algorithm: digest.algorithm)
            var failure: (any Error)?
            do {
                try LayerApplier(root: root).apply(try DetectedCompression.detect(path: path).decompressing(verified))
            } catch {
                failure = error
            }
            let actual = try verified.finish()
            guard actual == digest else { throw StoreError.digestMismatch(expected: digest, actual: actual) }
            if let failure { throw failure }
        }
    }
}
