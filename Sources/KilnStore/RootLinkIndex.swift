import Foundation
import GRDB
import KilnOCI

/// A link from input `input` of a cached step's key to a content root (`<digest>@-1`) by the
/// root's record digest: BuildKit's content-based alternative for an input read from another
/// stage (or from a file op's result), found once that input was solved here or read from an
/// imported cache. Kept so that a later export of the step — a warm build that solves nothing —
/// writes the same records as the build that ran it.
public struct RootLink: Sendable, Hashable, Codable {
    /// The input index in the step's key.
    public var input: Int
    /// The content root's record digest.
    public var record: Digest

    /// A link.
    public init(input: Int, record: Digest) {
        self.input = input
        self.record = record
    }
}

extension ContentStore {
    static func registerRootLinkMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v7-root-links") { db in
            try db.execute(sql: """
                CREATE TABLE root_link (
                    key_id TEXT NOT NULL,
                    input INTEGER NOT NULL,
                    record TEXT NOT NULL,
                    PRIMARY KEY (key_id, input, record)
                );
                """)
        }
    }

    /// Records `links` for the step with key `key` (kept beside those already there).
    public func storeRootLinks(_ links: [RootLink], for key: Digest) async throws(StoreError) {
        guard !links.isEmpty else { return }
        try await writing { db in
            for l in links {
                try db.execute(sql: "INSERT OR IGNORE INTO root_link (key_id, input, record) VALUES (?, ?, ?)",
                               arguments: [key.description, l.input, l.record.description])
            }
        }
    }

    /// The links recorded for each of `keys` (keys without any are left out).
    public func rootLinks(for keys: [Digest]) async throws(StoreError) -> [Digest: [RootLink]] {
        let ids = keys.map(\.description)
        return try await reading { db in
            var out: [Digest: [RootLink]] = [:]
            for id in ids {
                for row in try Row.fetchAll(db, sql: "SELECT input, record FROM root_link WHERE key_id = ? ORDER BY input, record", arguments: [id]) {
                    guard let key = try? Digest(parsing: id), let record = try? Digest(parsing: row["record"] as String) else { continue }
                    out[key, default: []].append(RootLink(input: row["input"], record: record))
                }
            }
            return out
        }
    }
}
