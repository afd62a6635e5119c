import Foundation
import KilnArchive
import KilnOCI
import KilnRegistry

/// One-layer base images made from a directory, for tests that build on a base.
public enum TestImage {
    /// Packs `rootfs` as a gzip layer (in `scratch`, a writable directory) and pushes it with
    /// an OCI config carrying `env` to `ref`; returns `ref` as text.
    @discardableResult
    public static func push(rootfs: String, to ref: String, client: RegistryClient, scratch: String,
                            env: [String] = []) async throws -> String {
        let reference = try Reference(parsing: ref)
        let blobPath = scratch + "/" + UUID().uuidString + ".tgz"
        defer { try? FileManager.default.removeItem(atPath: blobPath) }
        let writer = try LayerWriter(path: blobPath, compression: .gzipDefault)
        try LayerPacker().pack(directory: rootfs, into: writer.tar)
        let blob = try writer.finish()
        let layer = Descriptor(mediaType: MediaType.ociLayerGzip, digest: blob.digest, size: blob.size)
        try await client.pushBlob(layer, fromFile: blobPath, to: reference)
        var config = ImageConfig()
        config.diffIDs = [blob.diffID]
        if !env.isEmpty {
            var rt = config.runtime
            rt.env = env
            config.runtime = rt
        }
        let configDesc = try await client.pushBlob(try config.encoded(), mediaType: MediaType.ociConfig, to: reference)
        try await client.putManifest(try ImageManifest(config: configDesc, layers: [layer]).encoded(), mediaType: MediaType.ociManifest, to: reference)
        return reference.description
    }
}
