import Foundation
import GRDB
import KilnOCI

/// One layer of a cached result's filesystem chain.
public struct CachedLayer: Sendable, Hashable, Codable {
    /// Blob digest.
    public var digest: Digest
    /// Uncompressed digest.
    public var diffID: Digest
    /// Media type.
    public var mediaType: String
    /// Blob size.
    public var size: Int64
    /// When the step that made it ran (seconds since the epoch); image history uses it.
    public var createdAt: Int64
    /// `registry/repository` known to hold the blob, for lazy pulls and mounts.
    public var source: String?
    /// For eStargz blobs: the TOC digest.
    public var tocDigest: Digest?
    /// Uncompressed size, when known.
    public var uncompressedSize: Int64?

    /// A layer reference.
    public init(digest: Digest, diffID: Digest, mediaType: String, size: Int64, createdAt: Int64, source: String? = nil) {
        self.digest = digest
        self.diffID = diffID
        self.mediaType = mediaType
        self.size = size
        self.createdAt = createdAt
        self.source = source
    }
}

/// A cached step result as `kiln du` lists it.
public struct CacheEntry: Sendable, Hashable {
    /// The cache key id.
    public var key: Digest
    /// The step's name when it was stored.
    public var description: String
    /// The result's layer chain.
    public var layers: [CachedLayer]
    /// When stored.
    public var createdAt: Int64
    /// When last used.
    public var lastUsedAt: Int64
}

extension ContentStore {
    static func registerCacheMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v2-cache") { db in
            try db.execute(sql: """
                CREATE TABLE cache_result (
                    key_id TEXT PRIMARY KEY NOT NULL,
                    record_digest TEXT NOT NULL,
                    description TEXT NOT NULL,
                    layers TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    last_used_at INTEGER NOT NULL
                );
                """)
        }
    }

    /// Kiln's keys became BuildKit's: results stored under the earlier scheme can never be
    /// looked up again (their key ids differ), so they are dropped rather than left to linger;
    /// their blobs are then garbage for `kiln prune`.
    static func registerBuildKitKeysMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v6-buildkit-keys") { db in
            try db.execute(sql: "DELETE FROM cache_result; DELETE FROM step_facts;")
        }
    }

    /// The cached layer chain for a key, marking it used; `nil` on a miss or when a blob the
    /// chain needs is neither stored nor fetchable from a known source.
    public func cachedResult(_ key: Digest) async throws(StoreError) -> [CachedLayer]? {
        let json = try await reading { db in
            try String.fetchOne(db, sql: "SELECT layers FROM cache_result WHERE key_id = ?", arguments: [key.description])
        }
        guard let json, let layers = try? JSONDecoder().decode([CachedLayer].self, from: Data(json.utf8)) else { return nil }
        // A result is usable when every blob is here or can be fetched again.
        guard layers.allSatisfy({ contains($0.digest) || $0.source != nil }) else { return nil }
        let now = Self.now()
        try await writing { db in
            try db.execute(sql: "UPDATE cache_result SET last_used_at = ? WHERE key_id = ?", arguments: [now, key.description])
        }
        return layers
    }

    /// Stores a step's result under its key, and with it (in the same transaction) the facts
    /// its key was made of.
    public func storeResult(key: Digest, recordDigest: Digest, description: String, layers: [CachedLayer],
                            facts: StoredFacts? = nil) async throws(StoreError) {
        let json: String
        do { json = String(decoding: try JSONEncoder().encode(layers), as: UTF8.self) } catch { throw StoreError.database("\(error)") }
        let now = Self.now()
        try await writing { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO cache_result (key_id, record_digest, description, layers, created_at, last_used_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [key.description, recordDigest.description, description, json, now, now])
            if let facts { try Self.insert(facts, replacing: true, now: now, into: db) }
        }
    }

    /// Every cached result, most recently used first.
    public func cacheEntries() async throws(StoreError) -> [CacheEntry] {
        try await reading { db in
            try Row.fetchAll(db, sql: "SELECT * FROM cache_result ORDER BY last_used_at DESC, key_id").compactMap { row in
                guard let key = try? Digest(parsing: row["key_id"]),
                      let layers = try? JSONDecoder().decode([CachedLayer].self, from: Data((row["layers"] as String).utf8))
                else { return nil }
                return CacheEntry(key: key, description: row["description"], layers: layers,
                                  createdAt: row["created_at"], lastUsedAt: row["last_used_at"])
            }
        }
    }

    /// Forgets cached results (and the facts and root links of their keys).
    public func removeResults(_ keys: [Digest]) async throws(StoreError) {
        try await writing { db in
            for k in keys {
                try db.execute(sql: "DELETE FROM cache_result WHERE key_id = ?", arguments: [k.description])
                try db.execute(sql: "DELETE FROM step_facts WHERE key_id = ?", arguments: [k.description])
                try db.execute(sql: "DELETE FROM root_link WHERE key_id = ?", arguments: [k.description])
            }
        }
    }

    /// Forgets every cached result whose chain needs `digest` while the blob is not stored
    /// here (a lazy reference that can no longer be fetched); returns their keys.
    @discardableResult
    public func removeResults(needing digest: Digest) async throws(StoreError) -> [Digest] {
        guard !contains(digest) else { return [] }
        let stale = try await cacheEntries().filter { $0.layers.contains { $0.digest == digest } }.map(\.key)
        try await removeResults(stale)
        return stale
    }

    /// Blobs referenced by cached results (what garbage collection must keep).
    public func referencedBlobs() async throws(StoreError) -> Set<Digest> {
        Set(try await cacheEntries().flatMap { $0.layers.map(\.digest) })
    }
}
