import Foundation
import KilnArchive
import KilnOCI
import KilnRegistry
import KilnStore
import KilnSystem

/// Turns layer chains into directories (the copying snapshotter): blobs are fetched into the
/// content store when missing (from the repository recorded as their source, verified), then
/// applied in order. Finished snapshots are kept by ChainID and shared between builds.
public actor Materializer {
    private let store: ContentStore
    private let client: RegistryClient
    private var inflight: [Digest: Task<String, any Error>] = [:]
    private var fetching: [Digest: Task<Void, any Error>] = [:]

    /// A materializer over `store`, fetching with `client`.
    public init(store: ContentStore, client: RegistryClient) {
        self.store = store
        self.client = client
    }

    /// ChainID of a layer chain.
    public static func chainID(_ chain: [CachedLayer]) -> Digest { ChainID.of(chain.map(\.diffID)) }

    /// Reports byte transfers (layer pulls) of a vertex.
    public typealias Reporter = @Sendable (_ id: String, _ name: String, _ current: Int64, _ total: Int64) async -> Void

    /// Ensures the blob of `layer` is in the store, fetching it (verified) from the first of
    /// its known source repositories that serves it. Throws ``BlobUnavailable`` when none does,
    /// so the solver can run the steps that made it instead.
    public func ensureBlob(_ layer: CachedLayer, report: Reporter? = nil) async throws {
        if store.contains(layer.digest) { return }
        if let t = fetching[layer.digest] { return try await t.value }
        let task = Task { try await self.fetch(layer, report: report) }
        fetching[layer.digest] = task
        defer { fetching[layer.digest] = nil }
        try await task.value
    }

    /// ``ensureBlob(_:report:)``, then checks the stored bytes against the digest: a copy
    /// corrupted on disk is discarded and fetched again. For readers that use a blob's bytes
    /// directly (file exports).
    public func ensureVerified(_ layer: CachedLayer, report: Reporter? = nil) async throws {
        try await ensureBlob(layer, report: report)
        guard try await store.verify(layer.digest) == false else { return }
        try await store.discardCorrupt(layer.digest)
        await report?(layer.digest.description, "stored layer \(layer.digest.encoded.prefix(12)) was corrupt; fetching it again", 0, 0)
        try await ensureBlob(layer, report: report)
    }

    private func fetch(_ layer: CachedLayer, report: Reporter?) async throws {
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
        for l in chain { try await ensureBlob(l, report: report) }
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
                try await ensureBlob(layer, report: report)
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
