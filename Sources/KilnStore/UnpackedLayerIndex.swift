import Foundation
import GRDB
import KilnOCI
import KilnSystem

/// Unpacked layers: one directory per layer at `layers/<name>` (the diffID's hex, or
/// `flat-<ChainID hex>` for a flattened prefix), recorded with their size and last use, leased by
/// the builds that mount them, removed by ``pruneUnpackedLayers(all:)`` like blobs.
extension ContentStore {
    static func registerUnpackedMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v4-unpacked-layers") { db in
            try db.execute(sql: """
                CREATE TABLE unpacked_layer (
                    name TEXT PRIMARY KEY NOT NULL,
                    size INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    last_used_at INTEGER NOT NULL
                );
                """)
        }
    }

    /// The directory holding unpacked layers.
    public var layersDirectory: String { root + "/layers" }

    /// The directory name of the unpacked layer with `diffID`.
    public static func unpackedName(_ diffID: Digest) -> String { diffID.encoded }

    /// The lease resource of the unpacked layer `name`.
    public static func unpackedResource(_ name: String) -> String { "layer:" + name }

    /// Records that `name` was unpacked (or adopted) and holds `size` bytes.
    public func recordUnpacked(_ name: String, size: Int64) async throws(StoreError) {
        let now = Self.now()
        try await writing { db in
            try db.execute(sql: """
                INSERT INTO unpacked_layer (name, size, created_at, last_used_at) VALUES (?, ?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET size = excluded.size, last_used_at = excluded.last_used_at
                """, arguments: [name, size, now, now])
        }
    }

    /// Marks unpacked layers as used now.
    public func touchUnpacked(_ names: [String]) async throws(StoreError) {
        let now = Self.now()
        try await writing { db in
            for n in names { try db.execute(sql: "UPDATE unpacked_layer SET last_used_at = ? WHERE name = ?", arguments: [now, n]) }
        }
    }

    /// Removes unpacked layers no live process holds: all of them with `all`, else those no
    /// remaining cache result has in its chain. They leave `layers/` inside a write transaction,
    /// so a build taking a lease either keeps its layer or unpacks it again. Returns the bytes freed.
    public func pruneUnpackedLayers(all: Bool) async throws(StoreError) -> Int64 {
        let (root, dir, trash) = (self.root, layersDirectory, newScratchPath("pruned-layers"))
        try await Self.fileWork { try FileManager.default.createDirectory(atPath: trash, withIntermediateDirectories: true) }
        try await writing { db in
            let leased = try Self.liveLeases(db, root: root, now: Self.now())
            let referenced = all ? [] : try Self.referencedDiffIDs(db)
            for name in (try? HostFiles.list(dir)) ?? [] where !name.hasPrefix(".") {
                guard !leased.contains(Self.unpackedResource(name)), !referenced.contains(name) else { continue }
                if rename("\(dir)/\(name)", "\(trash)/\(name)") == 0 {
                    try db.execute(sql: "DELETE FROM unpacked_layer WHERE name = ?", arguments: [name])
                }
            }
        }
        return try await Self.fileWork { HostFiles.removeTree(trash) }
    }

    /// The diffIDs (hex) of every layer a stored cache result's chain holds.
    static func referencedDiffIDs(_ db: Database) throws -> Set<String> {
        var out = Set<String>()
        for json in try String.fetchAll(db, sql: "SELECT layers FROM cache_result") {
            guard let layers = try? JSONDecoder().decode([CachedLayer].self, from: Data(json.utf8)) else { continue }
            for l in layers { out.insert(l.diffID.encoded) }
        }
        return out
    }
}
