import CKilnSys
import Foundation
import KilnArchive
import KilnOCI
import KilnStore
import KilnSystem

/// Every layer unpacked once, in overlayfs's format (whiteouts as 0/0 character devices, opaque
/// directories marked `trusted.overlay.opaque`), at `ROOT/layers/<diffID>`: shared by every chain
/// and every build on the root, recorded in the store and leased by the builds that use it. A
/// layer a step has just made is adopted from the tree it was packed from, not unpacked again.
public actor UnpackedLayers {
    /// The store the layers belong to.
    public nonisolated let store: ContentStore
    private let fetcher: any BlobFetcher
    private var inflight: [String: Task<String, any Error>] = [:]
    private var held: Set<String> = []
    /// How many layers this instance has unpacked from their blobs (not adopted, not found).
    public private(set) var unpackedFromBlobs = 0

    /// Unpacked layers of `fetcher`'s store, their blobs fetched through it.
    public init(fetcher: any BlobFetcher) {
        store = fetcher.store
        self.fetcher = fetcher
    }

    /// The directory holding `layer` unpacked, made once per root; leased by this process.
    public func directory(for layer: CachedLayer, report: TransferReporter?) async throws -> String {
        let name = ContentStore.unpackedName(layer.diffID)
        let dir = store.layersDirectory + "/" + name
        // Held before it is looked for: a concurrent prune either keeps it or it is made again.
        // A lease lasts as long as this process, so each layer is held (and its use recorded) once.
        if !held.contains(name) {
            try await store.hold(resources: [ContentStore.unpackedResource(name)])
            held.insert(name)
            if FileManager.default.fileExists(atPath: dir) {
                try await store.touchUnpacked([name])
                return dir
            }
        }
        if FileManager.default.fileExists(atPath: dir) { return dir }
        if let t = inflight[name] { return try await t.value }
        let task = Task { try await self.unpack(layer, name: name, into: dir, report: report) }
        inflight[name] = task
        defer { inflight[name] = nil }
        return try await task.value
    }

    private func unpack(_ layer: CachedLayer, name: String, into dir: String, report: TransferReporter?) async throws -> String {
        var repaired = false
        while true {
            let tmp = store.newScratchPath("unpack")
            do {
                try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
                // Unpacked while it downloads: the layer is ready when its last byte arrives.
                _ = try await fetcher.fetch(layer, report: report) { blob in
                    try Self.unpack(blob, digest: layer.digest, diffID: layer.diffID, into: tmp)
                }
                unpackedFromBlobs += 1
                return try await place(tmp, name: name, at: dir)
            } catch StoreError.digestMismatch(let corrupt, _) where corrupt == layer.digest && !repaired {
                // A stored blob whose bytes changed on disk: discarded and fetched again (or, if
                // no source serves it, its step runs again), never a failure of every later build.
                repaired = true
                _ = try? await BlockingIO.run { HostFiles.removeTree(tmp) }
                try await store.discardCorrupt(corrupt)
                await report?(corrupt.description, "stored layer \(corrupt.encoded.prefix(12)) was corrupt; fetching it again", 0, 0)
            } catch {
                _ = try? await BlockingIO.run { HostFiles.removeTree(tmp) }
                throw error
            }
        }
    }

    /// Unpacks the blob read from `source` in overlay's format, checking the blob against
    /// `digest` and its uncompressed stream against `diffID` in the same pass. A blob whose
    /// digest is wrong fails as that, whatever else went wrong reading it.
    static func unpack(_ source: any ByteSource, digest: Digest, diffID: Digest, into dir: String) throws {
        let blob = DigestingSource(source, algorithm: digest.algorithm)
        var failure: (any Error)?
        var content: Digest?
        do {
            let tar = DigestingSource(try DetectedCompression.decompressingDetected(blob), algorithm: diffID.algorithm)
            try LayerApplier(root: dir, whiteouts: .overlay).apply(tar)
            content = try tar.finish()
        } catch {
            failure = error
        }
        let actual = try blob.finish()
        guard actual == digest else { throw StoreError.digestMismatch(expected: digest, actual: actual) }
        if let failure { throw failure }
        guard content == diffID else {
            throw WorkerError("layer \(digest): its uncompressed content has digest \(content.map(\.description) ?? "?"), but its diffID says \(diffID)")
        }
    }

    /// Makes `tree` — the directory a RUN's change or a COPY's staging tree was packed from as
    /// `layer` — that layer's unpacked directory. Its times are cut to whole seconds (clamped to
    /// `epoch`) and overlay's bookkeeping xattrs dropped, so it holds what unpacking the blob
    /// would give.
    public func adopt(_ tree: String, as layer: CachedLayer, epoch: Int64?) async throws {
        let name = ContentStore.unpackedName(layer.diffID)
        try await store.hold(resources: [ContentStore.unpackedResource(name)])
        held.insert(name)
        try await BlockingIO.run {
            try Self.normalize(tree, epoch: epoch)
            // The layer holds no entry for its root: an unpacked one has a fresh directory's.
            chmod(tree, 0o755)
            lchown(tree, 0, 0)
        }
        _ = try await place(tree, name: name, at: store.layersDirectory + "/" + name)
    }

    /// Renames a finished tree into place (another process may have placed the same layer
    /// first: then ours goes) and records it.
    func place(_ tmp: String, name: String, at dir: String) async throws -> String {
        let parent = store.layersDirectory
        let size = try await BlockingIO.run { () throws -> Int64 in
            // Root only: layers hold set-uid files and whatever else images carry.
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let size = HostFiles.diskUsage(tmp)
            if rename(tmp, dir) != 0 {
                guard errno == EEXIST || errno == ENOTEMPTY else { throw WorkerError("\(dir): \(errnoText(errno))") }
                HostFiles.removeTree(tmp)
            }
            return size
        }
        try await store.recordUnpacked(name, size: size)
        return dir
    }

    /// Whole-second (clamped) times and no `trusted.overlay.*` xattrs but the opaque marker, on
    /// every entry below `dir`; directories last, deepest first.
    static func normalize(_ dir: String, epoch: Int64?) throws {
        for name in try HostFiles.list(dir) {
            let path = dir + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR { try normalize(path, epoch: epoch) }
            for attr in (try? xattrNames(path)) ?? [] where attr.hasPrefix("trusted.overlay.") && attr != "trusted.overlay.opaque" {
                lremovexattr(path, attr)
            }
            let t = epoch.map { min($0, Int64(st.st_mtim.tv_sec)) } ?? Int64(st.st_mtim.tv_sec)
            _ = kiln_set_mtime(path, t, 0)
        }
    }
}
