import Foundation
import KilnOCI
import Testing

/// Real documents written by BuildKit and buildah (`shared/reference/buildkit-samples`) decode.
@Suite struct ReferenceSampleTests {
    static let samples: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/reference/buildkit-samples")

    static func files(_ suffixes: [String]) -> [String] {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: samples.path)) ?? []
        return all.filter { f in suffixes.contains { f.hasSuffix($0) } }.sorted()
    }

    @Test func samplesArePresent() {
        #expect(!Self.files([".manifest.json"]).isEmpty, "expected BuildKit samples at \(Self.samples.path)")
    }

    @Test(arguments: files([".manifest.json", ".index.json"]))
    func manifestsAndIndexesDecode(_ name: String) throws {
        let data = try Data(contentsOf: Self.samples.appendingPathComponent(name))
        let doc = try ManifestDocument.decode(data, contentType: nil)
        switch doc {
        case .manifest(let m): #expect(m.schemaVersion == 2)
        case .index(let i): #expect(!i.manifests.isEmpty)
        }
    }

    @Test func baseImageConfigRoundTripsByteStableAfterCanonicalisation() throws {
        let url = Self.samples.appendingPathComponent("base-image_busybox_made-by-buildah.config.json")
        let config = try ImageConfig.decode(try Data(contentsOf: url))
        let once = try config.encoded()
        let twice = try ImageConfig.decode(once).encoded()
        #expect(once == twice)
        #expect(!config.diffIDs.isEmpty)
    }
}
