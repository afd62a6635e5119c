import Foundation
import KilnCache
import KilnDockerfile
import KilnExport
import KilnOCI
import KilnRegistry
import KilnSolver
import KilnStore
import KilnTestSupport
import KilnWorker
import Synchronization
import Testing
import KilnProgress

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

    /// Warnings a build printed.
    final class Warnings: ProgressPrinter, Sendable {
        let list = Mutex<[String]>([])
        func handle(_ event: ProgressEvent) async {
            if case .warning(_, let short, _) = event { list.withLock { $0.append(short) } }
        }
        func finish() async {}
    }

    /// A cold build exported (mode=max) to a cache reached through `proxy`.
    struct Rig {
        let registry: TestRegistry
        let proxy: FaultProxy
        let dir: TemporaryDirectory
        let base: String
        let cacheRef: Reference
        let cold: BuildGraph
        let coldStore: ContentStore
    }

    static func withRig(dockerfile: String = dockerfile, _ body: (Rig, RegistryClient) async throws -> Void) async throws {
        let registry = try await TestRegistry()
        let proxy = try await FaultProxy(upstream: registry.host)
        let dir = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.file("ctx"), withIntermediateDirectories: true)
        try "lazy\n".write(toFile: dir.file("ctx/a.txt"), atomically: true, encoding: .utf8)
        var rc = RegistryConfiguration()
        rc.certsDirectory = nil
        let cacheRef = try Reference(parsing: "\(proxy.host)/cache/app:lazy")
        try await RegistryClient.withClient(configuration: rc, credentials: AnonymousCredentials()) { client in
            let base = try await RoundTripTests.pushBase(client, host: registry.host, dir: dir)
            let store = try ContentStore(root: dir.file("cold"))
            let g = try await RoundTripTests.graph(client, store: store, base: base, context: dir.file("ctx"), dockerfile: dockerfile)
            let materializer = Materializer(store: store, client: client)
            let worker = Worker(store: store, materializer: materializer, contextDirectory: dir.file("ctx"), ignore: DockerIgnore())
            _ = try await Solver(graph: g, store: store, executor: worker, printer: QuietPrinter()).solve()
            guard case .registry(_, let options) = try CacheSpec.export("type=registry,ref=\(cacheRef),mode=max") else { return }
            _ = try await RegistryCacheExporter(client: client, store: store, materializer: materializer).export(graph: g, to: cacheRef, options: options)
            try await body(Rig(registry: registry, proxy: proxy, dir: dir, base: base, cacheRef: cacheRef, cold: g, coldStore: store), client)
        }
        await proxy.stop()
    }

    static func vertex(_ g: BuildGraph, _ suffix: String) throws -> Vertex {
        try #require(g.vertices.first { $0.name.hasSuffix(suffix) })
    }

    /// A solver on a fresh root that imported the rig's cache, whose registry now answers 404
    /// for `failing`.
    static func warmSolver(_ rig: Rig, _ client: RegistryClient, dockerfile: String, failing: Digest) async throws -> (Solver, BuildGraph, Warnings) {
        let store = try ContentStore(root: rig.dir.file("warm-" + UUID().uuidString))
        let g = try await RoundTripTests.graph(client, store: store, base: rig.base, context: rig.dir.file("ctx"), dockerfile: dockerfile)
        try await RegistryCacheImporter.seed(try await RegistryCacheImporter(client: client).load(rig.cacheRef), graph: g, store: store)
        rig.proxy.inject(.requests("GET", containing: failing.encoded, times: 100, fault: .status(404)))
        let warnings = Warnings()
        let worker = Worker(store: store, materializer: Materializer(store: store, client: client),
                            contextDirectory: rig.dir.file("ctx"), ignore: DockerIgnore())
        return (Solver(graph: g, store: store, executor: worker, printer: warnings), g, warnings)
    }

    @Test func anUnfetchableLayerRunsItsStepAgain() async throws {
        try await Self.withRig { rig, client in
            let bLayer = try #require(try await rig.coldStore.cachedResult(try Self.vertex(rig.cold, "cat /a.txt > /b.txt").key.id)?.last)
            // A changed last step needs the cached chain of the step before it on disk.
            let changed = Self.dockerfile.replacingOccurrences(of: "/c.txt", with: "/d.txt")
            let (solver, g, warnings) = try await Self.warmSolver(rig, client, dockerfile: changed, failing: bLayer.digest)
            let chain = try await solver.solve()
            let outcomes = await solver.outcomes
            #expect(outcomes[try Self.vertex(g, "cat /a.txt > /b.txt").name] == .executed)
            #expect(outcomes[try Self.vertex(g, "cat /b.txt > /d.txt").name] == .executed)
            #expect(outcomes[try Self.vertex(g, "COPY a.txt /a.txt").name] == .cached)
            #expect(chain.count == 4)
            #expect(warnings.list.withLock { $0 }.contains { $0.contains(bLayer.digest.description) })
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
        try await Self.withRig(dockerfile: twoStages) { rig, client in
            let bLayer = try #require(try await rig.coldStore.cachedResult(try Self.vertex(rig.cold, "cat /a.txt > /b.txt").key.id)?.last)
            // Both stages change, and both need the common stage's cached chain at once.
            let changed = twoStages.replacingOccurrences(of: "> /x.txt", with: "> /x.txt; echo 1 >> /x.txt")
                .replacingOccurrences(of: "> /y.txt", with: "> /y.txt; echo 2 >> /y.txt")
            let (solver, g, warnings) = try await Self.warmSolver(rig, client, dockerfile: changed, failing: bLayer.digest)
            _ = try await solver.solve()
            let outcomes = await solver.outcomes
            #expect(outcomes[try Self.vertex(g, "cat /a.txt > /b.txt").name] == .executed)
            #expect(warnings.list.withLock { $0 }.filter { $0.contains(bLayer.digest.description) }.count == 1)
        }
    }

    @Test func anExportThatCannotFetchALayerRebuildsItAndSucceeds() async throws {
        try await Self.withRig { rig, client in
            let store = try ContentStore(root: rig.dir.file("warm"))
            let g = try await RoundTripTests.graph(client, store: store, base: rig.base, context: rig.dir.file("ctx"), dockerfile: Self.dockerfile)
            try await RegistryCacheImporter.seed(try await RegistryCacheImporter(client: client).load(rig.cacheRef), graph: g, store: store)
            let materializer = Materializer(store: store, client: client)
            let worker = Worker(store: store, materializer: materializer, contextDirectory: rig.dir.file("ctx"), ignore: DockerIgnore())
            let solver = Solver(graph: g, store: store, executor: worker, printer: QuietPrinter())
            let chain = try await solver.solve()
            #expect(await solver.outcomes.values.allSatisfy { $0 == .cached })
            let last = try #require(chain.last)
            rig.proxy.inject(.requests("GET", containing: last.digest.encoded, times: 100, fault: .status(404)))
            let files = FileExporters(store: store, materializer: materializer)
            let tar = rig.dir.file("out.tar")
            var failure: (any Error)?
            do { try await files.tar(chain: chain, dest: tar) } catch { failure = error }
            let error = try #require(failure)
            #expect(BlobUnavailable.find(in: error)?.digest == last.digest)
            let rebuilt = try await solver.recover(from: error)
            try await files.tar(chain: rebuilt, dest: tar)
            #expect(await solver.outcomes[try Self.vertex(g, "cat /b.txt > /c.txt").name] == .executed)
            #expect(rebuilt.map(\.diffID).dropLast() == chain.map(\.diffID).dropLast())
            // A base image's own layer cannot be rebuilt: the error stays.
            let baseLayer = try #require(chain.first)
            let unrecoverable = BlobUnavailable(digest: baseLayer.digest, sources: ["x"], reason: "gone")
            await #expect(throws: BlobUnavailable.self) { try await solver.recover(from: unrecoverable) }
        }
    }

    @Test func theNewestResultAcrossSourcesWins() async throws {
        try await Self.withRig { rig, client in
            let loaded = try await RegistryCacheImporter(client: client).load(rig.cacheRef)
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
            let older = try variant("older", createdAt: "2020-01-01T00:00:00Z")
            let newer = try variant("newer", createdAt: "2030-01-01T00:00:00Z")
            let target = try #require(rig.cold.target)
            for (order, expected) in [([older, newer], "newer"), ([newer, older], "newer"), ([older, try variant("tie", createdAt: "2020-01-01T00:00:00Z")], "older")] {
                let store = try ContentStore(root: rig.dir.file("seed-" + UUID().uuidString))
                let seeded = try await RegistryCacheImporter.seed(order, graph: rig.cold, store: store)
                #expect(!seeded.isEmpty)
                let chain = try #require(try await store.cachedResult(target.key.id))
                #expect(chain.last?.source?.hasSuffix("cache/\(expected)") == true, "\(order.map { $0.reference?.name ?? "" })")
            }
            // An earlier import still remote gives way to a newer one; a local result does not.
            let store = try ContentStore(root: rig.dir.file("seed-later"))
            try await RegistryCacheImporter.seed([older], graph: rig.cold, store: store)
            try await RegistryCacheImporter.seed([newer], graph: rig.cold, store: store)
            #expect(try await store.cachedResult(target.key.id)?.last?.source?.hasSuffix("cache/newer") == true)
            let builtHere = try await rig.coldStore.cachedResult(target.key.id)
            try await RegistryCacheImporter.seed([newer], graph: rig.cold, store: rig.coldStore)
            #expect(try await rig.coldStore.cachedResult(target.key.id) == builtHere)
        }
    }

    @Test func concurrentPushesOfOneBlobToTwoRepositoriesUploadItOnce() async throws {
        try await Self.withRig { rig, client in
            // A layer made here, not yet in the registry under either name.
            let store = rig.coldStore
            let target = try #require(rig.cold.target)
            let chain = try #require(try await store.cachedResult(target.key.id))
            let layer = try #require(chain.last)
            let materializer = Materializer(store: store, client: client)
            let coordinator = BlobPushCoordinator()
            let image = try Reference(parsing: "\(rig.registry.host)/app/image:1")
            let cache = try Reference(parsing: "\(rig.registry.host)/app/cache:1")
            let before = client.counters.uploadedBytes
            try await withThrowingTaskGroup(of: Void.self) { group in
                for ref in [image, cache] {
                    group.addTask {
                        try await LayerPusher(client: client, store: store, materializer: materializer, coordinator: coordinator).push([layer], to: ref)
                    }
                }
                try await group.waitForAll()
            }
            #expect(client.counters.uploadedBytes - before == layer.size)
            #expect(try await client.blobSize(layer.digest, in: image) == layer.size)
            #expect(try await client.blobSize(layer.digest, in: cache) == layer.size)
        }
    }
}
