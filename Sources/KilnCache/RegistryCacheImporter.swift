import Foundation
import KilnArchive
import KilnOCI
import KilnRegistry
import KilnSolver
import KilnStore

/// A cache read from a registry: its config and the layer descriptors it references.
public struct ImportedCache: Sendable {
    /// Where it came from (nil for a local layout, whose blobs are copied into the store).
    public var reference: Reference?
    /// The key graph and layer chains.
    public var config: CacheConfig
    /// Layer descriptors by digest (with `containerd.io/uncompressed`, `buildkit/createdat`).
    public var layers: [Digest: Descriptor]
    /// How it is laid out: `image-manifest`, `oci-index`, `docker-manifest-list` or `inline`.
    public var layout = ""
    /// The media type of its top document.
    public var mediaType = ""
    /// The cache config blob (nil for an inline cache).
    public var configDescriptor: Descriptor?
    /// The reference or directory it was read from, for messages.
    public var name: String { reference?.description ?? directory ?? "" }
    /// The layout directory it was read from (nil for a registry cache).
    public var directory: String?
}

extension ImportedCache {
    /// The layout name for a top document of `mediaType` holding a cache config.
    static func layoutName(_ mediaType: String) -> String {
        switch mediaType {
        case MediaType.ociIndex: "oci-index"
        case MediaType.dockerManifestList: "docker-manifest-list"
        default: "image-manifest"
        }
    }

    /// The same cache, described as read from a top document of `mediaType` with `config`.
    func described(mediaType: String, config: Descriptor?, layout: String? = nil) -> ImportedCache {
        var copy = self
        copy.mediaType = mediaType
        copy.configDescriptor = config
        copy.layout = layout ?? Self.layoutName(mediaType)
        return copy
    }
}

/// Imports BuildKit-format caches (OCI manifest, OCI index or Docker manifest list layouts) and
/// seeds the local cache index with the results whose keys match this build's graph. Hits stay
/// lazy: their layers are descriptors whose source is the cache repository.
public struct RegistryCacheImporter: Sendable {
    let client: RegistryClient

    /// An importer.
    public init(client: RegistryClient) { self.client = client }

    /// Reads the cache at `ref`.
    public func load(_ ref: Reference) async throws -> ImportedCache {
        let top = try await client.manifest(ref)
        var layerDescs: [Descriptor] = []
        var configDesc: Descriptor?
        switch try top.document() {
        case .manifest(let m):
            guard m.config.mediaType == MediaType.buildkitCacheConfig else {
                return try await loadInline(ref, manifest: m)
            }
            configDesc = m.config
            layerDescs = m.layers
        case .index(let i):
            for d in i.manifests {
                if d.mediaType == MediaType.buildkitCacheConfig { configDesc = d } else { layerDescs.append(d) }
            }
            if configDesc == nil, let platform = i.manifest(for: .linuxAMD64) {
                // A (multi-platform) image: its config may carry an inline cache.
                guard case .manifest(let m) = try await client.manifest(ref.withDigest(platform.digest)).document() else {
                    throw CacheImportError("\(ref): nested index")
                }
                return try await loadInline(ref, manifest: m)
            }
        }
        guard let configDesc else { throw CacheImportError("\(ref) has no \(MediaType.buildkitCacheConfig) config") }
        guard configDesc.size <= 1 << 20 else { throw CacheImportError("\(ref): cache config of \(configDesc.size) bytes is too large") }
        let config = try CacheConfig.decode(try await client.blobData(configDesc, from: ref, limit: 1 << 20))
        var byDigest: [Digest: Descriptor] = [:]
        for d in layerDescs { byDigest[d.digest] = d }
        return ImportedCache(reference: ref, config: config, layers: byDigest).described(mediaType: top.mediaType, config: configDesc)
    }

    /// An image with `moby.buildkit.cache.v0` in its config: records only, layers implied by
    /// the image's (layer i has parent i-1), annotations from `diff_ids` and `history`.
    func loadInline(_ ref: Reference, manifest m: ImageManifest) async throws -> ImportedCache {
        let image = try ImageConfig.decode(try await client.blobData(m.config, from: ref))
        guard let value = image.fields["moby.buildkit.cache.v0"]?.stringValue, let json = Data(base64Encoded: value) else {
            throw CacheImportError("\(ref) has no registry cache config and no inline cache")
        }
        let records: [CacheConfig.Record]
        do { records = try JSONDecoder().decode([CacheConfig.Record].self, from: json) } catch {
            throw CacheImportError("\(ref): inline cache records are not valid JSON: \(error)")
        }
        let diffIDs = image.diffIDs
        guard diffIDs.count == m.layers.count else { throw CacheImportError("\(ref): \(diffIDs.count) diff_ids for \(m.layers.count) layers") }
        let times = image.history.filter { !$0.emptyLayer }.map(\.created)
        var layers: [CacheConfig.Layer] = []
        var descs: [Digest: Descriptor] = [:]
        for (i, l) in m.layers.enumerated() {
            layers.append(CacheConfig.Layer(blob: l.digest, parent: i - 1))
            var d = l
            var a = d.annotations ?? [:]
            a["containerd.io/uncompressed"] = diffIDs[i].description
            if i < times.count, let t = times[i] { a["buildkit/createdat"] = t }
            d.annotations = a
            descs[l.digest] = d
        }
        let data = try JSONEncoder().encode(CacheConfig(layers: layers, records: records))
        return ImportedCache(reference: ref, config: try CacheConfig.decode(data), layers: descs)
            .described(mediaType: m.mediaType ?? MediaType.ociManifest, config: nil, layout: "inline")
    }

    /// Reads a cache exported to an OCI layout directory; its blobs are copied into `store`
    /// (verified) so hits need no registry — unless `store` is nil (inspection).
    public static func loadLocal(_ dir: String, tag: String?, store: ContentStore?) async throws -> ImportedCache {
        func read(_ d: Digest) throws -> Data {
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/blobs/\(d.algorithm.rawValue)/" + d.encoded))
            guard Digest.of(data, algorithm: d.algorithm) == d else { throw CacheImportError("\(dir): blob \(d) does not match its digest") }
            return data
        }
        guard let indexData = FileManager.default.contents(atPath: dir + "/index.json") else {
            throw CacheImportError("\(dir)/index.json not found")
        }
        let index = try ImageIndex.decode(indexData)
        guard let top = index.manifests.first(where: { tag == nil || $0.annotations?["org.opencontainers.image.ref.name"] == tag }) else {
            throw CacheImportError("\(dir): no manifest\(tag.map { " tagged \($0)" } ?? "")")
        }
        var layerDescs: [Descriptor] = []
        var configDesc: Descriptor?
        let document = try ManifestDocument.decode(try read(top.digest), contentType: top.mediaType)
        switch document {
        case .manifest(let m):
            configDesc = m.config
            layerDescs = m.layers
        case .index(let i):
            for d in i.manifests {
                if d.mediaType == MediaType.buildkitCacheConfig { configDesc = d } else { layerDescs.append(d) }
            }
        }
        guard let configDesc, configDesc.mediaType == MediaType.buildkitCacheConfig else {
            throw CacheImportError("\(dir) holds no build cache")
        }
        let config = try CacheConfig.decode(try read(configDesc.digest))
        var byDigest: [Digest: Descriptor] = [:]
        for d in layerDescs {
            byDigest[d.digest] = d
            let path = dir + "/blobs/sha256/" + d.digest.encoded
            if let store, !store.contains(d.digest), FileManager.default.fileExists(atPath: path) {
                let source = path
                _ = try await store.ingest(expected: d.digest, mediaType: d.mediaType) { sink in
                    let src = try FileSource(path: source)
                    try src.copy(to: sink)
                }
                if let diff = d.annotations?["containerd.io/uncompressed"], let diffID = try? Digest(parsing: diff) {
                    try await store.commitMetadata(d.digest, diffID: diffID)
                }
            }
        }
        let mediaType: String
        switch document {
        case .manifest(let m): mediaType = m.mediaType ?? top.mediaType
        case .index(let i): mediaType = i.mediaType ?? top.mediaType
        }
        var cache = ImportedCache(reference: nil, config: config, layers: byDigest).described(mediaType: mediaType, config: configDesc)
        cache.directory = dir
        return cache
    }

    static func parseTime(_ s: String?) -> Int64 {
        s.flatMap(Timestamp.parseRFC3339) ?? 0
    }

    /// Matches `cache` against `graph` and records every matching result in `store` (unless a
    /// local result is there). Returns the names of the steps that now hit.
    @discardableResult
    public static func seed(_ cache: ImportedCache, graph: BuildGraph, store: ContentStore) async throws -> [String] {
        try await seed([cache], graph: graph, store: store)
    }

    /// Matches every cache against `graph`; for each step the newest matching result across
    /// all of them is recorded in `store`. A result already there wins when its layers are all
    /// stored here, and gives way to a newer one when it is an earlier import (layers remote).
    /// Returns the names of the steps that now hit.
    @discardableResult
    public static func seed(_ caches: [ImportedCache], graph: BuildGraph, store: ContentStore) async throws -> [String] {
        var best: [Int: Candidate] = [:]
        for cache in caches {
            for (index, candidate) in matches(cache, graph: graph) {
                if let b = best[index], b.time >= candidate.time { continue }
                best[index] = candidate
            }
        }
        var seeded: [String] = []
        for v in graph.vertices {
            guard let b = best[v.index] else { continue }
            if let existing = try await store.cachedResult(v.key.id) {
                // A result whose layers are all here wins; an earlier import (layers still
                // remote) gives way to a newer one.
                let lazy = existing.contains { !store.contains($0.digest) }
                guard lazy, b.time > (existing.last?.createdAt ?? 0) else { continue }
            }
            if let name = b.source {
                try await store.addSources(b.chain.map(\.digest), repository: name)
            }
            try await store.storeResult(key: v.key.id, recordDigest: v.key.recordDigest, description: v.name, layers: b.chain)
            try await store.storeRootLinks(b.rootLinks, for: v.key.id)
            seeded.append(v.name)
        }
        return seeded
    }

    /// The cache mount contents `cache` carries (`cache-mounts=true`), by id; their blobs are
    /// sourced from the cache's repository.
    public static func cacheMounts(_ cache: ImportedCache) -> [String: CachedLayer] {
        var out: [String: CachedLayer] = [:]
        for d in cache.layers.values.sorted(by: { $0.digest.description < $1.digest.description }) {
            guard let id = d.annotations?[RegistryCacheExporter.cacheMountAnnotation],
                  let diff = d.annotations?["containerd.io/uncompressed"], let diffID = try? Digest(parsing: diff) else { continue }
            out[id] = CachedLayer(digest: d.digest, diffID: diffID, mediaType: d.mediaType, size: d.size,
                                  createdAt: parseTime(d.annotations?["buildkit/createdat"]), source: cache.reference?.name)
        }
        return out
    }

    /// How many steps of `graph` `cache` holds a result for.
    public static func matchedSteps(_ cache: ImportedCache, graph: BuildGraph) -> Int { matches(cache, graph: graph).count }

    /// The names of the steps of `graph` `cache` holds no result for.
    public static func unmatchedSteps(_ cache: ImportedCache, graph: BuildGraph) -> [String] {
        let hits = matches(cache, graph: graph)
        return graph.vertices.filter { v in
            if case .image = v.op { return false }
            return hits[v.index] == nil
        }.map(\.name)
    }

    /// A result a cache offers for one step.
    struct Candidate {
        var chain: [CachedLayer]
        var time: Int64
        var source: String?
        /// The record's links to roots (content keys among them), kept for later exports.
        var rootLinks: [RootLink] = []
    }

    /// The links of record `r` to records without inputs (roots), by input index.
    static func rootLinks(_ records: [CacheConfig.Record], _ r: Int) -> [RootLink] {
        var out: [RootLink] = []
        for (i, alternatives) in (records[r].inputs ?? []).enumerated() {
            for a in alternatives where (records[a.link].inputs ?? []).isEmpty {
                out.append(RootLink(input: i, record: records[a.link].digest))
            }
        }
        return out
    }

    /// The newest result `cache` holds for each vertex of `graph` whose key it matches.
    static func matches(_ cache: ImportedCache, graph: BuildGraph) -> [Int: Candidate] {
        let records = cache.config.records
        // Records by digest, for roots and for candidate children.
        var byDigest: [Digest: [Int]] = [:]
        for (i, r) in records.enumerated() { byDigest[r.digest, default: []].append(i) }
        var matched: [Digest: Set<Int>] = [:]  // our key id -> matching record indexes
        for (id, root) in graph.contentRoots {
            matched[id] = Set((byDigest[root.recordDigest] ?? []).filter { (records[$0].inputs ?? []).isEmpty })
        }
        var out: [Int: Candidate] = [:]
        for v in graph.vertices {
            var keys = [v.key] + v.alternativeKeys
            if case .image = v.op {} else { keys = [v.key] }
            var hits = Set<Int>()
            for key in keys {
                for r in byDigest[key.recordDigest] ?? [] {
                    let rec = records[r]
                    let inputs = rec.inputs ?? []
                    guard inputs.count == key.inputs.count else { continue }
                    let ok = zip(inputs, key.inputs).allSatisfy { theirs, ours in
                        ours.contains { ki in
                            let linked = matched[ki.link] ?? []
                            return theirs.contains { linked.contains($0.link) && $0.selector == ki.selector?.description }
                        }
                    }
                    if ok { hits.insert(r) }
                }
            }
            matched[v.key.id] = hits
            if case .image = v.op { continue }
            // The newest result among the matching records.
            for r in hits.sorted() {
                for res in records[r].layers ?? [] {
                    guard let idx = cache.config.chain(res.layer) else { continue }
                    var chain: [CachedLayer] = []
                    for li in idx {
                        let blob = cache.config.layers[li].blob
                        guard let d = cache.layers[blob], let diff = d.annotations?["containerd.io/uncompressed"],
                              let diffID = try? Digest(parsing: diff)
                        else { chain = []; break }
                        chain.append(CachedLayer(digest: blob, diffID: diffID, mediaType: d.mediaType, size: d.size,
                                                 createdAt: parseTime(d.annotations?["buildkit/createdat"]), source: cache.reference?.name))
                    }
                    guard !chain.isEmpty else { continue }
                    let t = parseTime(res.createdAt)
                    if let b = out[v.index], t <= b.time { continue }
                    out[v.index] = Candidate(chain: chain, time: t, source: cache.reference?.name, rootLinks: rootLinks(records, r))
                }
            }
        }
        return out
    }
}
