import Foundation
import GRDB
import KilnArchive
import KilnOCI

/// Blobs by digest under a state directory, with their metadata in SQLite.
///
/// Layout under `root`: `blobs/sha256/<hex>` (immutable, complete, verified), `ingest/`
/// (files being written; a crash leaves them there for ``garbageCollect(keeping:)``), and
/// `metadata.db` (WAL mode, shared safely by several processes).
///
/// The blob file is the truth about presence: it appears only by `rename` after its bytes
/// were hashed while written, fsynced and checked. Metadata rows are added after the rename;
/// a crash between the two leaves a blob without metadata, which readers tolerate and GC
/// reconciles.
public final class ContentStore: Sendable {
    /// The state directory.
    public let root: String
    let db: DatabasePool

    /// Opens (creating when needed) the store under `root`.
    public init(root: String) throws(StoreError) {
        self.root = root
        for dir in ["blobs/sha256", "blobs/sha512", "ingest"] {
            do {
                try FileManager.default.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
            } catch {
                throw StoreError.io(path: root + "/" + dir, reason: error.localizedDescription)
            }
        }
        do {
            var config = Configuration()
            config.busyMode = .timeout(30)
            db = try DatabasePool(path: root + "/metadata.db", configuration: config)
            try Self.migrator.migrate(db)
        } catch {
            throw StoreError.database("\(root)/metadata.db: \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE blob (
                    digest TEXT PRIMARY KEY NOT NULL,
                    size INTEGER NOT NULL,
                    media_type TEXT,
                    diff_id TEXT,
                    uncompressed_size INTEGER,
                    created_at INTEGER NOT NULL,
                    last_used_at INTEGER NOT NULL
                );
                CREATE INDEX blob_diff_id ON blob(diff_id);
                CREATE TABLE blob_source (
                    digest TEXT NOT NULL,
                    repository TEXT NOT NULL,
                    PRIMARY KEY (digest, repository)
                );
                CREATE TABLE lease (
                    id TEXT NOT NULL,
                    digest TEXT NOT NULL,
                    expires_at INTEGER NOT NULL,
                    PRIMARY KEY (id, digest)
                );
                """)
        }
        registerCacheMigration(&m)
        return m
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    // MARK: paths

    /// Where a blob's bytes live (whether or not they are there).
    public func path(for digest: Digest) -> String {
        "\(root)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded)"
    }

    /// A fresh, unique path in the ingest directory, for writers that stream into a file and
    /// then ``commit(ingestPath:digest:mediaType:diffID:uncompressedSize:)`` it.
    public func newIngestPath() -> String { "\(root)/ingest/\(UUID().uuidString)" }

    /// Whether the blob's bytes are stored.
    public func contains(_ digest: Digest) -> Bool {
        FileManager.default.fileExists(atPath: path(for: digest))
    }

    // MARK: writing

    /// Streams a blob in through `write`, hashing while writing; the blob is stored only if
    /// its digest is `expected` (when given). Returns its info.
    @discardableResult
    public func ingest(expected: Digest? = nil, mediaType: String? = nil, _ write: (any ByteSink) throws -> Void) throws -> BlobInfo {
        let tmp = newIngestPath()
        let digest: Digest
        do {
            let file = try FileSink(path: tmp)
            let hasher = DigestingSink(file)
            try write(hasher)
            try hasher.finish()
            digest = hasher.digest
        } catch {
            unlink(tmp)
            throw error
        }
        if let expected, expected != digest {
            unlink(tmp)
            throw StoreError.digestMismatch(expected: expected, actual: digest)
        }
        return try commit(ingestPath: tmp, digest: digest, mediaType: mediaType)
    }

    /// Moves a finished ingest file into place as blob `digest` and records its metadata. The
    /// caller vouches for the digest (it hashed the bytes while writing them).
    @discardableResult
    public func commit(ingestPath: String, digest: Digest, mediaType: String? = nil, diffID: Digest? = nil,
                       uncompressedSize: Int64? = nil) throws(StoreError) -> BlobInfo {
        let final = path(for: digest)
        var st = stat()
        guard stat(ingestPath, &st) == 0 else { throw StoreError.io(path: ingestPath, reason: "ingest file missing") }
        if FileManager.default.fileExists(atPath: final) {
            unlink(ingestPath)  // another writer got there first; the bytes are the same
        } else {
            guard rename(ingestPath, final) == 0 else {
                throw StoreError.io(path: final, reason: String(cString: strerror(errno)))
            }
            Self.syncDirectory((final as NSString).deletingLastPathComponent)
        }
        let now = Self.now()
        do {
            try db.write { db in
                try db.execute(sql: """
                    INSERT INTO blob (digest, size, media_type, diff_id, uncompressed_size, created_at, last_used_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(digest) DO UPDATE SET
                        media_type = COALESCE(excluded.media_type, media_type),
                        diff_id = COALESCE(excluded.diff_id, diff_id),
                        uncompressed_size = COALESCE(excluded.uncompressed_size, uncompressed_size),
                        last_used_at = excluded.last_used_at
                    """, arguments: [digest.description, Int64(st.st_size), mediaType, diffID?.description, uncompressedSize, now, now])
            }
        } catch {
            throw StoreError.database("\(error)")
        }
        return try info(digest) ?? BlobInfo(digest: digest, size: Int64(st.st_size), mediaType: mediaType, diffID: diffID,
                                            uncompressedSize: uncompressedSize, createdAt: now, lastUsedAt: now)
    }

    private static func syncDirectory(_ dir: String) {
        let fd = open(dir, O_RDONLY | O_DIRECTORY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    // MARK: metadata

    /// The stored blob's metadata, or `nil` when its bytes are not stored.
    public func info(_ digest: Digest) throws(StoreError) -> BlobInfo? {
        var st = stat()
        guard stat(path(for: digest), &st) == 0 else { return nil }
        let row: Row?
        do {
            row = try db.read { db in try Row.fetchOne(db, sql: "SELECT * FROM blob WHERE digest = ?", arguments: [digest.description]) }
        } catch {
            throw StoreError.database("\(error)")
        }
        guard let row else {
            return BlobInfo(digest: digest, size: Int64(st.st_size), createdAt: Int64(st.st_mtim.tv_sec), lastUsedAt: Int64(st.st_mtim.tv_sec))
        }
        return BlobInfo(
            digest: digest, size: row["size"], mediaType: row["media_type"],
            diffID: (row["diff_id"] as String?).flatMap { try? Digest(parsing: $0) },
            uncompressedSize: row["uncompressed_size"], createdAt: row["created_at"], lastUsedAt: row["last_used_at"])
    }

    /// The stored blobs whose uncompressed content is `diffID` (any compression).
    public func blobs(withDiffID diffID: Digest) throws(StoreError) -> [BlobInfo] {
        do {
            let digests = try db.read { db in
                try String.fetchAll(db, sql: "SELECT digest FROM blob WHERE diff_id = ? ORDER BY digest", arguments: [diffID.description])
            }
            return try digests.compactMap { s throws(StoreError) in
                guard let d = try? Digest(parsing: s) else { return nil }
                return try info(d)
            }
        } catch let e as StoreError {
            throw e
        } catch {
            throw StoreError.database("\(error)")
        }
    }

    /// Records a stored blob's diffID.
    public func commitMetadata(_ digest: Digest, diffID: Digest) throws(StoreError) {
        do {
            try db.write { db in
                try db.execute(sql: "UPDATE blob SET diff_id = ? WHERE digest = ?", arguments: [diffID.description, digest.description])
            }
        } catch {
            throw StoreError.database("\(error)")
        }
    }

    /// Records that `repository` (`registry/path`) holds the blob, so a later push to the same
    /// registry can mount it instead of uploading.
    public func addSource(_ digest: Digest, repository: String) throws(StoreError) {
        do {
            try db.write { db in
                try db.execute(sql: "INSERT OR IGNORE INTO blob_source (digest, repository) VALUES (?, ?)",
                               arguments: [digest.description, repository])
            }
        } catch {
            throw StoreError.database("\(error)")
        }
    }

    /// Repositories known to hold the blob.
    public func sources(_ digest: Digest) throws(StoreError) -> [String] {
        do {
            return try db.read { db in
                try String.fetchAll(db, sql: "SELECT repository FROM blob_source WHERE digest = ? ORDER BY repository",
                                    arguments: [digest.description])
            }
        } catch {
            throw StoreError.database("\(error)")
        }
    }

    /// Marks blobs as used now (pruning keeps recently used ones).
    public func touch(_ digests: [Digest]) throws(StoreError) {
        let now = Self.now()
        do {
            try db.write { db in
                for d in digests {
                    try db.execute(sql: "UPDATE blob SET last_used_at = ? WHERE digest = ?", arguments: [now, d.description])
                }
            }
        } catch {
            throw StoreError.database("\(error)")
        }
    }

    // MARK: leases

    /// Protects `digests` from garbage collection until the lease is released or expires.
    public func lease(_ id: String, digests: [Digest], for duration: TimeInterval = 3600) throws(StoreError) {
        let expires = Self.now() + Int64(duration)
        do {
            try db.write { db in
                for d in digests {
                    try db.execute(sql: "INSERT OR REPLACE INTO lease (id, digest, expires_at) VALUES (?, ?, ?)",
                                   arguments: [id, d.description, expires])
                }
            }
        } catch {
            throw StoreError.database("\(error)")
        }
    }

    /// Ends a lease.
    public func releaseLease(_ id: String) throws(StoreError) {
        do {
            try db.write { db in try db.execute(sql: "DELETE FROM lease WHERE id = ?", arguments: [id]) }
        } catch {
            throw StoreError.database("\(error)")
        }
    }
}
