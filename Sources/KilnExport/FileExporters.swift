import Foundation
import KilnArchive
import KilnOCI
import KilnStore

/// Outputs written to the local filesystem: the final tree (`local`), the tree as a tar
/// (`tar`), an OCI image layout tar (`oci`) and a docker-archive tar (`docker`).
public struct FileExporters: Sendable {
    let fetcher: any BlobFetcher
    let filesystems: any ChainFilesystems

    /// Exporters reading blobs through `fetcher` and chains' filesystems from `filesystems`.
    public init(fetcher: any BlobFetcher, filesystems: any ChainFilesystems) {
        self.fetcher = fetcher
        self.filesystems = filesystems
    }

    /// Writes the final filesystem into `dest` (created when missing).
    public func local(chain: [CachedLayer], dest: String) async throws {
        var paths: [String] = []
        for l in chain { paths.append(try await fetcher.fetchVerified(l)) }
        try FileManager.default.createDirectory(atPath: dest, withIntermediateDirectories: true)
        try await BlockingIO.run { [paths] in
            for p in paths {
                try LayerApplier(root: dest).apply(try DetectedCompression.detect(path: p).decompressing(FileSource(path: p)))
            }
        }
    }

    /// Writes the final filesystem as a tar (owners preserved) to `dest` (`-` for stdout).
    public func tar(chain: [CachedLayer], dest: String) async throws {
        let dir = try await filesystems.directory(for: chain, report: nil)
        try await writeTar(dest) { writer in try LayerPacker().pack(directory: dir, into: writer) }
    }

    /// Writes an OCI image layout tar: `oci-layout`, `index.json`, `blobs/sha256/…`.
    /// The image is named in `index.json` as BuildKit names it (`io.containerd.image.name` and
    /// the tag as `org.opencontainers.image.ref.name`); `annotations` go on the manifest, and on
    /// an index over it when they ask for one.
    public func oci(chain: [CachedLayer], config: Data, names: [String], dest: String,
                    platform: Platform = .linuxAMD64, annotations: ImageAnnotations = ImageAnnotations()) async throws {
        let documents = try ImageDocuments.make(chain: chain, config: config, platform: platform, annotations: annotations)
        var named = annotations.indexDescriptor
        if let name = names.first {
            named["io.containerd.image.name"] = (try? Reference(parsing: name))?.description ?? name
            named["org.opencontainers.image.ref.name"] = Self.tagPart(name)
        }
        var blobs: [OCILayout.Blob] = [.data(config), .data(documents.manifest.data)]
        if let index = documents.index { blobs.append(.data(index.data)) }
        blobs += try await verifiedFiles(chain)
        let (finalBlobs, top) = (blobs, named.isEmpty ? nil : named)
        try await writeTar(dest) { writer in
            try OCILayout.write(to: TarLayoutSink(writer: writer), top: documents.top.descriptor, annotations: top, blobs: finalBlobs)
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
        let layers = try await verifiedFiles(chain)
        try await writeTar(dest) { writer in
            let sink = TarLayoutSink(writer: writer)
            try sink.add(configName, data: config)
            try sink.add("manifest.json", data: manifest)
            for case .file(let d, let path, let size) in layers { try sink.add(d.encoded + ".tar", copying: path, size: size) }
        }
    }

    /// The chain's blobs, fetched and checked against their digests.
    private func verifiedFiles(_ chain: [CachedLayer]) async throws -> [OCILayout.Blob] {
        var out: [OCILayout.Blob] = []
        for l in chain { out.append(.file(l.digest, path: try await fetcher.fetchVerified(l), size: l.size)) }
        return out
    }

    private func writeTar(_ dest: String, _ body: @escaping @Sendable (TarWriter) throws -> Void) async throws {
        try await BlockingIO.run {
            let writer = TarWriter(sink: dest == "-" ? try FileSink(path: "/dev/stdout") : try FileSink(path: dest))
            try body(writer)
            try writer.finish()
        }
    }

    static func tagPart(_ name: String) -> String {
        (try? Reference(parsing: name)).flatMap(\.tag) ?? "latest"
    }
}
