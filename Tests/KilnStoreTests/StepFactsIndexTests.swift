import Foundation
import KilnOCI
@testable import KilnStore
import GRDB
import KilnTestSupport
import Testing

/// The facts `--explain` compares with: stored with their results, found by parent or slot
/// (newest first), kept when a hit finds them there, forgotten with their results.
@Suite struct StepFactsIndexTests {
    static func digest(_ s: String) -> Digest { Digest.of(Data(s.utf8)) }

    @Test func factsLiveAndDieWithTheirResults() async throws {
        let dir = try TemporaryDirectory()
        let store = try ContentStore(root: dir.path)
        let parent = Self.digest("parent")
        for (name, json) in [("old", #"{"v":1}"#), ("new", #"{"v":2}"#)] {
            let key = Self.digest(name)
            try await store.storeResult(key: key, recordDigest: key, description: name, layers: [],
                                        facts: StoredFacts(key: key, parent: parent, slot: "stage-0/1", json: json))
        }
        try await store.storeFactsIfMissing(StoredFacts(key: Self.digest("other-slot"), parent: nil, slot: "stage-0/2", json: "{}"))
        let byParent = try await store.factsCandidates(parent: parent, slot: "none")
        #expect(byParent.map(\.json) == [#"{"v":2}"#, #"{"v":1}"#], "newest first")
        #expect(try await store.factsCandidates(parent: nil, slot: "stage-0/2").map(\.key) == [Self.digest("other-slot")])

        // A hit does not overwrite what is there.
        try await store.storeFactsIfMissing(StoredFacts(key: Self.digest("new"), parent: parent, slot: "stage-0/1", json: "{}"))
        #expect(try await store.facts(Self.digest("new"))?.json == #"{"v":2}"#)

        try await store.removeResults([Self.digest("old")])
        #expect(try await store.facts(Self.digest("old")) == nil)
        #expect(try await store.factsCandidates(parent: parent, slot: "none").count == 1)
    }
}

/// A root last used by a Kiln whose keys were its own: opening it drops those results (their
/// ids can never match a BuildKit key), their facts and links with them.
@Suite struct KeySchemeMigrationTests {
    @Test func resultsUnderTheEarlierKeysAreDropped() async throws {
        let dir = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        let old = try DatabaseQueue(path: dir.path + "/metadata.db")
        try ContentStore.migrator.migrate(old, upTo: "v5-step-facts")
        try await old.write { db in
            try db.execute(sql: """
                INSERT INTO cache_result (key_id, record_digest, description, layers, created_at, last_used_at)
                VALUES ('sha256:\(String(repeating: "1", count: 64))', 'sha256:\(String(repeating: "2", count: 64))', 'old step', '[]', 1, 1);
                INSERT INTO step_facts (key_id, parent, slot, facts, created_at) VALUES ('sha256:\(String(repeating: "1", count: 64))', NULL, 's', '{}', 1);
                """)
        }
        try old.close()
        let store = try ContentStore(root: dir.path)
        #expect(try await store.cacheEntries().isEmpty)
        #expect(try await store.facts(Digest(parsing: "sha256:" + String(repeating: "1", count: 64))) == nil)
    }
}
