import Foundation
import GRDB
import KilnOCI

/// What a collection removed.
public struct CollectionReport: Sendable, Hashable {
    /// Blobs deleted.
    public var blobsRemoved = 0
    /// Bytes freed by them.
    public var bytesFreed: Int64 = 0
    /// Abandoned ingest files deleted.
    public var ingestFilesRemoved = 0
    /// Metadata rows for missing files dropped.
    public var staleRowsRemoved = 0
}

extension ContentStore {
    /// Deletes every blob not in `keeping` and not under a live lease (unexpired, or held by a
    /// live process's claim), ingest files of no claim older than `ingestGrace`, and metadata
    /// rows whose file is gone.
    ///
    /// Runs inside one immediate write transaction, so a concurrent process cannot take a
    /// lease on a blob between the check and the delete.
    @discardableResult
    public func garbageCollect(keeping: Set<Digest>, ingestGrace: TimeInterval = 3600) async throws(StoreError) -> CollectionReport {
        let now = Self.now()
        let root = self.root
        var report = try await writing { db in
            var report = CollectionReport()
            let leased = try Self.liveLeases(db, root: root, now: now)
            let keep = leased.union(keeping.map(\.description))
            for algo in Digest.Algorithm.allCases {
                let dir = "\(root)/blobs/\(algo.rawValue)"
                for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                    let id = "\(algo.rawValue):\(name)"
                    guard !keep.contains(id) else { continue }
                    var st = stat()
                    let path = dir + "/" + name
                    if stat(path, &st) == 0, unlink(path) == 0 {
                        report.blobsRemoved += 1
                        report.bytesFreed += Int64(st.st_size)
                    }
                    try db.execute(sql: "DELETE FROM blob WHERE digest = ?", arguments: [id])
                    try db.execute(sql: "DELETE FROM blob_source WHERE digest = ?", arguments: [id])
                }
            }
            for id in try String.fetchAll(db, sql: "SELECT digest FROM blob") {
                guard let d = try? Digest(parsing: id), !self.contains(d) else { continue }
                try db.execute(sql: "DELETE FROM blob WHERE digest = ?", arguments: [id])
                report.staleRowsRemoved += 1
            }
            return report
        }
        let ingest = root + "/ingest"
        report.ingestFilesRemoved = try await Self.fileWork {
            var removed = 0
            // Files of older kiln versions sit at the top; claims' directories are swept instead.
            for name in (try? FileManager.default.contentsOfDirectory(atPath: ingest)) ?? [] {
                var st = stat()
                let path = ingest + "/" + name
                if lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG,
                   now - Int64(st.st_mtim.tv_sec) >= Int64(ingestGrace), unlink(path) == 0 {
                    removed += 1
                }
            }
            return removed
        }
        return report
    }

    /// Resources under a live lease: expired leases and those of claims whose process is gone
    /// are dropped first (inside the caller's write transaction).
    static func liveLeases(_ db: Database, root: String, now: Int64) throws -> Set<String> {
        try db.execute(sql: "DELETE FROM lease WHERE expires_at < ?", arguments: [now])
        let claims = try String.fetchAll(db, sql: "SELECT DISTINCT id FROM lease WHERE expires_at = ?", arguments: [claimLease])
        for id in claims where !StateClaim.isLive(root: root, id: id) {
            try db.execute(sql: "DELETE FROM lease WHERE id = ?", arguments: [id])
        }
        return Set(try String.fetchAll(db, sql: "SELECT DISTINCT digest FROM lease"))
    }

    /// Total bytes of stored blobs.
    public func diskUsage() -> Int64 {
        var total: Int64 = 0
        for algo in Digest.Algorithm.allCases {
            let dir = "\(root)/blobs/\(algo.rawValue)"
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                var st = stat()
                if stat(dir + "/" + name, &st) == 0 { total += Int64(st.st_size) }
            }
        }
        return total
    }
}
