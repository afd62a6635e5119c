import Foundation
import KilnArchive
import KilnBuild
import KilnOCI
import KilnStore
import KilnSystem
import KilnTestSupport
@testable import KilnWorker
import Testing

/// Seeding a cache mount from an imported blob.
@Suite struct CacheMountSeedTests {
    /// `dir` packed as a gzip layer blob in `store`.
    static func blob(of dir: String, store: ContentStore) async throws -> CachedLayer {
        let tmp = store.newIngestPath()
        let writer = try LayerWriter(path: tmp, compression: .gzipDefault)
        try LayerPacker().pack(directory: dir, into: writer.tar)
        let b = try writer.finish()
        try await store.commit(ingestPath: tmp, digest: b.digest, mediaType: MediaType.ociLayerGzip, diffID: b.diffID)
        return CachedLayer(digest: b.digest, diffID: b.diffID, mediaType: MediaType.ociLayerGzip, size: b.size, createdAt: 0)
    }

    @Test func aSeedUnpacksIntoAnAbsentCacheAndLeavesOneAnotherStepMadeMeanwhile() async throws {
        let dir = try TemporaryDirectory()
        let store = try ContentStore(root: dir.file("root"))
        defer { store.claim.release() }
        try FileManager.default.createDirectory(atPath: dir.file("src"), withIntermediateDirectories: true)
        try "seeded\n".write(toFile: dir.file("src/f"), atomically: false, encoding: .utf8)
        let layer = try await Self.blob(of: dir.file("src"), store: store)
        try await withTestClient { client in
            let seeds = CacheMountSeeds(layers: ["pkgs": layer], fetcher: RegistryBlobFetcher(store: store, client: client))
            let target = store.cacheMountDirectory(id: "pkgs")
            try FileManager.default.createDirectory(atPath: FSPath.parent(target), withIntermediateDirectories: true)
            #expect(try await seeds.populate(target, id: "pkgs", store: store))
            #expect(try String(contentsOfFile: target + "/f", encoding: .utf8) == "seeded\n")
            // A step sharing the cache populated it first (both saw it absent): this one keeps
            // what is there and does not fail.
            try FileManager.default.removeItem(atPath: target)
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            try "theirs\n".write(toFile: target + "/f", atomically: false, encoding: .utf8)
            #expect(try await seeds.populate(target, id: "pkgs", store: store) == false)
            #expect(try String(contentsOfFile: target + "/f", encoding: .utf8) == "theirs\n")
            #expect(try await seeds.populate(target, id: "other", store: store) == false)
        }
    }
}
