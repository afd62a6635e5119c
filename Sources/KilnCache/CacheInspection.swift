import Foundation
import KilnOCI

/// What a build cache holds, as `kiln cache inspect` shows it: its layout and media types,
/// every layer blob (size, compression, creation time and — where Kiln wrote the cache — the
/// Dockerfile step that made it), the layer chains its results use, and its records.
public struct CacheInspection: Sendable, Encodable {
    /// One layer blob.
    public struct Layer: Sendable, Encodable {
        /// The blob's digest.
        public var digest: String
        /// Its size in bytes.
        public var size: Int64
        /// Its media type.
        public var mediaType: String
        /// `gzip`, `zstd`, `estargz`, `uncompressed` or `unknown`.
        public var compression: String
        /// `buildkit/createdat`, when given.
        public var createdAt: String?
        /// The uncompressed digest (`containerd.io/uncompressed`).
        public var uncompressed: String?
        /// The step that made it (Kiln's `kiln.step` annotation).
        public var step: String?
        /// The cache mount id whose contents it holds (`cache-mounts=true`).
        public var cacheMount: String?
    }

    /// One cache record: a key, how many inputs it links, and its results' chains.
    public struct Record: Sendable, Encodable {
        /// The record's digest.
        public var digest: String
        /// Its inputs (each a list of alternatives).
        public var inputs: Int
        /// Each result as its chain of blob digests, base first.
        public var results: [[String]]
    }

    /// The reference or directory read.
    public var source: String
    /// `image-manifest`, `oci-index`, `docker-manifest-list` or `inline`.
    public var layout: String
    /// The top document's media type.
    public var mediaType: String
    /// The cache config blob.
    public var config: Descriptor?
    /// Every layer blob listed.
    public var layers: [Layer]
    /// The distinct chains results use (blob digests, base first).
    public var chains: [[String]]
    /// Every record.
    public var records: [Record]

    /// The inspection of `cache`, read from `source`.
    public init(_ cache: ImportedCache, source: String) {
        self.source = source
        layout = cache.layout
        mediaType = cache.mediaType
        config = cache.configDescriptor
        let order = cache.config.layers.map(\.blob)
        let listed = cache.layers.values.sorted { a, b in
            (order.firstIndex(of: a.digest) ?? .max, a.digest.description) < (order.firstIndex(of: b.digest) ?? .max, b.digest.description)
        }
        layers = listed.map { d in
            let a = d.annotations ?? [:]
            return Layer(digest: d.digest.description, size: d.size, mediaType: d.mediaType, compression: Self.compression(d),
                         createdAt: a["buildkit/createdat"], uncompressed: a["containerd.io/uncompressed"], step: a[RegistryCacheExporter.stepAnnotation],
                         cacheMount: a[RegistryCacheExporter.cacheMountAnnotation])
        }
        records = cache.config.records.map { r in
            let results = (r.layers ?? []).map { res in (cache.config.chain(res.layer) ?? []).map { cache.config.layers[$0].blob.description } }
            return Record(digest: r.digest.description, inputs: r.inputs?.count ?? 0, results: results)
        }
        var seen = Set<[String]>()
        chains = records.flatMap(\.results).filter { !$0.isEmpty && seen.insert($0).inserted }
    }

    static func compression(_ d: Descriptor) -> String {
        if d.annotations?["containerd.io/snapshot/stargz/toc.digest"] != nil { return "estargz" }
        switch MediaType.layerCompression(d.mediaType) {
        case .gzip: return "gzip"
        case .zstd: return "zstd"
        case .uncompressed: return "uncompressed"
        case nil: return "unknown"
        }
    }

    /// The inspection as text: a summary, a table of layers, the chains.
    public var text: String {
        var out = "cache   \(source)\nlayout  \(layout) (\(mediaType))\n"
        if let c = config { out += "config  \(c.digest) (\(c.size) bytes)\n" }
        out += "records \(records.count), with results \(records.filter { !$0.results.isEmpty }.count); layers \(layers.count); chains \(chains.count)\n\n"
        out += Self.row(["LAYER", "SIZE", "COMPRESSION", "CREATED", "STEP"])
        for l in layers {
            out += Self.row([String(l.digest.prefix(19)), String(l.size), l.compression, l.createdAt ?? "-",
                             l.step ?? l.cacheMount.map { "cache mount \($0)" } ?? "-"])
        }
        if !chains.isEmpty { out += "\nchains (base first):\n" }
        for (i, c) in chains.enumerated() {
            out += "  \(i + 1): " + c.map { String($0.dropFirst(7).prefix(12)) }.joined(separator: " > ") + "\n"
        }
        return out
    }

    private static func row(_ cells: [String]) -> String {
        let widths = [21, 12, 13, 32]
        var line = ""
        for (i, c) in cells.enumerated() {
            line += i < widths.count ? c.padding(toLength: max(widths[i], c.count + 1), withPad: " ", startingAt: 0) : c
        }
        return line + "\n"
    }
}
