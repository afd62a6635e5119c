import Foundation
import GRDB
import KilnArchive
import KilnOCI
import KilnSystem
import KilnSystem

/// Blobs by digest under a state directory, with their metadata in SQLite.
///
/// Layout under `root`: `blobs/sha256/<hex>` (immutable, complete, verified), `ingest/<claim>/`
/// and `tmp/<claim>/` (this process's partial files and scratch, see ``StateClaim``; what a
/// killed process left there is removed by ``sweepAbandoned(reaper:)``), and `metadata.db`
/// (WAL mode, shared safely by several processes).
///
/// The blob file is the truth about presence: it appears only by `rename` after its bytes
/// were hashed while written, fsynced and checked. Metadata rows are added after the rename;
/// a crash between the two leaves a blob without metadata, which readers tolerate and GC
/// reconciles.
public final class ContentStore: Sendable {
    /// The state directory.
    public let root: String
    let db: DatabasePool
    /// This process's claim on the state directory (its scratch, ingest and leases).
    public let claim: StateClaim

    /// Opens (creating when needed) the store under `root` and claims it for this process.
    public init(root: String) throws(StoreError) {
        self.root = root
        try Self.prepare(root)
        do {
            db = try Self.withInitLock(root) { () throws -> DatabasePool in
                var config = Configuration()
                config.busyMode = .timeout(30)
                let db = try DatabasePool(path: root + "/metadata.db", configuration: config)
                try Self.migrator.migrate(db)
                return db
            }
        } catch let e as StoreError {
            throw e
        } catch {
            throw StoreError.database("\(root)/metadata.db: \(error)")
        }
        claim = try StateClaim(root: root)
    }

    /// Creates the directory layout; a state directory that is a file is refused in one line.
    static func prepare(_ root: String) throws(StoreError) {
        var st = stat()
        if lstat(root, &st) == 0, (st.st_mode & S_IFMT) != S_IFDIR, stat(root, &st) != 0 || (st.st_mode & S_IFMT) != S_IFDIR {
            throw StoreError.io(path: root, reason: "the state directory (--root) exists and is not a directory")
        }
        for dir in ["blobs/sha256", "blobs/sha512", "ingest", "tmp"] {
            do {
                try FileManager.default.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
            } catch {
                throw StoreError.io(path: root + "/" + dir, reason: Self.reason(error))
            }
        }
    }

    /// Opening a fresh database switches it to WAL, which two processes must not do at once:
    /// first builds on a new root are serialized on `.init.lock` (held for milliseconds).
    static func withInitLock<T>(_ root: String, _ body: () throws -> T) throws -> T {
        let path = root + "/.init.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError.io(path: path, reason: errnoText(errno)) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
        return try body()
    }

    /// A file-system error's reason without Foundation's error domains.
    static func reason(_ error: any Error) -> String { ErrorText.describe(error) }

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
        registerDownloadMigration(&m)
        registerUnpackedMigration(&m)
        registerFactsMigration(&m)
        registerBuildKitKeysMigration(&m)
        registerRootLinkMigration(&m)
        return m
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    // MARK: paths

    /// Where a blob's bytes live (whether or not they are there).
    public func path(for digest: Digest) -> String {
        "\(root)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded)"
    }

    /// A fresh, unique path in this process's ingest directory, for writers that stream into a
    /// file and then ``commit(ingestPath:digest:mediaType:diffID:uncompressedSize:)`` it.
    public func newIngestPath() -> String { "\(claim.ingest)/\(UUID().uuidString)" }

    /// A fresh, unique path in this process's scratch directory (removed when the process ends,
    /// however it ends).
    public func newScratchPath(_ prefix: String) -> String { "\(claim.scratch)/\(prefix)-\(UUID().uuidString.prefix(13).lowercased())" }

    /// Whether the blob's bytes are stored.
    public func contains(_ digest: Digest) -> Bool {
        FileManager.default.fileExists(atPath: path(for: digest))
    }

    /// Runs a read on GRDB's own queue: a busy database (another process writing) makes the
    /// caller wait suspended, never blocking a thread of the async pool.
    func reading<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do { return try await db.read(body) } catch let e as StoreError { throw e } catch { throw StoreError.database("\(error)") }
    }

    /// Runs a write transaction on GRDB's own queue (see ``reading(_:)``).
    func writing<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do { return try await db.write(body) } catch let e as StoreError { throw e } catch { throw StoreError.database("\(error)") }
    }

    /// Runs blocking file work (fsync, rename) off the async pool.
    static func fileWork<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws(StoreError) -> T {
        do { return try await BlockingIO.run(body) } catch let e as StoreError { throw e } catch {
            throw StoreError.io(path: "", reason: ErrorText.describe(error))
        }
    }

    // MARK: writing

    /// Streams a blob in through `write` (run off the async pool), hashing while writing; the
    /// blob is stored only if its digest is `expected` (when given). Returns its info.
    @discardableResult
    public func ingest(expected: Digest? = nil, mediaType: String? = nil,
                       _ write: @escaping @Sendable (any ByteSink) throws -> Void) async throws -> BlobInfo {
        let tmp = newIngestPath()
        let digest = try await BlockingIO.run {
            do {
                let file = try FileSink(path: tmp)
                let hasher = DigestingSink(file)
                try write(hasher)
                try hasher.finish()
                return hasher.digest
            } catch {
                unlink(tmp)
                throw error
            }
        }
        if let expected, expected != digest {
            unlink(tmp)
            throw StoreError.digestMismatch(expected: expected, actual: digest)
        }
        return try await commit(ingestPath: tmp, digest: digest, mediaType: mediaType)
    }

    /// Moves a finished ingest file into place as blob `digest` and records its metadata. The
    /// caller vouches for the digest (it hashed the bytes while writing them).
    @discardableResult
    public func commit(ingestPath: String, digest: Digest, mediaType: String? = nil, diffID: Digest? = nil,
                       uncompressedSize: Int64? = nil) async throws(StoreError) -> BlobInfo {
        let final = path(for: digest)
        // Leased before it appears: a concurrent prune never removes it under this build.
        try await hold([digest])
        let size = try await Self.fileWork { () throws(StoreError) -> Int64 in
            var st = stat()
            guard stat(ingestPath, &st) == 0 else { throw StoreError.io(path: ingestPath, reason: "ingest file missing") }
            // Replacing a file already there is atomic (readers keep the inode they opened) and
            // heals a copy corrupted on disk: the new bytes were just verified.
            guard rename(ingestPath, final) == 0 else {
                throw StoreError.io(path: final, reason: String(cString: strerror(errno)))
            }
            Self.syncDirectory(FSPath.parent(final))
            return Int64(st.st_size)
        }
        let now = Self.now()
        try await writing { db in
            try db.execute(sql: """
                INSERT INTO blob (digest, size, media_type, diff_id, uncompressed_size, created_at, last_used_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(digest) DO UPDATE SET
                    media_type = COALESCE(excluded.media_type, media_type),
                    diff_id = COALESCE(excluded.diff_id, diff_id),
                    uncompressed_size = COALESCE(excluded.uncompressed_size, uncompressed_size),
                    last_used_at = excluded.last_used_at
                """, arguments: [digest.description, size, mediaType, diffID?.description, uncompressedSize, now, now])
        }
        return try await info(digest) ?? BlobInfo(digest: digest, size: size, mediaType: mediaType, diffID: diffID,
                                                  uncompressedSize: uncompressedSize, createdAt: now, lastUsedAt: now)
    }

    /// Whether the stored bytes of `digest` still hash to it (nil when it is not stored).
    public func verify(_ digest: Digest) async throws(StoreError) -> Bool? {
        let file = path(for: digest)
        guard contains(digest) else { return nil }
        return try await Self.fileWork { () throws -> Bool in
            let source = DigestingSource(try FileSource(path: file), algorithm: digest.algorithm)
            return try source.finish() == digest
        }
    }

    /// Removes a stored blob whose bytes turned out not to match its digest (a flipped byte on
    /// disk): it is fetched again or remade next time instead of failing every build.
    public func discardCorrupt(_ digest: Digest) async throws(StoreError) {
        let file = path(for: digest)
        _ = try await Self.fileWork { unlink(file) }
        try await writing { db in try db.execute(sql: "DELETE FROM blob WHERE digest = ?", arguments: [digest.description]) }
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
    public func info(_ digest: Digest) async throws(StoreError) -> BlobInfo? {
        var st = stat()
        guard stat(path(for: digest), &st) == 0 else { return nil }
        let size = Int64(st.st_size), mtime = Int64(st.st_mtim.tv_sec)
        return try await reading { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM blob WHERE digest = ?", arguments: [digest.description]) else {
                return BlobInfo(digest: digest, size: size, createdAt: mtime, lastUsedAt: mtime)
            }
            return BlobInfo(
                digest: digest, size: row["size"], mediaType: row["media_type"],
                diffID: (row["diff_id"] as String?).flatMap { try? Digest(parsing: $0) },
                uncompressedSize: row["uncompressed_size"], createdAt: row["created_at"], lastUsedAt: row["last_used_at"])
        }
    }

    /// The stored blobs whose uncompressed content is `diffID` (any compression).
    public func blobs(withDiffID diffID: Digest) async throws(StoreError) -> [BlobInfo] {
        let digests = try await reading { db in
            try String.fetchAll(db, sql: "SELECT digest FROM blob WHERE diff_id = ? ORDER BY digest", arguments: [diffID.description])
        }
        var out: [BlobInfo] = []
        for s in digests {
            guard let d = try? Digest(parsing: s), let info = try await info(d) else { continue }
            out.append(info)
        }
        return out
    }

    /// Records a stored blob's diffID.
    public func commitMetadata(_ digest: Digest, diffID: Digest) async throws(StoreError) {
        try await writing { db in
            try db.execute(sql: "UPDATE blob SET diff_id = ? WHERE digest = ?", arguments: [diffID.description, digest.description])
        }
    }

    /// Records that `repository` (`registry/path`) holds the blob, so a later push to the same
    /// registry can mount it instead of uploading.
    public func addSource(_ digest: Digest, repository: String) async throws(StoreError) {
        try await addSources([digest], repository: repository)
    }

    /// Records that `repository` holds every one of `digests` (one transaction).
    public func addSources(_ digests: [Digest], repository: String) async throws(StoreError) {
        try await writing { db in
            for d in digests {
                try db.execute(sql: "INSERT OR IGNORE INTO blob_source (digest, repository) VALUES (?, ?)",
                               arguments: [d.description, repository])
            }
        }
    }

    /// Repositories known to hold the blob.
    public func sources(_ digest: Digest) async throws(StoreError) -> [String] {
        try await reading { db in
            try String.fetchAll(db, sql: "SELECT repository FROM blob_source WHERE digest = ? ORDER BY repository",
                                arguments: [digest.description])
        }
    }

    /// Marks blobs as used now (pruning keeps recently used ones).
    public func touch(_ digests: [Digest]) async throws(StoreError) {
        let now = Self.now()
        try await writing { db in
            for d in digests {
                try db.execute(sql: "UPDATE blob SET last_used_at = ? WHERE digest = ?", arguments: [now, d.description])
            }
        }
    }

    // MARK: leases

    /// Protects blobs (by digest) or other stored resources (`snapshot:<id>`) from garbage
    /// collection and pruning for as long as this process lives.
    public func hold(_ digests: [Digest]) async throws(StoreError) {
        try await hold(resources: digests.map(\.description))
    }

    /// ``hold(_:)`` for resources named by string.
    public func hold(resources: [String]) async throws(StoreError) {
        guard !resources.isEmpty else { return }
        let id = claim.id
        try await writing { db in
            for r in resources {
                try db.execute(sql: "INSERT OR REPLACE INTO lease (id, digest, expires_at) VALUES (?, ?, ?)",
                               arguments: [id, r, Self.claimLease])
            }
        }
    }

    /// `expires_at` of leases that last as long as their claim's process.
    static let claimLease = Int64.max

    /// Protects `digests` from garbage collection until the lease is released or expires.
    public func lease(_ id: String, digests: [Digest], for duration: TimeInterval = 3600) async throws(StoreError) {
        let expires = Self.now() + Int64(duration)
        try await writing { db in
            for d in digests {
                try db.execute(sql: "INSERT OR REPLACE INTO lease (id, digest, expires_at) VALUES (?, ?, ?)",
                               arguments: [id, d.description, expires])
            }
        }
    }

    /// Ends a lease.
    public func releaseLease(_ id: String) async throws(StoreError) {
        try await writing { db in try db.execute(sql: "DELETE FROM lease WHERE id = ?", arguments: [id]) }
    }
}
