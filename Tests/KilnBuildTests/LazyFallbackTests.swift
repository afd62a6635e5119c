import Foundation
import KilnBuild
import KilnCache
import KilnExport
import KilnOCI
import KilnRegistry
import KilnSolver
import KilnStore
import KilnSystem
import KilnTestSupport
import Testing

/// Lazy hits whose blobs turn out unfetchable run their steps again instead of failing the
/// build, several cache sources give the newest result, and concurrent exports upload a blob
/// once. The cache sits behind a fault-injecting proxy in front of the real registry.
@Suite(.serialized) struct LazyFallbackTests {
    static let dockerfile = """
    ARG BASE
    FROM ${BASE}
    COPY a.txt /a.txt
    RUN cat /a.txt > /b.txt
    RUN cat /b.txt > /c.txt
    """

    /// A cold build exported (mode=max) to a cache reached through `proxy`.
    struct Rig {
        let registry: TestRegistry
        let proxy: FaultProxy
        let dir: TemporaryDirectory
        let base: String
        let cacheRef: Reference
        let cold: TestBuild.Outcome
        var coldRoot: String { dir.file("cold") }

        /// The layer the step ending in `suffix` added in the cold build.
        func layer(_ suffix: String) async throws -> CachedLayer {
            let v = try #require(cold.prepared.graph.vertices.first { $0.name.hasSuffix(suffix) })
            return try #require(try await ContentStore(root: coldRoot).cachedResult(v.key.id)?.last)
        }

        /// A build of `dockerfile` on a fresh root importing the cache.
        func warm(_ dockerfile: String, outputs: [BuildOutput] = [], base: String? = nil) async throws -> TestBuild.Outcome {
            try await TestBuild.run(dockerfile, context: dir.file("ctx"), root: dir.file("warm-" + UUID().uuidString),
                                    buildArgs: ["BASE": base ?? self.base]) {
                $0.cacheImports = [.registry(cacheRef)]
                $0.outputs = outputs
            }
        }
    }

    static func withRig(dockerfile: String = dockerfile, _ body: (Rig) async throws -> Void) async throws {
        let registry = try await TestRegistry()
        let proxy = try await FaultProxy(upstream: registry.host)
        let dir = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.file("ctx"), withIntermediateDirectories: true)
        try "lazy\n".write(toFile: dir.file("ctx/a.txt"), atomically: true, encoding: .utf8)
        let cacheRef = try Reference(parsing: "\(proxy.host)/cache/app:lazy")
        let base = try await withTestClient { try await TestImage.busybox(host: registry.host, client: $0, scratch: dir.path) }
        let export = try CacheSpec.export("type=registry,ref=\(cacheRef),mode=max")
        let cold = try await TestBuild.run(dockerfile, context: dir.file("ctx"), root: dir.file("cold"), buildArgs: ["BASE": base]) {
            $0.cacheExports = [export]
        }
        try await body(Rig(registry: registry, proxy: proxy, dir: dir, base: base, cacheRef: cacheRef, cold: cold))
        await proxy.stop()
    }

    @Test func anUnfetchableLayerRunsItsStepAgain() async throws {
        try await Self.withRig { rig in
            let bLayer = try await rig.layer("cat /a.txt > /b.txt")
            rig.proxy.inject(.requests("GET", containing: bLayer.digest.encoded, times: 100, fault: .status(404)))
            // A changed last step needs the cached chain of the step before it on disk.
            let warm = try await rig.warm(Self.dockerfile.replacingOccurrences(of: "/c.txt", with: "/d.txt"))
            let steps = warm.result.steps
            #expect(steps.first { $0.key.hasSuffix("cat /a.txt > /b.txt") }?.value == .executed)
            #expect(steps.first { $0.key.hasSuffix("cat /b.txt > /d.txt") }?.value == .executed)
            #expect(steps.first { $0.key.hasSuffix("COPY a.txt /a.txt") }?.value == .cached)
            #expect(warm.chain.count == 4)
            #expect(warm.result.warnings.contains { $0.contains(bLayer.digest.description) })
            #expect(rig.proxy.log.contains { $0.status == 404 && $0.uri.contains(bLayer.digest.encoded) })
        }
    }

    @Test func twoStepsMeetingTheSameUnfetchableLayerBothRecover() async throws {
        let twoStages = """
        ARG BASE
        FROM ${BASE} AS common
        COPY a.txt /a.txt
        RUN cat /a.txt > /b.txt
        FROM common AS x
        RUN cat /b.txt > /x.txt
        FROM common AS y
        RUN cat /b.txt > /y.txt
        FROM ${BASE}
        COPY --from=x /x.txt /x.txt
        COPY --from=y /y.txt /y.txt
        """
        try await Self.withRig(dockerfile: twoStages) { rig in
            let bLayer = try await rig.layer("cat /a.txt > /b.txt")
            rig.proxy.inject(.requests("GET", containing: bLayer.digest.encoded, times: 100, fault: .status(404)))
            // Both stages change, and both need the common stage's cached chain at once.
            let changed = twoStages.replacingOccurrences(of: "> /x.txt", with: "> /x.txt; echo 1 >> /x.txt")
                .replacingOccurrences(of: "> /y.txt", with: "> /y.txt; echo 2 >> /y.txt")
            let warm = try await rig.warm(changed)
            #expect(warm.result.steps.first { $0.key.hasSuffix("cat /a.txt > /b.txt") }?.value == .executed)
            #expect(warm.result.warnings.filter { $0.contains(bLayer.digest.description) }.count == 1)
        }
    }

    @Test func anExportThatCannotFetchALayerRebuildsItAndSucceeds() async throws {
        try await Self.withRig { rig in
            let cLayer = try await rig.layer("cat /b.txt > /c.txt")
            rig.proxy.inject(.requests("GET", containing: cLayer.digest.encoded, times: 100, fault: .status(404)))
            // Fully cached, but the tar output needs the last layer's bytes: its step runs again.
            let tar = rig.dir.file("out.tar")
            let warm = try await rig.warm(Self.dockerfile, outputs: [.tar(dest: tar)])
            #expect(warm.result.steps.first { $0.key.hasSuffix("cat /b.txt > /c.txt") }?.value == .executed)
            #expect(warm.result.steps.first { $0.key.hasSuffix("COPY a.txt /a.txt") }?.value == .cached)
            #expect(warm.chain.map(\.diffID).dropLast() == rig.cold.chain.map(\.diffID).dropLast())
            let listing = try await ProcessRunner.run(["tar", "-tf", tar])
            #expect(listing.text.contains("c.txt"))
        }
    }

    @Test func aBaseImageLayerThatCannotBeFetchedFailsTheStep() async throws {
        try await Self.withRig { rig in
            // The base reached through the proxy, which loses its only layer.
            let viaProxy = rig.base.replacingOccurrences(of: rig.registry.host, with: rig.proxy.host)
            let baseLayer = try #require(rig.cold.chain.first)
            rig.proxy.inject(.requests("GET", containing: baseLayer.digest.encoded, times: 100, fault: .status(404)))
            await #expect {
                _ = try await rig.warm(Self.dockerfile.replacingOccurrences(of: "/c.txt", with: "/e.txt"), base: viaProxy)
            } throws: { error in
                "\(error)".contains(baseLayer.digest.description)
            }
        }
    }

    @Test func theNewestResultAcrossSourcesWins() async throws {
        try await Self.withRig { rig in
            let loaded = try await withTestClient { try await RegistryCacheImporter(client: $0).load(rig.cacheRef) }
            func variant(_ name: String, createdAt: String) throws -> ImportedCache {
                var c = loaded
                c.reference = try Reference(parsing: "\(rig.registry.host)/cache/\(name):x")
                c.config.records = c.config.records.map { r in
                    var r = r
                    r.layers = r.layers?.map { res in var res = res; res.createdAt = createdAt; return res }
                    return r
                }
                return c
            }
            let graph = rig.cold.prepared.graph
            let older = try variant("older", createdAt: "2020-01-01T00:00:00Z")
            let newer = try variant("newer", createdAt: "2030-01-01T00:00:00Z")
            let target = try #require(graph.target)
            for (order, expected) in [([older, newer], "newer"), ([newer, older], "newer"), ([older, try variant("tie", createdAt: "2020-01-01T00:00:00Z")], "older")] {
                let store = try ContentStore(root: rig.dir.file("seed-" + UUID().uuidString))
                let seeded = try await RegistryCacheImporter.seed(order, graph: graph, store: store)
                #expect(!seeded.isEmpty)
                let chain = try #require(try await store.cachedResult(target.key.id))
                #expect(chain.last?.source?.hasSuffix("cache/\(expected)") == true, "\(order.map { $0.reference?.name ?? "" })")
            }
            // An earlier import still remote gives way to a newer one; a local result does not.
            let store = try ContentStore(root: rig.dir.file("seed-later"))
            try await RegistryCacheImporter.seed([older], graph: graph, store: store)
            try await RegistryCacheImporter.seed([newer], graph: graph, store: store)
            #expect(try await store.cachedResult(target.key.id)?.last?.source?.hasSuffix("cache/newer") == true)
            let coldStore = try ContentStore(root: rig.coldRoot)
            let builtHere = try await coldStore.cachedResult(target.key.id)
            try await RegistryCacheImporter.seed([newer], graph: graph, store: coldStore)
            #expect(try await coldStore.cachedResult(target.key.id) == builtHere)
        }
    }

    @Test func concurrentPushesOfOneBlobToTwoRepositoriesUploadItOnce() async throws {
        try await Self.withRig { rig in
            // A layer made here, not yet in the registry under either name.
            let store = try ContentStore(root: rig.coldRoot)
            let layer = try #require(rig.cold.chain.last)
            let image = try Reference(parsing: "\(rig.registry.host)/app/image:1")
            let cache = try Reference(parsing: "\(rig.registry.host)/app/cache:1")
            try await withTestClient { client in
                let context = ExportContext(client: client, fetcher: RegistryBlobFetcher(store: store, client: client))
                let before = client.counters.uploadedBytes
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for ref in [image, cache] { group.addTask { try await LayerPusher(context: context).push([layer], to: ref) } }
                    try await group.waitForAll()
                }
                #expect(client.counters.uploadedBytes - before == layer.size)
                #expect(try await client.blobSize(layer.digest, in: image) == layer.size)
                #expect(try await client.blobSize(layer.digest, in: cache) == layer.size)
            }
        }
    }

    @Test func aCancelledFetchStopsItsDownloadAndLeavesNothing() async throws {
        try await Self.withRig { rig in
            var remote = try await rig.layer("cat /a.txt > /b.txt")
            remote.source = "\(rig.proxy.host)/cache/app"
            let layer = remote
            rig.proxy.inject(.requests("GET", containing: layer.digest.encoded, times: 100, fault: .stallResponse(afterBytes: 10)))
            let store = try ContentStore(root: rig.dir.file("cancelled"))
            defer { store.claim.release() }
            try await withTestClient { client in
                let fetcher = RegistryBlobFetcher(store: store, client: client)
                let fetch = Task { try await fetcher.fetch(layer, report: nil) }
                while !rig.proxy.log.contains(where: { $0.fault?.hasPrefix("stall") == true }) {
                    try await Task.sleep(for: .milliseconds(20))
                }
                fetch.cancel()
                let outcome = await fetch.result
                #expect(throws: CancellationError.self) { try outcome.get() }
                #expect(!store.contains(layer.digest))
                #expect(try HostFiles.list(store.claim.ingest).isEmpty)
            }
        }
    }
}
