import KilnArchive

/// Reports byte transfers (a layer pulled): an id, a name, bytes so far and in all.
public typealias TransferReporter = @Sendable (_ id: String, _ name: String, _ current: Int64, _ total: Int64) async -> Void

/// The seam through which the worker, the exporters and the cache get the bytes of the blobs
/// a result names: the content store, filled on demand — and verified — from the registries
/// known to hold them. A blob no source serves is ``BlobUnavailable``, thrown as itself (never
/// wrapped), so that the build can run the steps that made it again.
public protocol BlobFetcher: Sendable {
    /// The store the blobs land in.
    var store: ContentStore { get }

    /// Ensures `layer`'s blob is stored, fetching it when it is not; returns its path.
    func fetch(_ layer: CachedLayer, report: TransferReporter?) async throws -> String

    /// ``fetch(_:report:)``, then checks the stored bytes against the digest: a copy corrupted
    /// on disk is discarded and fetched again. For readers that use a blob's bytes directly.
    func fetchVerified(_ layer: CachedLayer, report: TransferReporter?) async throws -> String

    /// ``fetch(_:report:)`` with `read` consuming the blob's bytes as they arrive: a download
    /// and what reads it (decompressing, unpacking) run side by side, and a stored blob is read
    /// from its file. Returns the stored path once both are done; the download's failure is
    /// thrown first (a ``BlobUnavailable`` as itself), then the reader's.
    func fetch(_ layer: CachedLayer, report: TransferReporter?,
               reading read: @escaping @Sendable (any ByteSource) throws -> Void) async throws -> String
}

extension BlobFetcher {
    /// Fetches first, then reads the stored file: for fetchers that cannot stream.
    public func fetch(_ layer: CachedLayer, report: TransferReporter?,
                      reading read: @escaping @Sendable (any ByteSource) throws -> Void) async throws -> String {
        let path = try await fetch(layer, report: report)
        try await BlockingIO.run { try read(try FileSource(path: path)) }
        return path
    }

    /// ``fetch(_:report:)`` without progress.
    public func fetch(_ layer: CachedLayer) async throws -> String { try await fetch(layer, report: nil) }
    /// ``fetchVerified(_:report:)`` without progress.
    public func fetchVerified(_ layer: CachedLayer) async throws -> String { try await fetchVerified(layer, report: nil) }
}
