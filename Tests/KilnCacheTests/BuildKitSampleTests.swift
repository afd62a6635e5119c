import Foundation
import KilnCache
import KilnOCI
import Testing

/// Every cache BuildKit wrote in `shared/reference/buildkit-samples` parses, passes the checks
/// BuildKit's importer makes, and its graph rebuilds: every result's chain resolves to blobs the
/// sample's manifest or index lists, with their uncompressed digests.
@Suite struct BuildKitSampleTests {
    static let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/reference/buildkit-samples")

    static var configs: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: samples.path)) ?? []).filter { $0.hasSuffix(".cacheconfig.json") }.sorted()
    }

    @Test func samplesExist() { #expect(Self.configs.count >= 10) }

    @Test(arguments: configs)
    func parsesAndRebuildsTheGraph(_ name: String) throws {
        let config = try CacheConfig.decode(try Data(contentsOf: Self.samples.appendingPathComponent(name)))
        #expect(!config.records.isEmpty && !config.layers.isEmpty)
        // The sample's manifest (or index) names the blobs the layers table uses.
        let stem = name.replacingOccurrences(of: ".cacheconfig.json", with: "")
        var listed: [Digest: Descriptor] = [:]
        for suffix in [".manifest.json", ".index.json"] {
            guard let data = FileManager.default.contents(atPath: Self.samples.appendingPathComponent(stem + suffix).path) else { continue }
            switch try ManifestDocument.decode(data, contentType: nil) {
            case .manifest(let m): for l in m.layers { listed[l.digest] = l }
            case .index(let i): for d in i.manifests where d.mediaType != MediaType.buildkitCacheConfig { listed[d.digest] = d }
            }
        }
        #expect(!listed.isEmpty, "no manifest or index beside \(name)")
        var results = 0
        for record in config.records {
            for r in record.layers ?? [] {
                let chain = try #require(config.chain(r.layer), "\(name): result chain loops")
                for i in chain {
                    let blob = config.layers[i].blob
                    let d = try #require(listed[blob], "\(name): \(blob) is not in the manifest")
                    #expect(d.annotations?["containerd.io/uncompressed"] != nil)
                }
                results += 1
            }
            for input in record.inputs ?? [] { #expect(!input.isEmpty) }
        }
        #expect(results > 0)
        // Re-encoding keeps the graph.
        let again = try CacheConfig.decode(try JSONEncoder().encode(config))
        #expect(again == config)
    }

    @Test func brokenConfigsAreRefusedAsBuildKitWould() {
        let blob = "sha256:" + String(repeating: "a", count: 64)
        #expect(throws: CacheImportError.self) {
            try CacheConfig.decode(Data(#"{"layers":[{"blob":"\#(blob)","parent":5}],"records":[]}"#.utf8))
        }
        #expect(throws: CacheImportError.self) {
            try CacheConfig.decode(Data(#"{"layers":[],"records":[{"digest":"\#(blob)","inputs":[[]]}]}"#.utf8))
        }
        #expect(throws: CacheImportError.self) {
            try CacheConfig.decode(Data(#"{"layers":[],"records":[{"digest":"\#(blob)","inputs":[[{"link":0}]]}]}"#.utf8))
        }
        #expect(throws: CacheImportError.self) { try CacheConfig.decode(Data(repeating: 0x20, count: (1 << 20) + 1)) }
    }
}
