import Foundation
import KilnOCI
import KilnRegistry
import KilnTestSupport
import Testing

/// The client against a real registry over plain HTTP on loopback.
@Suite struct PlainRegistryTests {
    @Test func smallBlobIsOnePostAndOnePut() async throws {
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory()
        let ref = try Reference(parsing: "\(registry.host)/t/small")
        let blob = try makeBlob(in: dir, size: 100_000)
        try await withClient { client in
            let outcome = try await client.pushBlob(blob.descriptor, fromFile: blob.path, to: ref)
            #expect(outcome == .uploaded)
            let c = client.counters
            #expect(c.byMethod["POST"] == 1)
            #expect(c.byMethod["PUT"] == 1)
            #expect(c.byMethod["PATCH"] == nil)
            #expect(try await client.blobSize(blob.descriptor.digest, in: ref) == 100_000)
            let again = try await client.pushBlob(blob.descriptor, fromFile: blob.path, to: ref)
            #expect(again == .existed)

            let out = dir.file("fetched")
            try await client.fetchBlob(blob.descriptor, from: ref, to: out)
            #expect(try fileDigest(out) == blob.descriptor.digest)
        }
    }

    @Test func largeBlobGoesInChunks() async throws {
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory()
        let ref = try Reference(parsing: "\(registry.host)/t/large")
        let blob = try makeBlob(in: dir, size: 5 * 1024 * 1024 + 123)
        try await withClient(testConfiguration(chunkSize: 1 << 20)) { client in
            #expect(try await client.pushBlob(blob.descriptor, fromFile: blob.path, to: ref) == .uploaded)
            #expect(client.counters.byMethod["PATCH"] == 6)
            let out = dir.file("fetched")
            try await client.fetchBlob(blob.descriptor, from: ref, to: out)
            #expect(try fileDigest(out) == blob.descriptor.digest)
        }
    }

    @Test func manifestsByTagAndDigestKeepBytesAndType() async throws {
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory()
        let ref = try Reference(parsing: "\(registry.host)/t/img:v1")
        try await withClient { client in
            let (digest, _) = try await pushImage(client, to: ref, dir: dir)
            let byTag = try await client.manifest(ref)
            #expect(byTag.digest == digest)
            #expect(byTag.mediaType == MediaType.ociManifest)
            let byDigest = try await client.manifest(ref.withDigest(digest))
            #expect(byDigest.data == byTag.data)
            let head = try await client.manifestDescriptor(ref)
            #expect(head == byTag.descriptor)
            #expect(try await client.manifestDescriptor(try ref.withTag("absent")) == nil)

            // A Docker-typed index of the manifest keeps its media type.
            let list = ImageIndex(mediaType: MediaType.dockerManifestList, manifests: [
                Descriptor(mediaType: MediaType.ociManifest, digest: digest, size: Int64(byTag.data.count), platform: .linuxAMD64),
            ])
            let listRef = try ref.withTag("list")
            try await client.putManifest(try list.encoded(), mediaType: MediaType.dockerManifestList, to: listRef)
            let fetched = try await client.manifest(listRef)
            #expect(fetched.mediaType == MediaType.dockerManifestList)
            guard case .index(let back) = try fetched.document() else { Issue.record("not an index"); return }
            #expect(back.manifest(for: .linuxAMD64)?.digest == digest)
        }
    }

    @Test func missingManifestIsNotFoundWithTheRegistryCode() async throws {
        let registry = try await TestRegistry()
        let ref = try Reference(parsing: "\(registry.host)/t/none:nope")
        try await withClient { client in
            do {
                _ = try await client.manifest(ref)
                Issue.record("expected notFound")
            } catch let e as RegistryError {
                #expect(e.isNotFound)
                #expect(e.description.contains("MANIFEST_UNKNOWN") || e.description.contains("NAME_UNKNOWN"))
                #expect(e.description.contains(registry.host))
            }
        }
    }

    @Test func tagListFollowsPagination() async throws {
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory()
        let ref = try Reference(parsing: "\(registry.host)/t/tags:a")
        try await withClient { client in
            let (digest, _) = try await pushImage(client, to: ref, dir: dir)
            let manifest = try await client.manifest(ref.withDigest(digest))
            for t in ["b", "c", "d", "e"] {
                try await client.putManifest(manifest.data, mediaType: manifest.mediaType, to: try ref.withTag(t))
            }
            // distribution 2.8 ignores `n` and answers in one page; Link parsing is tested apart.
            let tags = try await client.tags(ref, pageSize: 2)
            #expect(tags.sorted() == ["a", "b", "c", "d", "e"])
        }
    }

    @Test func crossRepositoryMountAndFallbackToUpload() async throws {
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory()
        let source = try Reference(parsing: "\(registry.host)/t/source")
        let target = try Reference(parsing: "\(registry.host)/t/target")
        let elsewhere = try Reference(parsing: "\(registry.host)/t/empty")
        let blob = try makeBlob(in: dir, size: 50_000)
        let other = try makeBlob(in: dir, size: 60_000)
        try await withClient { client in
            try await client.pushBlob(blob.descriptor, fromFile: blob.path, to: source)
            let uploadedBefore = client.counters.uploadedBytes
            let outcome = try await client.pushBlob(blob.descriptor, fromFile: blob.path, to: target, mountCandidates: [source])
            #expect(outcome == .mounted(from: "t/source"))
            #expect(client.counters.uploadedBytes == uploadedBefore)
            // The candidate lacks this blob: the 202 session the mount opened takes the upload.
            let postsBefore = client.counters.byMethod["POST"] ?? 0
            let fallback = try await client.pushBlob(other.descriptor, fromFile: other.path, to: target, mountCandidates: [elsewhere])
            #expect(fallback == .uploaded)
            #expect((client.counters.byMethod["POST"] ?? 0) - postsBefore == 1)
            #expect(try await client.blobSize(other.descriptor.digest, in: target) == 60_000)
        }
    }

    @Test func copyWithinARegistryMountsEveryBlob() async throws {
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory()
        let src = try Reference(parsing: "\(registry.host)/t/copy-src:1")
        let dst = try Reference(parsing: "\(registry.host)/t/copy-dst:1")
        try await withClient { client in
            let (digest, blobs) = try await pushImage(client, to: src, dir: dir, layerSize: 300_000)
            let uploaded = client.counters.uploadedBytes
            let report = try await ImageCopy(source: src, destination: dst).run(with: client)
            #expect(report.digest == digest)
            #expect(report.blobsMounted == blobs.count)
            #expect(report.blobsUploaded == 0)
            #expect(client.counters.uploadedBytes - uploaded < 2000)  // only the manifest
            #expect(client.counters.downloadedBytes == 0)
            #expect(try await client.manifest(dst).digest == digest)
        }
    }

    @Test func copyBetweenRegistriesStreamsAndKeepsIndexDigests() async throws {
        let a = try await TestRegistry()
        let b = try await TestRegistry()
        let dir = try TemporaryDirectory()
        let srcRepo = try Reference(parsing: "\(a.host)/t/multi:amd")
        try await withClient { client in
            let (d1, _) = try await pushImage(client, to: srcRepo, dir: dir, layerSize: 200_000)
            let (d2, _) = try await pushImage(client, to: try srcRepo.withTag("arm"), dir: dir, layerSize: 100_000)
            let m1 = try await client.manifest(srcRepo.withDigest(d1))
            let m2 = try await client.manifest(srcRepo.withDigest(d2))
            let index = ImageIndex(manifests: [
                Descriptor(mediaType: m1.mediaType, digest: d1, size: Int64(m1.data.count), platform: .linuxAMD64),
                Descriptor(mediaType: m2.mediaType, digest: d2, size: Int64(m2.data.count), platform: Platform(os: "linux", architecture: "arm64")),
            ])
            let src = try srcRepo.withTag("index")
            let indexDigest = try await client.putManifest(try index.encoded(), mediaType: MediaType.ociIndex, to: src)

            let dst = try Reference(parsing: "\(b.host)/copied/multi:index")
            let report = try await ImageCopy(source: src, destination: dst).run(with: client)
            #expect(report.digest == indexDigest)
            #expect(report.manifestsPushed == 3)
            #expect(report.blobsUploaded == 4)
            #expect(try await client.manifest(dst).digest == indexDigest)
            #expect(try await client.manifest(dst.withDigest(d2)).data == m2.data)

            let again = try await ImageCopy(source: src, destination: dst).run(with: client)
            #expect(again.blobsUploaded == 0)
            #expect(again.blobsExisting == 4)
        }
    }
}
