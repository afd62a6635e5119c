import Foundation
import KilnBuild
import KilnCache
import KilnOCI
import KilnRegistry
import KilnTestSupport
import Testing

/// `kiln cache inspect` and `kiln cache prune` over real registries: every layout Kiln writes,
/// a local layout, a BuildKit sample; prune by age and by count, a dry run, an image beside the
/// caches, a registry that refuses to delete.
@Suite(.serialized) struct CacheToolsTests {
    static let dockerfile = "ARG BASE\nFROM ${BASE}\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\n"

    @Test func inspectReadsEveryLayoutAndNamesTheStepOfEachLayer() async throws {
        let (registry, dir, base) = try await RoundTripTests.rig()
        defer { registry.stop() }
        let layouts = ["image-manifest": "mode=max", "oci-index": "mode=max,image-manifest=false",
                       "docker-manifest-list": "mode=max,oci-mediatypes=false"]
        for (layout, opts) in layouts.sorted(by: { $0.key < $1.key }) {
            let ref = try Reference(parsing: "\(registry.host)/cache/inspect:\(layout)")
            _ = try await TestBuild.run(Self.dockerfile, context: dir.file("ctx"), root: dir.file("root"), buildArgs: ["BASE": base]) {
                $0.cacheExports = [try CacheSpec.export("type=registry,ref=\(ref),\(opts)")]
            }
            let inspection = try await withTestClient { CacheInspection(try await RegistryCacheImporter(client: $0).load(ref), source: ref.description) }
            Self.check(inspection, layout: layout)
        }
        _ = try await TestBuild.run(Self.dockerfile, context: dir.file("ctx"), root: dir.file("root"), buildArgs: ["BASE": base]) {
            $0.cacheExports = [try CacheSpec.export("type=local,dest=\(dir.file("local")),mode=max")]
        }
        Self.check(CacheInspection(try await RegistryCacheImporter.loadLocal(dir.file("local"), tag: nil, store: nil), source: "local"),
                   layout: "image-manifest")
        // A missing cache is an error naming it.
        await #expect(throws: RegistryError.self) {
            try await withTestClient { _ = try await RegistryCacheImporter(client: $0).load(try Reference(parsing: "\(registry.host)/cache/none:1")) }
        }
    }

    static func check(_ inspection: CacheInspection, layout: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(inspection.layout == layout, sourceLocation: sourceLocation)
        #expect(inspection.layers.count == 3 && inspection.layers.allSatisfy { $0.compression == "gzip" && $0.createdAt != nil },
                "\(inspection.layers)", sourceLocation: sourceLocation)
        let steps = inspection.layers.compactMap(\.step)
        #expect(steps.count == 3 && steps[1].hasSuffix("COPY a.txt /a.txt") && steps[2].hasSuffix("RUN cat /a.txt > /b.txt"), "\(steps)",
                sourceLocation: sourceLocation)
        #expect(inspection.records.filter { !$0.results.isEmpty }.count == 2 && inspection.chains.contains { $0.count == 3 },
                sourceLocation: sourceLocation)
        let json = (try? JSONEncoder().encode(inspection)).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        #expect(json?["layers"] is [[String: Any]] && json?["records"] is [[String: Any]], sourceLocation: sourceLocation)
    }

    @Test func aCacheMatchingNoStepIsNamedInAWarning() async throws {
        let (registry, dir, base) = try await RoundTripTests.rig()
        defer { registry.stop() }
        let foreign = "\(registry.host)/cache/foreign:1", own = "\(registry.host)/cache/own:1"
        _ = try await TestBuild.run("ARG BASE\nFROM ${BASE}\nRUN echo other > /o\n", context: dir.file("ctx"), root: dir.file("a"), buildArgs: ["BASE": base]) {
            $0.cacheExports = [try CacheSpec.export("type=registry,ref=\(foreign),mode=max")]
        }
        _ = try await TestBuild.run(Self.dockerfile, context: dir.file("ctx"), root: dir.file("b"), buildArgs: ["BASE": base]) {
            $0.cacheExports = [try CacheSpec.export("type=registry,ref=\(own),mode=max")]
        }
        let warm = try await TestBuild.run(Self.dockerfile, context: dir.file("ctx"), root: dir.file("c"), buildArgs: ["BASE": base]) {
            $0.cacheImports = [.registry(try Reference(parsing: foreign)), .registry(try Reference(parsing: own))]
        }
        #expect(warm.events.warnings == ["cache \(foreign) matched none of the 2 steps: it was written for other inputs or by another builder"],
                "\(warm.events.warnings)")
    }

    @Test func inspectReadsABuildKitSample() async throws {
        let dir = try TemporaryDirectory()
        let stem = BuildKitSampleTests.samples.appendingPathComponent("bk-cache_mode-max_default").path
        let manifest = try Data(contentsOf: URL(fileURLWithPath: stem + ".manifest.json"))
        let config = try Data(contentsOf: URL(fileURLWithPath: stem + ".cacheconfig.json"))
        try FileManager.default.createDirectory(atPath: dir.file("blobs/sha256"), withIntermediateDirectories: true)
        for data in [manifest, config] { try data.write(to: URL(fileURLWithPath: dir.file("blobs/sha256/" + Digest.of(data).encoded))) }
        let top = Descriptor(mediaType: MediaType.ociManifest, digest: Digest.of(manifest), size: Int64(manifest.count))
        try JSONEncoder().encode(ImageIndex(manifests: [top])).write(to: URL(fileURLWithPath: dir.file("index.json")))
        let inspection = CacheInspection(try await RegistryCacheImporter.loadLocal(dir.path, tag: nil, store: nil), source: dir.path)
        #expect(inspection.layout == "image-manifest" && inspection.config?.digest == Digest.of(config))
        #expect(!inspection.layers.isEmpty && inspection.layers.allSatisfy { $0.createdAt != nil && $0.uncompressed != nil && $0.step == nil })
        #expect(inspection.records.count == (try CacheConfig.decode(config)).records.count)
    }

    /// Pushes a synthetic cache (one layer created at `time`) under `tag`.
    static func pushCache(_ client: RegistryClient, repo: String, tag: String, time: Int64) async throws {
        let ref = try Reference(parsing: "\(repo):\(tag)")
        let layer = try await client.pushBlob(Data("layer \(tag)".utf8), mediaType: MediaType.ociLayerGzip, to: ref)
        let config = try await client.pushBlob(Data(#"{"layers":[],"records":[]}"#.utf8), mediaType: MediaType.buildkitCacheConfig, to: ref)
        var l = layer
        l.annotations = ["buildkit/createdat": Timestamp.rfc3339(time), "containerd.io/uncompressed": layer.digest.description]
        let m = ImageManifest(config: config, layers: [l])
        try await client.putManifest(try m.encoded(), mediaType: MediaType.ociManifest, to: ref)
    }

    @Test func pruneDeletesOldCachesOnlyAndKeepsImages() async throws {
        let (registry, dir, base) = try await RoundTripTests.rig()
        defer { registry.stop() }
        let repo = "\(registry.host)/cache/prune"
        let now = Int64(Date().timeIntervalSince1970)
        try await withTestClient { client in
            try await Self.pushCache(client, repo: repo, tag: "old", time: now - 90 * 86400)
            try await Self.pushCache(client, repo: repo, tag: "older", time: now - 400 * 86400)
            try await Self.pushCache(client, repo: repo, tag: "fresh", time: now - 3600)
            _ = try await ImageCopy(source: try Reference(parsing: base), destination: try Reference(parsing: "\(repo):an-image")).run(with: client)
        }
        _ = dir
        let repoRef = try Reference(parsing: repo)
        try await withTestClient { client in
            let prune = CachePrune(client: client)
            let byAge = try await prune.plan(repoRef, olderThan: 30 * 86400, keep: nil, now: now)
            #expect(byAge.delete.flatMap(\.tags).sorted() == ["old", "older"] && byAge.keep.flatMap(\.tags) == ["fresh"])
            #expect(byAge.skipped.map(\.tag) == ["an-image"] && byAge.skipped.first?.reason == "not a build cache")
            let byCount = try await prune.plan(repoRef, olderThan: nil, keep: 2, now: now)
            #expect(byCount.delete.flatMap(\.tags) == ["older"])
            let both = try await prune.plan(repoRef, olderThan: 200 * 86400, keep: 1, now: now)
            #expect(both.delete.flatMap(\.tags) == ["older"])
            // Deleting: what was chosen goes, the rest (and the image) stays.
            let deleted = try await prune.run(byAge, in: repoRef)
            #expect(deleted.count == 2 && deleted.allSatisfy { $0.bytes > 0 })
            let left = try await client.tags(repoRef).sorted()
            let remaining = try await left.asyncFilter { tag in (try? await client.manifest(try repoRef.withTag(tag))) != nil }
            #expect(remaining == ["an-image", "fresh"], "\(left)")
        }
    }

    @Test func aRegistryThatRefusesDeleteIsNamed() async throws {
        let registry = try await TestRegistry(deleteEnabled: false)
        defer { registry.stop() }
        let repo = "\(registry.host)/cache/nodelete"
        let now = Int64(Date().timeIntervalSince1970)
        try await withTestClient { client in
            try await Self.pushCache(client, repo: repo, tag: "old", time: now - 90 * 86400)
            let prune = CachePrune(client: client)
            let ref = try Reference(parsing: repo)
            let plan = try await prune.plan(ref, olderThan: 86400, keep: nil, now: now)
            do {
                _ = try await prune.run(plan, in: ref)
                Issue.record("the delete went through")
            } catch {
                #expect("\(error)".contains("\(registry.host) refuses to delete manifests (HTTP 405)") && "\(error)".contains("nothing was deleted"), "\(error)")
            }
        }
    }
}

extension Array where Element: Sendable {
    /// The elements for which `keep` is true, in order.
    func asyncFilter(_ keep: (Element) async throws -> Bool) async rethrows -> [Element] {
        var out: [Element] = []
        for e in self where try await keep(e) { out.append(e) }
        return out
    }
}
