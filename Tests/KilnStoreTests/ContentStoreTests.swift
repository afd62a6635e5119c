import Foundation
import KilnArchive
import KilnOCI
import KilnStore
import KilnTestSupport
import Testing

@Suite struct ContentStoreTests {
    @Test func ingestVerifiesAndStoresByDigest() async throws {
        let dir = try TemporaryDirectory()
        let store = try ContentStore(root: dir.path)
        let bytes = Array("hello layer".utf8)
        let info = try await store.ingest(expected: Digest.of(bytes), mediaType: "text/plain") { try $0.write(bytes) }
        #expect(info.digest == Digest.of(bytes))
        #expect(info.size == Int64(bytes.count))
        #expect(info.mediaType == "text/plain")
        #expect(try Data(contentsOf: URL(fileURLWithPath: store.path(for: info.digest))) == Data(bytes))
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.claim.ingest).isEmpty)
    }

    @Test func mismatchedDigestLeavesNothing() async throws {
        let dir = try TemporaryDirectory()
        let store = try ContentStore(root: dir.path)
        let wrong = Digest.of(Array("other".utf8))
        await #expect(throws: StoreError.self) { try await store.ingest(expected: wrong) { try $0.write(Array("data".utf8)) } }
        #expect(!store.contains(wrong))
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.claim.ingest).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("blobs/sha256")).isEmpty)
    }

    @Test func layerWriterCommitsWithDiffIDAndSurvivesReopen() async throws {
        let dir = try TemporaryDirectory()
        let tree = try TemporaryDirectory()
        try Data("content".utf8).write(to: URL(fileURLWithPath: tree.file("f")))
        let blob: LayerBlob
        do {
            let store = try ContentStore(root: dir.path)
            let path = store.newIngestPath()
            let w = try LayerWriter(path: path, compression: .gzipDefault)
            try LayerPacker().pack(directory: tree.path, into: w.tar)
            blob = try w.finish()
            try await store.commit(ingestPath: path, digest: blob.digest, mediaType: MediaType.ociLayerGzip, diffID: blob.diffID,
                             uncompressedSize: blob.uncompressedSize)
            try await store.addSource(blob.digest, repository: "registry.example/base")
        }
        let reopened = try ContentStore(root: dir.path)
        let info = try #require(try await reopened.info(blob.digest))
        #expect(info.diffID == blob.diffID)
        #expect(info.size == blob.size)
        #expect(try await reopened.blobs(withDiffID: blob.diffID).map(\.digest) == [blob.digest])
        #expect(try await reopened.sources(blob.digest) == ["registry.example/base"])
    }

    @Test func twoStoresOnOneDirectoryIngestConcurrently() async throws {
        let dir = try TemporaryDirectory()
        let a = try ContentStore(root: dir.path)
        let b = try ContentStore(root: dir.path)
        let payloads = (0..<40).map { i in Array("blob-\(i % 20)".utf8) + [UInt8](repeating: UInt8(i % 20), count: 10_000) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, p) in payloads.enumerated() {
                let store = i % 2 == 0 ? a : b
                group.addTask { try await store.ingest(expected: Digest.of(p), mediaType: "x") { try $0.write(p) } }
            }
            try await group.waitForAll()
        }
        for p in payloads { #expect(try await a.info(Digest.of(p))?.size == Int64(p.count)) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("blobs/sha256")).count == 20)
    }

    @Test func garbageCollectionKeepsRootsAndLeasesAndCleansLeftovers() async throws {
        let dir = try TemporaryDirectory()
        // Written by a process that has ended (its claim released), collected by another.
        let writer = try ContentStore(root: dir.path)
        let keep = try await writer.ingest { try $0.write(Array("keep".utf8)) }.digest
        let leased = try await writer.ingest { try $0.write(Array("leased".utf8)) }.digest
        let garbage = try await writer.ingest { try $0.write(Array("garbage".utf8)) }.digest
        let ghost = try await writer.ingest { try $0.write(Array("ghost".utf8)) }.digest
        writer.claim.release()
        let store = try ContentStore(root: dir.path)
        try await store.lease("build-1", digests: [leased])
        // An older version's crash mid-ingest leaves a loose temp file; a crash after a delete a stale row.
        FileManager.default.createFile(atPath: dir.file("ingest/partial"), contents: Data("partial".utf8))
        unlink(store.path(for: ghost))

        let report = try await store.garbageCollect(keeping: [keep], ingestGrace: 0)
        #expect(store.contains(keep) && store.contains(leased) && !store.contains(garbage))
        #expect(report.blobsRemoved == 1)
        #expect(report.ingestFilesRemoved == 1)
        #expect(report.staleRowsRemoved == 1)
        try await store.releaseLease("build-1")
        try await store.garbageCollect(keeping: [keep])
        #expect(!store.contains(leased))
        #expect(store.diskUsage() == 4)
    }

    @Test func blobsALiveProcessWroteOrUsesSurviveCollection() async throws {
        let dir = try TemporaryDirectory()
        let build = try ContentStore(root: dir.path)
        let written = try await build.ingest { try $0.write(Array("written by a running build".utf8)) }.digest
        let prune = try ContentStore(root: dir.path)
        let old = try await prune.ingest { try $0.write(Array("used by the running build".utf8)) }.digest
        prune.claim.release()
        try await build.hold([old])
        let collector = try ContentStore(root: dir.path)
        _ = try await collector.garbageCollect(keeping: [])
        #expect(collector.contains(written) && collector.contains(old))
        // Once the build's process is gone, so are its leases.
        build.claim.release()
        _ = try await collector.garbageCollect(keeping: [])
        #expect(!collector.contains(written) && !collector.contains(old))
    }
}
