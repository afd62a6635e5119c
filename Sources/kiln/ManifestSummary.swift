import Foundation
import KilnOCI
import KilnRegistry

/// The human-readable form of `imagetools inspect`.
enum ManifestSummary {
    static func render(_ top: RegistryClient.FetchedManifest, ref: Reference, client: RegistryClient) async throws -> String {
        var out = ""
        func line(_ key: String, _ value: String) { out += key.padding(toLength: 11, withPad: " ", startingAt: 0) + value + "\n" }
        line("Name:", ref.description)
        line("MediaType:", top.mediaType)
        line("Digest:", top.digest.description)
        line("Size:", ByteFormat.human(Int64(top.data.count)))
        switch try top.document() {
        case .index(let index):
            out += "\nManifests:\n"
            for m in index.manifests {
                out += "  \(m.digest)  \(m.platform?.description ?? "-")  \(m.mediaType)  \(ByteFormat.human(m.size))\n"
            }
        case .manifest(let manifest):
            out += "\n"
            line("Config:", "\(manifest.config.digest) (\(manifest.config.mediaType), \(ByteFormat.human(manifest.config.size)))")
            if MediaType.isImageConfig(manifest.config.mediaType), manifest.config.size <= 8 << 20 {
                let config = try ImageConfig.decode(try await client.blobData(manifest.config, from: ref))
                line("Platform:", config.platform.description)
                if let created = config.created { line("Created:", created) }
            }
            out += "Layers:\n"
            var total: Int64 = 0
            for l in manifest.layers {
                total += l.size
                out += "  \(l.digest)  \(l.mediaType)  \(ByteFormat.human(l.size))\n"
            }
            line("Total:", "\(ByteFormat.human(total)) in \(manifest.layers.count) layer\(manifest.layers.count == 1 ? "" : "s")")
        }
        return out
    }
}

/// Sizes for people.
enum ByteFormat {
    static func human(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(bytes)
        var i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(bytes) B" : String(format: "%.1f %@", v, units[i])
    }
}
