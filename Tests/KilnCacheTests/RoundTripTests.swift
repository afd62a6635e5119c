import Foundation
import KilnArchive
import KilnCache
import KilnDockerfile
import KilnOCI
import KilnRegistry
import KilnSolver
import KilnStore
import KilnTestSupport
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

    /// A registry with busybox and a context for ``dockerfile``.
    static func rig() async throws -> (TestRegistry, TemporaryDirectory, String) {
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.file("ctx"), withIntermediateDirectories: true)
        try "round trip\n".write(toFile: dir.file("ctx/a.txt"), atomically: true, encoding: .utf8)
        let base = try await withTestClient { try await TestImage.busybox(host: registry.host, client: $0, scratch: dir.path) }
        return (registry, dir, base)
    }

    @Test(arguments: ["mode=max", "mode=max,image-manifest=false", "mode=max,oci-mediatypes=false", "mode=min", "mode=max,compression=zstd"])
    func exportThenImportIsAFullHit(_ opts: String) async throws {
        let (registry, dir, base) = try await Self.rig()
        let cacheRef = try Reference(parsing: "\(registry.host)/cache/app:rt")
        let export = try CacheSpec.export("type=registry,ref=\(cacheRef),\(opts)")
        let cold = try await TestBuild.run(Self.dockerfile, context: dir.file("ctx"), root: dir.file("one"), buildArgs: ["BASE": base]) {
            $0.cacheExports = [export]
        }
        let exported = try #require(cold.result.cacheManifests.first)
        #expect(try await withTestClient { try await $0.manifest(cacheRef).digest } == exported.digest)

        // A fresh state directory imports it: every step hits without running or downloading a layer.
        let warm = try await TestBuild.run(Self.dockerfile, context: dir.file("ctx"), root: dir.file("two"), buildArgs: ["BASE": base]) {
            $0.cacheImports = [.registry(cacheRef)]
        }
        #expect(!warm.result.steps.isEmpty && warm.result.steps.values.allSatisfy { $0 == .cached }, "\(warm.result.steps)")
        #expect(warm.downloadedBytes < 10_000, "a hit downloaded \(warm.downloadedBytes) bytes (only the base and cache configs may be read)")
        #expect(warm.chain.map(\.diffID) == cold.chain.map(\.diffID))
    }
}
