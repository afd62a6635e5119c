import Foundation
import KilnCache
import KilnOCI
import KilnRegistry
import KilnStore
import KilnTestSupport
import KilnBuild
import KilnExport
import Synchronization
import Testing

/// Cache configs stay under BuildKit's 1 MiB import limit: redundant key-only records go first,
/// then a mode=max export falls back to the final result's layers with a warning, and a config
/// that still does not fit is an error.
@Suite struct ConfigLimitTests {
    static func config(_ json: String) throws -> CacheConfig { try CacheConfig.decode(Data(json.utf8)) }

    @Test func redundantKeyOnlyRecordsAreDroppedAndLinksRenumbered() throws {
        let blob = "sha256:" + String(repeating: "a", count: 64)
        func d(_ c: Character) -> String { "\"sha256:" + String(repeating: c, count: 64) + "\"" }
        let json = """
        {"layers":[{"blob":"\(blob)","parent":-1}],"records":[
          {"digest":\(d("0"))},
          {"digest":\(d("1")),"inputs":[[{"link":0}]],"layers":[{"layer":0,"createdAt":"2026-01-01T00:00:00Z"}]},
          {"digest":\(d("2")),"inputs":[[{"link":1}]]},
          {"digest":\(d("3"))},
          {"digest":\(d("0"))},
          {"digest":\(d("5")),"inputs":[[{"link":4}]],"layers":[{"layer":0,"createdAt":"2026-01-01T00:00:00Z"}]},
          {"digest":\(d("6")),"inputs":[[{"link":7,"selector":"sel"}]],"layers":[{"layer":0,"createdAt":"2026-01-01T00:00:00Z"}]},
          {"digest":\(d("7"))}
        ]}
        """
        let original = try Self.config(json)
        let (pruned, dropped) = original.droppingRedundantKeys()
        // Record 2 (leads to no result), 3 (linked by nothing) and 4 (a duplicate of 0) go.
        #expect(dropped == 3)
        #expect(pruned.records.count == 5)
        let reparsed = try CacheConfig.decode(try CanonicalJSON.encode(pruned))
        #expect(reparsed == pruned)
        func inputDigests(_ c: Character) throws -> [String] {
            let r = try #require(pruned.records.first { $0.digest.description.hasSuffix(String(repeating: c, count: 64)) })
            return (r.inputs ?? []).flatMap { $0.map { pruned.records[$0.link].digest.description + ($0.selector.map { "@" + $0 } ?? "") } }
        }
        let zero = "sha256:" + String(repeating: "0", count: 64)
        #expect(try inputDigests("1") == [zero])
        #expect(try inputDigests("5") == [zero])
        #expect(try inputDigests("6") == ["sha256:" + String(repeating: "7", count: 64) + "@sel"])
        #expect(pruned.records.filter { !($0.layers ?? []).isEmpty }.count == 3)
        // Nothing to drop: the same config.
        #expect(pruned.droppingRedundantKeys().dropped == 0)
    }

    @Test func aModeMaxConfigOverTheLimitFallsBackToTheFinalResultWithAWarning() async throws {
        // Two stages: mode=min leaves out the build stage's layers.
        let (registry, dir, base) = try await RoundTripTests.rig()
        let cold = try await TestBuild.run(RoundTripTests.dockerfile, context: dir.file("ctx"), root: dir.file("cold"), buildArgs: ["BASE": base])
        let cacheRef = try Reference(parsing: "\(registry.host)/cache/app:limit")
        guard case .registry(_, let max) = try CacheSpec.export("type=registry,ref=\(cacheRef),mode=max"),
              case .registry(_, let min) = try CacheSpec.export("type=registry,ref=\(cacheRef),mode=min")
        else { Issue.record("spec"); return }
        let graph = cold.prepared.graph
        try await withTestClient { client in
            let store = try ContentStore(root: dir.file("cold"))
            let warnings = Mutex<[String]>([])
            let exporter = RegistryCacheExporter(context: ExportContext(client: client, fetcher: RegistryBlobFetcher(store: store, client: client))) { w in
                warnings.withLock { $0.append(w) }
            }
            let full = try await exporter.prepare(graph: graph, options: max)
            let minimal = try await exporter.prepare(graph: graph, options: min)
            #expect(full.config.count > minimal.config.count)
            #expect(warnings.withLock { $0 }.isEmpty)

            // First the --explain facts go, then the layers of steps outside the final result.
            func withoutFacts(_ data: Data) throws -> Data {
                var config = try CacheConfig.decode(data)
                #expect(config.steps?.isEmpty == false)
                config.steps = nil
                return try CanonicalJSON.encode(config)
            }
            let fullBare = try withoutFacts(full.config)
            let bare = try await exporter.prepare(graph: graph, options: max, limit: fullBare.count)
            #expect(bare.config == fullBare)
            #expect(warnings.withLock { $0 }.count == 1)
            #expect(warnings.withLock { $0 }.first?.contains("without the step facts") == true)

            let minimalBare = try withoutFacts(minimal.config)
            warnings.withLock { $0 = [] }
            let fitted = try await exporter.prepare(graph: graph, options: max, limit: minimalBare.count)
            #expect(fitted.config == minimalBare)
            #expect(fitted.layers.map(\.digest) == minimal.layers.map(\.digest))
            #expect(warnings.withLock { $0 }.count == 2)
            #expect(warnings.withLock { $0 }.last?.contains("mode=min") == true)

            await #expect(throws: CacheImportError.self) {
                _ = try await exporter.prepare(graph: graph, options: max, limit: minimalBare.count - 1)
            }
        }
    }
}
