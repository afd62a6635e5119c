import Foundation
import KilnArchive
import KilnCache
import KilnDockerfile
import KilnOCI
import KilnRegistry
import KilnSolver
import KilnStore
import KilnTestSupport
import KilnWorker
import Testing
import KilnProgress

/// Our exports round-trip through our importer in every layout: a fresh state directory that
/// imports the cache has every step of the build as a hit, and fetches no layer for it.
@Suite(.serialized) struct RoundTripTests {
    static let dockerfile = """
    ARG BASE
    FROM ${BASE} AS build
    COPY a.txt /a.txt
    RUN cat /a.txt > /b.txt
    FROM ${BASE}
    COPY --from=build /b.txt /c.txt
    """

    static func pushBase(_ client: RegistryClient, host: String, dir: TemporaryDirectory) async throws -> String {
        let rootfs = dir.file("rootfs")
        try FileManager.default.createDirectory(atPath: rootfs + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: rootfs + "/bin/busybox")
        for a in ["sh", "cat"] { symlink("busybox", rootfs + "/bin/" + a) }
        return try await TestImage.push(rootfs: rootfs, to: "\(host)/base/bb:1", client: client, scratch: dir.path)
    }

    static func graph(_ client: RegistryClient, store: ContentStore, base: String, context: String,
                      dockerfile: String = dockerfile) async throws -> BuildGraph {
        let resolver = ImageResolver(client: client, store: store)
        let plan = try await BuildPlanner(options: PlanOptions(buildArgs: ["BASE": base])).plan(try DockerfileParser().parse(dockerfile)) { ref, p in
            try await resolver.resolve(ref, platform: p).config
        }
        return try GraphBuilder(contextDirectory: context).build(plan, images: await resolver.resolved)
    }

    @Test(arguments: ["mode=max", "mode=max,image-manifest=false", "mode=max,oci-mediatypes=false", "mode=min", "mode=max,compression=zstd"])
    func exportThenImportIsAFullHit(_ opts: String) async throws {
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.file("ctx"), withIntermediateDirectories: true)
        try "round trip\n".write(toFile: dir.file("ctx/a.txt"), atomically: true, encoding: .utf8)
        var rc = RegistryConfiguration()
        rc.certsDirectory = nil
        let cacheRef = try Reference(parsing: "\(registry.host)/cache/app:rt")
        guard case .registry(_, let options) = try CacheSpec.export("type=registry,ref=\(cacheRef),\(opts)") else {
            Issue.record("spec"); return
        }
        try await RegistryClient.withClient(configuration: rc, credentials: AnonymousCredentials()) { client in
            let base = try await Self.pushBase(client, host: registry.host, dir: dir)
            // Cold build and export.
            let store = try ContentStore(root: dir.file("one"))
            let g = try await Self.graph(client, store: store, base: base, context: dir.file("ctx"))
            let materializer = Materializer(store: store, client: client)
            let worker = Worker(store: store, materializer: materializer, contextDirectory: dir.file("ctx"), ignore: DockerIgnore())
            let cold = try await Solver(graph: g, store: store, executor: worker, printer: QuietPrinter()).solve()
            let desc = try await RegistryCacheExporter(client: client, store: store, materializer: materializer)
                .export(graph: g, to: cacheRef, options: options)
            #expect(try await client.manifest(cacheRef).digest == desc.digest)

            // A fresh state directory imports it: the target hits without running or downloading.
            let fresh = try ContentStore(root: dir.file("two"))
            let g2 = try await Self.graph(client, store: fresh, base: base, context: dir.file("ctx"))
            let cache = try await RegistryCacheImporter(client: client).load(cacheRef)
            let seeded = try await RegistryCacheImporter.seed(cache, graph: g2, store: fresh)
            let downloadedBefore = client.counters.downloadedBytes
            let solver = Solver(graph: g2, store: fresh, executor: Worker(store: fresh, materializer: Materializer(store: fresh, client: client),
                                                                           contextDirectory: dir.file("ctx"), ignore: DockerIgnore()),
                                printer: QuietPrinter())
            let warm = try await solver.solve()
            #expect(!seeded.isEmpty)
            #expect(await solver.outcomes.values.allSatisfy { $0 == .cached })
            #expect(client.counters.downloadedBytes == downloadedBefore, "a hit downloaded layer bytes")
            #expect(warm.map(\.diffID) == cold.map(\.diffID))
        }
    }
}
