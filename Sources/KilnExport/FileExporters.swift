import Foundation
import KilnArchive
import KilnOCI
import KilnStore
import KilnWorker

/// Outputs written to the local filesystem: the final tree (`local`), the tree as a tar
/// (`tar`), an OCI image layout tar (`oci`) and a docker-archive tar (`docker`).
public struct FileExporters: Sendable {
    let store: ContentStore
    let materializer: Materializer

    /// Exporters over `store`.
    public init(store: ContentStore, materializer: Materializer) {
        self.store = store
        self.materializer = materializer
    }

    /// Writes the final filesystem into `dest` (created when missing).
    public func local(chain: [CachedLayer], dest: String) async throws {
        for l in chain { try await materializer.ensureVerified(l) }
        try FileManager.default.createDirectory(atPath: dest, withIntermediateDirectories: true)
        let paths = chain.map { store.path(for: $0.digest) }
        try await BlockingIO.run {
            for p in paths {
                try LayerApplier(root: dest).apply(try DetectedCompression.detect(path: p).decompressing(FileSource(path: p)))
            }
        }
    }

    /// Writes the final filesystem as a tar (owners preserved) to `dest` (`-` for stdout).
    public func tar(chain: [CachedLayer], dest: String) async throws {
        let dir = try await materializer.directory(for: chain)
        try await BlockingIO.run {
            let sink: any ByteSink = dest == "-" ? try FileSink(path: "/dev/stdout") : try FileSink(path: dest)
            let writer = TarWriter(sink: sink)
            try LayerPacker().pack(directory: dir, into: writer)
            try writer.finish()
        }
    }

    /// Writes an OCI image layout tar: `oci-layout`, `index.json`, `blobs/sha256/…`.
    public func oci(chain: [CachedLayer], config: Data, names: [String], dest: String) async throws {
        let (_, manifest) = try ImageExporter.manifest(chain: chain, config: config)
        let md = Descriptor(mediaType: MediaType.ociManifest, digest: Digest.of(manifest), size: Int64(manifest.count),
                            annotations: names.first.map { ["org.opencontainers.image.ref.name": Self.tagPart($0)] })
        let index = try ImageIndex(manifests: [md]).encoded()
        try await writeArchive(dest: dest, chain: chain) { w, blob in
            try Self.file(w, "oci-layout", Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
            try Self.file(w, "index.json", index)
            try Self.dir(w, "blobs")
            try Self.dir(w, "blobs/sha256")
            try Self.file(w, "blobs/sha256/" + Digest.of(config).encoded, config)
            try Self.file(w, "blobs/sha256/" + Digest.of(manifest).encoded, manifest)
            for l in chain { try blob("blobs/sha256/" + l.digest.encoded, l) }
        }
    }

    /// Writes a docker-archive tar (`manifest.json`, config, layer blobs) as `docker load` reads it.
    public func docker(chain: [CachedLayer], config: Data, names: [String], dest: String) async throws {
        let configName = Digest.of(config).encoded + ".json"
        struct Entry: Encodable {
            var Config: String
            var RepoTags: [String]
            var Layers: [String]
        }
        let manifest = try JSONEncoder().encode([Entry(Config: configName, RepoTags: names, Layers: chain.map { $0.digest.encoded + ".tar" })])
        try await writeArchive(dest: dest, chain: chain) { w, blob in
            try Self.file(w, configName, config)
            try Self.file(w, "manifest.json", manifest)
            for l in chain { try blob(l.digest.encoded + ".tar", l) }
        }
    }

    private func writeArchive(dest: String, chain: [CachedLayer],
                              _ body: @escaping @Sendable (TarWriter, (String, CachedLayer) throws -> Void) throws -> Void) async throws {
        for l in chain { try await materializer.ensureVerified(l) }
        let store = self.store
        try await BlockingIO.run {
            let w = TarWriter(sink: dest == "-" ? try FileSink(path: "/dev/stdout") : try FileSink(path: dest))
            try body(w) { name, layer in
                let path = store.path(for: layer.digest)
                try w.writeHeader(TarEntry(path: name, kind: .regular, mode: 0o644, size: layer.size))
                try w.writeContent(from: FileSource(path: path))
            }
            try w.finish()
        }
    }

    static func file(_ w: TarWriter, _ name: String, _ data: Data) throws {
        try w.writeHeader(TarEntry(path: name, kind: .regular, mode: 0o644, size: Int64(data.count)))
        try Array(data).withUnsafeBytes { try w.writeContent($0) }
    }

    static func dir(_ w: TarWriter, _ name: String) throws {
        try w.writeHeader(TarEntry(path: name, kind: .directory, mode: 0o755))
    }

    static func tagPart(_ name: String) -> String {
        (try? Reference(parsing: name)).flatMap(\.tag) ?? "latest"
    }
}
