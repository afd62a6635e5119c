import Foundation
import KilnArchive
import KilnDockerfile
import KilnOCI
import KilnSolver
import KilnStore
import KilnSystem

/// An image read from an OCI image layout directory (`--build-context NAME=oci-layout://PATH`):
/// `index.json`, then the manifest (by `@DIGEST`, by `:TAG` as its
/// `org.opencontainers.image.ref.name`, or the only one), the platform's manifest of an index,
/// the config — every document checked against its digest — and its layer blobs copied into
/// the content store, verified as they stream in.
struct OCILayoutImage {
    let store: ContentStore

    /// The largest document (index, manifest, config) read from a layout.
    static let documentLimit = 4 << 20

    /// Resolves `spec` (`PATH[:TAG|@sha256:…]`, the part after `oci-layout://`) for `platform`.
    func resolve(_ spec: String, reference: String, platform: Platform) async throws -> ResolvedImage {
        let (path, selector) = NamedContext.layoutParts(spec)
        let layout = RootedDirectory(path)
        let index = try ImageIndex.decode(try document(layout, "index.json", what: "index.json", in: path))
        var top = try pick(index, selector: selector, path: path)
        var data = try blob(top.digest, layout: layout, path: path)
        if case .index(let nested) = try ManifestDocument.decode(data, contentType: top.mediaType) {
            guard let d = nested.manifest(for: platform) else { throw BuildError("oci-layout://\(spec): no manifest for \(platform)") }
            top = d
            data = try blob(d.digest, layout: layout, path: path)
        }
        let manifest = try ImageManifest.decode(data, mediaType: top.mediaType)
        let config = try ImageConfig.decode(try blob(manifest.config.digest, layout: layout, path: path))
        guard config.diffIDs.count == manifest.layers.count else {
            throw BuildError("oci-layout://\(spec): config lists \(config.diffIDs.count) diff_ids for \(manifest.layers.count) layers")
        }
        for (layer, diffID) in zip(manifest.layers, config.diffIDs) where !store.contains(layer.digest) {
            try await importBlob(layer, diffID: diffID, layout: layout, path: path)
        }
        try await store.hold(manifest.layers.map(\.digest))
        return ResolvedImage(reference: reference, manifestDigest: top.digest, config: config, platform: platform, layers: manifest.layers)
    }

    private func pick(_ index: ImageIndex, selector: String?, path: String) throws -> Descriptor {
        let refName = "org.opencontainers.image.ref.name"
        if let s = selector, s.hasPrefix("sha256:") {
            if let d = index.manifests.first(where: { $0.digest.description == s }) { return d }
            // A digest not listed in index.json may still be a blob of the layout.
            return Descriptor(mediaType: MediaType.ociManifest, digest: try Digest(parsing: s), size: 0)
        }
        if let s = selector {
            guard let d = index.manifests.first(where: { $0.annotations?[refName] == s }) else {
                throw BuildError("oci-layout://\(path): no image tagged \(s) in index.json")
            }
            return d
        }
        guard index.manifests.count == 1, let only = index.manifests.first else {
            throw BuildError("oci-layout://\(path): index.json lists \(index.manifests.count) images; name one with :TAG or @DIGEST")
        }
        return only
    }

    private func document(_ layout: RootedDirectory, _ rel: String, what: String, in path: String) throws -> Data {
        guard let bytes = try layout.readFile(rel, limit: Self.documentLimit) else { throw BuildError("oci-layout://\(path): no \(what)") }
        return Data(bytes)
    }

    /// A document blob, checked against its digest.
    private func blob(_ digest: Digest, layout: RootedDirectory, path: String) throws -> Data {
        let data = try document(layout, "blobs/\(digest.algorithm.rawValue)/\(digest.encoded)", what: "blob \(digest)", in: path)
        guard Digest.of(data, algorithm: digest.algorithm) == digest else { throw BuildError("oci-layout://\(path): blob \(digest) does not match its digest") }
        return data
    }

    /// Streams a layer blob into the store; the store keeps it only if it hashes to its digest.
    private func importBlob(_ layer: Descriptor, diffID: Digest, layout: RootedDirectory, path: String) async throws {
        let rel = "blobs/\(layer.digest.algorithm.rawValue)/\(layer.digest.encoded)"
        do {
            try await store.ingest(expected: layer.digest, mediaType: layer.mediaType) { sink in
                _ = try FileSource(adopting: try layout.open(rel, flags: O_RDONLY), path: path + "/" + rel).copy(to: sink)
            }
        } catch let e as StoreError {
            throw BuildError("oci-layout://\(path): layer \(layer.digest): \(e)")
        }
        try await store.commitMetadata(layer.digest, diffID: diffID)
    }
}
