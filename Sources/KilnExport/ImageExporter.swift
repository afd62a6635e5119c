import Foundation
import KilnArchive
import KilnOCI
import KilnRegistry
import KilnStore

/// Pushes a built image: layers (HEAD, then a cross-repository mount from any repository of
/// the same registry known to hold the blob, else an upload — fetching the blob first when it
/// is only remote), then the config, then the manifest under every tag.
public struct ImageExporter: Sendable {
    let context: ExportContext
    let pusher: LayerPusher

    /// An exporter.
    public init(context: ExportContext) {
        self.context = context
        pusher = LayerPusher(context: context)
    }

    /// The manifest for `chain` and `config`, in OCI or Docker media types.
    public static func manifest(chain: [CachedLayer], config: Data, oci: Bool = true) -> ImageManifest {
        let configDesc = Descriptor(mediaType: oci ? MediaType.ociConfig : MediaType.dockerConfig, digest: Digest.of(config),
                                    size: Int64(config.count))
        let layers = chain.map { l in
            let mt = MediaType.layerCompression(l.mediaType).map { MediaType.layer($0, oci: oci) } ?? l.mediaType
            return Descriptor(mediaType: mt, digest: l.digest, size: l.size)
        }
        return ImageManifest(mediaType: oci ? MediaType.ociManifest : MediaType.dockerManifest, config: configDesc, layers: layers)
    }

    /// Pushes an image whose layers are encoded as `options` asks (the config's `diff_ids`
    /// follow when a conversion changes them); returns the manifest descriptor and config bytes.
    public func push(chain: [CachedLayer], config: ImageConfig, to refs: [Reference], options: ImageOutputOptions) async throws -> (Descriptor, Data) {
        var layers = chain
        var config = config
        try await context.progress.task("exporting layers") {
            guard let c = options.compression else { return }
            let encoder = LayerEncoder(fetcher: context.fetcher)
            var out: [CachedLayer] = []
            for l in chain { out.append(try await encoder.encode(l, compression: c, force: options.forceCompression)) }
            layers = out
        }
        if options.compression != nil { config.diffIDs = layers.map(\.diffID) }
        let data = try config.encoded()
        let documents = try ImageDocuments.make(chain: layers, config: data, platform: Platform(os: config.os ?? "linux",
                                                architecture: config.architecture ?? "amd64"), oci: options.ociMediaTypes, annotations: options.annotations)
        let desc = try await push(chain: layers, config: data, documents: documents, to: refs)
        return (desc, data)
    }

    /// Pushes to every reference; returns the manifest descriptor.
    public func push(chain: [CachedLayer], config: Data, to refs: [Reference], oci: Bool = true) async throws -> Descriptor {
        let documents = try ImageDocuments.make(chain: chain, config: config, platform: .linuxAMD64, oci: oci)
        return try await push(chain: chain, config: config, documents: documents, to: refs)
    }

    /// Pushes `documents` (the manifest, then the index over it when there is one) to every
    /// reference; returns the descriptor of the top document.
    func push(chain: [CachedLayer], config: Data, documents: ImageDocuments, to refs: [Reference]) async throws -> Descriptor {
        let manifest = documents.manifest
        await context.progress.done("exporting manifest \(manifest.descriptor.digest)", bytes: manifest.descriptor.size)
        await context.progress.done("exporting config \(documents.config.digest)", bytes: documents.config.size)
        if let index = documents.index { await context.progress.done("exporting manifest list \(index.descriptor.digest)", bytes: index.descriptor.size) }
        for ref in refs {
            try await context.progress.task("pushing layers") { try await pusher.push(chain, to: ref) }
            try await context.client.pushBlob(config, mediaType: documents.config.mediaType, to: ref)
            if documents.index != nil {
                // The manifest by digest, then the index under the tag.
                try await context.client.putManifest(manifest.data, mediaType: manifest.descriptor.mediaType, to: ref.withDigest(manifest.descriptor.digest))
            }
            let top = documents.top
            try await context.progress.task("pushing manifest for \(ref)@\(top.descriptor.digest)") {
                try await context.client.putManifest(top.data, mediaType: top.descriptor.mediaType, to: ref)
            }
        }
        return documents.top.descriptor
    }
}

/// Options of an image output (`-o type=image,…` / `type=registry,…`).
public struct ImageOutputOptions: Sendable, Equatable {
    /// OCI media types (default) or Docker schema 2.
    public var ociMediaTypes = true
    /// Compression for the image's layers (new ones, or all with ``forceCompression``); nil keeps them.
    public var compression: Compression?
    /// Convert every layer.
    public var forceCompression = false
    /// `--annotation`s for the manifest and, when asked, an index over it.
    public var annotations = ImageAnnotations()

    /// Defaults: OCI types, layers as built.
    public init() {}

    /// Reads `oci-mediatypes`, `compression`, `compression-level` and `force-compression`.
    public init(attributes a: [String: String]) throws(ExportError) {
        func bool(_ k: String) throws(ExportError) -> Bool? {
            guard let v = a[k] else { return nil }
            switch v.lowercased() {
            case "true", "1": return true
            case "false", "0": return false
            default: throw ExportError("invalid \(k)=\(v): use true or false")
            }
        }
        ociMediaTypes = try bool("oci-mediatypes") ?? true
        forceCompression = try bool("force-compression") ?? false
        var level: Int?
        if let l = a["compression-level"] {
            guard let n = Int(l) else { throw ExportError("invalid compression-level=\(l): not an integer") }
            level = n
        }
        if a["compression"] != nil || level != nil {
            do {
                compression = try Compression(name: a["compression"] ?? "gzip", level: level)
            } catch {
                throw ExportError("invalid image compression: \(error.description)")
            }
        }
    }
}
