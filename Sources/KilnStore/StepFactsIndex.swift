import Foundation
import GRDB
import KilnOCI

/// The facts a cached step's key was made of, as the solver stored them (opaque JSON here):
/// what `--explain` compares a step that misses with.
public struct StoredFacts: Sendable, Hashable {
    /// The step's cache key id.
    public var key: Digest
    /// The key id of the filesystem it started from.
    public var parent: Digest?
    /// Its place in the Dockerfile.
    public var slot: String
    /// The facts, as JSON.
    public var json: String
    /// When stored (seconds since the epoch).
    public var createdAt: Int64

    /// A row.
    public init(key: Digest, parent: Digest?, slot: String, json: String, createdAt: Int64 = 0) {
        (self.key, self.parent, self.slot, self.json, self.createdAt) = (key, parent, slot, json, createdAt)
    }
}

extension ContentStore {
    static func registerFactsMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v5-step-facts") { db in
            try db.execute(sql: """
                CREATE TABLE step_facts (
                    key_id TEXT PRIMARY KEY NOT NULL,
                    parent TEXT,
                    slot TEXT NOT NULL,
                    facts TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                );
                CREATE INDEX step_facts_parent ON step_facts(parent);
                CREATE INDEX step_facts_slot ON step_facts(slot);
                """)
        }
    }

    /// Stores the facts of a step whose result is cached, unless some are stored for its key
    /// (looked up first: a warm build then writes nothing).
    public func storeFactsIfMissing(_ facts: StoredFacts) async throws(StoreError) {
        let key = facts.key.description
        let stored = try await reading { db in
            try Bool.fetchOne(db, sql: "SELECT 1 FROM step_facts WHERE key_id = ?", arguments: [key]) ?? false
        }
        guard !stored else { return }
        let now = Self.now()
        try await writing { db in try Self.insert(facts, replacing: false, now: now, into: db) }
    }

    static func insert(_ facts: StoredFacts, replacing: Bool, now: Int64, into db: Database) throws {
        try db.execute(sql: """
            INSERT OR \(replacing ? "REPLACE" : "IGNORE") INTO step_facts (key_id, parent, slot, facts, created_at)
            VALUES (?, ?, ?, ?, ?)
            """, arguments: [facts.key.description, facts.parent?.description, facts.slot, facts.json, now])
    }

    /// The stored facts of steps that started from `parent` or stood in `slot`, newest first.
    public func factsCandidates(parent: Digest?, slot: String) async throws(StoreError) -> [StoredFacts] {
        try await reading { db in
            try Row.fetchAll(db, sql: "SELECT * FROM step_facts WHERE parent = ? OR slot = ? ORDER BY created_at DESC, rowid DESC",
                             arguments: [parent?.description, slot]).compactMap(Self.storedFacts)
        }
    }

    /// The stored facts of the step with key `key`.
    public func facts(_ key: Digest) async throws(StoreError) -> StoredFacts? {
        try await reading { db in
            try Row.fetchOne(db, sql: "SELECT * FROM step_facts WHERE key_id = ?", arguments: [key.description]).flatMap(Self.storedFacts)
        }
    }

    private static func storedFacts(_ row: Row) -> StoredFacts? {
        guard let key = try? Digest(parsing: row["key_id"]) else { return nil }
        let parent = (row["parent"] as String?).flatMap { try? Digest(parsing: $0) }
        return StoredFacts(key: key, parent: parent, slot: row["slot"], json: row["facts"], createdAt: row["created_at"])
    }
}
