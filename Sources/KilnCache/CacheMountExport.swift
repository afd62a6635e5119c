import Foundation
import KilnArchive
import KilnOCI
import KilnSolver
import KilnStore
import KilnSystem

/// `cache-mounts=true`: the `RUN --mount=type=cache` directories a build used travel with its
/// cache — each as one extra layer blob (a deterministic tar, compressed as the cache's layers
/// are) listed beside the cache's layers with the annotation `kiln.cache-mount.id`. No record
/// references them, so BuildKit's importer never looks at them.
extension RegistryCacheExporter {
    /// The annotation naming the cache mount id a blob holds.
    public static let cacheMountAnnotation = "kiln.cache-mount.id"

    /// Every cache mount id a RUN of `graph` uses.
    static func cacheMountIDs(_ graph: BuildGraph) -> [String] {
        var ids: [String] = []
        for v in graph.vertices {
            guard case .exec(let op) = v.op else { continue }
            for m in op.run.parsedMounts where m.kind == .cache {
                let id = m.id ?? m.target
                if !ids.contains(id) { ids.append(id) }
            }
        }
        return ids
    }

    /// Packs each cache mount of `graph` that exists on this root, up to the size cap (one over
    /// it is left out with a warning); returns the blobs (in the content store) with their ids.
    func packCacheMounts(_ graph: BuildGraph, options: CacheExportOptions) async throws -> [(id: String, layer: CachedLayer)] {
        var out: [(String, CachedLayer)] = []
        for id in Self.cacheMountIDs(graph) {
            let dir = store.cacheMountDirectory(id: id)
            guard FileManager.default.fileExists(atPath: dir) else { continue }
            let size = HostFiles.diskUsage(dir)
            guard size <= options.cacheMountsMaxSize else {
                await warn("cache mount \(id) is \(size) bytes, over cache-mounts-max-size=\(options.cacheMountsMaxSize): not exported")
                continue
            }
            out.append((id, try await pack(dir, id: id, compression: options.compression, oci: options.ociMediaTypes)))
        }
        return out
    }

    /// One directory as a layer blob in the content store, read under a shared lock so that no
    /// `sharing=locked` step changes it meanwhile.
    private func pack(_ dir: String, id: String, compression: Compression, oci: Bool) async throws -> CachedLayer {
        let lock = open(dir + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw CacheImportError("cache mount \(id): cannot lock \(dir).lock") }
        defer { close(lock) }
        flock(lock, LOCK_SH)
        let tmp = store.newIngestPath()
        let blob: LayerBlob
        do {
            blob = try await BlockingIO.run {
                let writer = try LayerWriter(path: tmp, compression: compression)
                try LayerPacker().pack(directory: dir, into: writer.tar)
                return try writer.finish()
            }
        } catch {
            unlink(tmp)
            throw error
        }
        let mediaType = blob.mediaType(oci: oci)
        try await store.commit(ingestPath: tmp, digest: blob.digest, mediaType: mediaType, diffID: blob.diffID)
        return CachedLayer(digest: blob.digest, diffID: blob.diffID, mediaType: mediaType, size: blob.size,
                           createdAt: Int64(Date().timeIntervalSince1970))
    }
}
