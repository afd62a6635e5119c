import Foundation
import KilnOCI
import KilnStore
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
