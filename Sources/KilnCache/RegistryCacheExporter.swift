import Foundation
import KilnArchive
import KilnExport
import KilnOCI
import KilnRegistry
import KilnSolver
import KilnStore

/// Exports a build's cache to a registry in BuildKit's format: the key graph as cache config
/// records, the layer chains of the results (all steps for `mode=max`, the final chain for
/// `mode=min`), pushed as an OCI image manifest (default), an OCI index or a Docker manifest list.
public struct RegistryCacheExporter: Sendable {
    let context: ExportContext
    let warn: @Sendable (String) async -> Void
    var store: ContentStore { context.store }

    /// BuildKit refuses to import a cache config larger than this.
    public static let configLimit = 1 << 20

    /// An exporter; exports running at the same time share `coordinator`; `warn` hears what
    /// the user should know about (a cache shrunk to fit the import limit).
    public init(context: ExportContext, warn: @escaping @Sendable (String) async -> Void = { _ in }) {
        self.context = context
        self.warn = warn
    }

    /// The same exporter, reporting its sub-tasks to `progress`.
    public func reporting(to progress: ExportProgress) -> RegistryCacheExporter {
        RegistryCacheExporter(context: context.reporting(to: progress), warn: warn)
    }

    /// The cache config and the layers it references, for `graph` after a build.
    public func makeConfig(graph: BuildGraph, mode: CacheMode, convert: (CachedLayer) async throws -> CachedLayer) async throws -> (CacheConfig, [CachedLayer]) {
        guard let target = graph.target else { throw CacheImportError("nothing to export: the target is an empty scratch image") }
        let needed = Self.needed(graph, by: target)
        // After a failed build the target has no result: the image so far is the chain of the
        // last step of its own lineage that completed.
        let targetChain: [CachedLayer]
        if let stored = try await store.cachedResult(target.key.id) { targetChain = stored } else { targetChain = try await lineageChain(graph, from: target) }
        var builder = CacheConfigBuilder(graph: graph)
        for v in graph.vertices where needed.contains(v.index) {
            switch v.op {
            case .image:
                builder.addImage(v)
            default:
                // min mode carries the final chain; steps whose results are prefixes of it come
                // along for free (same layers), so an importer knows every step of the image.
                let chain = try await store.cachedResult(v.key.id)
                let isPrefix = chain.map { !$0.isEmpty && $0.count <= targetChain.count && Array(targetChain.prefix($0.count)).map(\.digest) == $0.map(\.digest) } ?? false
                let exportResult = mode == .max || v.index == target.index || isPrefix
                try await builder.addStep(v, result: exportResult ? chain : nil, convert: convert)
            }
        }
        // The facts of every exported step's key, for a later build's --explain.
        let steps = graph.vertices.filter { needed.contains($0.index) }.map(\.facts).sorted { $0.key.description < $1.key.description }
        return (CacheConfig(layers: builder.layers, records: builder.records, steps: steps), builder.exported)
    }

    /// The vertices `target` needs: itself and everything upstream.
    static func needed(_ graph: BuildGraph, by target: Vertex) -> Set<Int> {
        var needed = Set<Int>()
        var stack = [target.index]
        while let i = stack.popLast() {
            guard needed.insert(i).inserted else { continue }
            stack.append(contentsOf: graph.vertices[i].inputs)
        }
        return needed
    }

    /// What every layer descriptor of a cache says of its blob (as BuildKit writes it).
    static func layerAnnotations(_ l: CachedLayer) -> [String: String] {
        ["containerd.io/uncompressed": l.diffID.description, "buildkit/createdat": Timestamp.rfc3339(l.createdAt)]
    }

    /// The layer annotation naming the Dockerfile step that made a layer (`kiln cache inspect`
    /// shows it; BuildKit ignores annotations it does not know).
    public static let stepAnnotation = "kiln.step"

    /// For each layer (by diffID, which a compression change keeps), the step that made it: the
    /// first vertex whose chain ends in it — a base image's vertex for all of its layers.
    func stepNames(_ graph: BuildGraph) async throws -> [Digest: String] {
        var out: [Digest: String] = [:]
        for v in graph.vertices {
            if case .image(let source) = v.op {
                for l in source.chain where out[l.diffID] == nil { out[l.diffID] = v.name }
            } else if let last = try await store.cachedResult(v.key.id)?.last, out[last.diffID] == nil {
                out[last.diffID] = v.name
            }
        }
        return out
    }

    /// The stored chain of the nearest step before `vertex` in its stage's lineage (following
    /// the filesystem each step changes) that has a result; empty when none has.
    func lineageChain(_ graph: BuildGraph, from vertex: Vertex) async throws -> [CachedLayer] {
        var v = vertex
        while v.changesFirstInput, let parent = v.inputs.first {
            v = graph.vertices[parent]
            if case .image(let source) = v.op { return source.chain }
            if let chain = try await store.cachedResult(v.key.id) { return chain }
        }
        return []
    }

    /// A cache ready to be written: config, layers, and the manifest or index describing them.
    public struct Prepared: Sendable {
        /// The cache config bytes.
        public var config: Data
        /// Its descriptor.
        public var configDescriptor: Descriptor
        /// The layers (already encoded as asked).
        public var layers: [CachedLayer]
        /// The manifest or index bytes.
        public var manifest: Data
        /// Its descriptor.
        public var descriptor: Descriptor
    }

    /// Builds the cache documents for `graph` with `options`, the config fitted to `limit`
    /// (see ``fitted(graph:options:limit:encode:)``).
    public func prepare(graph: BuildGraph, options: CacheExportOptions, limit: Int = configLimit) async throws -> Prepared {
        let encode = { (layer: CachedLayer) async throws -> CachedLayer in try await self.encode(layer, options: options) }
        var (config, layers, configData) = try await fitted(graph: graph, options: options, limit: limit, encode: encode)
        // Cache mount blobs are listed in the layers table (every blob of the cache is) but no
        // record uses them: BuildKit's importer only follows layers records reach.
        let mounts = options.cacheMounts ? try await packCacheMounts(graph, options: options) : []
        if !mounts.isEmpty {
            for m in mounts { config.layers.append(CacheConfig.Layer(blob: m.layer.digest, parent: -1)) }
            configData = try CanonicalJSON.encode(config)
        }
        let configDesc = Descriptor(mediaType: MediaType.buildkitCacheConfig, digest: Digest.of(configData), size: Int64(configData.count))
        let steps = try await stepNames(graph)
        var layerDescs = layers.map { l -> Descriptor in
            var a = Self.layerAnnotations(l)
            if let step = steps[l.diffID] { a[Self.stepAnnotation] = step }
            if let toc = l.tocDigest {
                a["containerd.io/snapshot/stargz/toc.digest"] = toc.description
                a["io.containers.estargz.uncompressed-size"] = String(l.uncompressedSize ?? 0)
            }
            let family = MediaType.layerCompression(l.mediaType) ?? .gzip
            return Descriptor(mediaType: MediaType.layer(family, oci: options.ociMediaTypes), digest: l.digest, size: l.size, annotations: a)
        }
        for (id, l) in mounts {
            var a = Self.layerAnnotations(l)
            a[Self.cacheMountAnnotation] = id
            layerDescs.append(Descriptor(mediaType: l.mediaType, digest: l.digest, size: l.size, annotations: a))
            layers.append(l)
        }
        let data: Data
        let mediaType: String
        if options.imageManifest {
            mediaType = MediaType.ociManifest
            data = try ImageManifest(mediaType: mediaType, config: configDesc, layers: layerDescs).encoded()
        } else {
            mediaType = options.ociMediaTypes ? MediaType.ociIndex : MediaType.dockerManifestList
            data = try ImageIndex(mediaType: mediaType, manifests: layerDescs + [configDesc]).encoded()
        }
        return Prepared(config: configData, configDescriptor: configDesc, layers: layers, manifest: data,
                        descriptor: Descriptor(mediaType: mediaType, digest: Digest.of(data), size: Int64(data.count)))
    }

    /// The cache config for `graph` within `limit` (BuildKit's import limit), its layers and
    /// bytes. A config over it first loses the step facts (`--explain` only), then its key-only
    /// records no result needs; if that is not enough, a `mode=max` export keeps only the final
    /// result's layers (as `mode=min`), with a warning; a config still too large is an error.
    func fitted(graph: BuildGraph, options: CacheExportOptions, limit: Int,
                encode: (CachedLayer) async throws -> CachedLayer) async throws -> (CacheConfig, [CachedLayer], Data) {
        var (config, layers) = try await makeConfig(graph: graph, mode: options.mode, convert: encode)
        var configData = try CanonicalJSON.encode(config)
        guard configData.count > limit else { return (config, layers, configData) }
        config.steps = nil
        configData = try CanonicalJSON.encode(config)
        await warn("cache config over BuildKit's \(limit)-byte import limit: exported without the step facts --explain reads")
        guard configData.count > limit else { return (config, layers, configData) }
        let full = configData.count
        let (pruned, dropped) = config.droppingRedundantKeys()
        config = pruned
        configData = try CanonicalJSON.encode(config)
        if configData.count > limit, options.mode == .max {
            (config, layers) = try await makeConfig(graph: graph, mode: .min, convert: encode)
            config.steps = nil
            config = config.droppingRedundantKeys().0
            configData = try CanonicalJSON.encode(config)
            if configData.count <= limit {
                await warn("cache config is \(full) bytes in mode=max, over BuildKit's \(limit)-byte import limit even without \(dropped) redundant key records; exporting the final result's layers only, as mode=min (\(configData.count) bytes)")
            }
        }
        guard configData.count <= limit else {
            throw CacheImportError("cache config is \(configData.count) bytes even after dropping \(dropped) redundant key records, over BuildKit's \(limit)-byte import limit")
        }
        return (config, layers, configData)
    }

    /// Whether a build made nothing a cache could hold: its target is empty scratch, or a base
    /// image as it is (`FROM` with metadata only). BuildKit skips the export then, and so does
    /// Kiln.
    public static func isEmpty(_ graph: BuildGraph) -> Bool {
        guard let target = graph.target else { return true }
        if case .image = target.op { return true }
        return false
    }

    /// Exports to `ref`; returns the descriptor of the pushed manifest or index, nil when the
    /// build made nothing to export (``isEmpty(_:)``).
    public func export(graph: BuildGraph, to ref: Reference, options: CacheExportOptions) async throws -> Descriptor? {
        let progress = context.progress
        guard !Self.isEmpty(graph) else {
            await progress.done("skipping cache export for empty result")
            return nil
        }
        let p = try await progress.task("preparing build cache for export") { try await prepare(graph: graph, options: options) }
        // An unchanged build makes byte-identical documents: when the ref already names them,
        // every blob is there too and nothing needs checking or pushing.
        let client = context.client
        if try await client.manifestDescriptor(ref)?.digest == p.descriptor.digest {
            await progress.done("cache manifest \(p.descriptor.digest) is already \(ref)")
            return p.descriptor
        }
        // Blobs first (in parallel, bounded), then the config, then the manifest.
        try await LayerPusher(context: context, verb: "writing layer").push(p.layers, to: ref)
        if try await client.blobSize(p.configDescriptor.digest, in: ref) == nil {
            try await progress.task("writing config \(p.configDescriptor.digest)", bytes: p.configDescriptor.size) {
                try await client.pushBlob(p.config, mediaType: MediaType.buildkitCacheConfig, to: ref)
            }
        }
        try await progress.task("writing cache manifest \(p.descriptor.digest)", bytes: p.descriptor.size) {
            try await client.putManifest(p.manifest, mediaType: p.descriptor.mediaType, to: ref)
        }
        return p.descriptor
    }

    /// Exports to an OCI image layout directory (`index.json`, `oci-layout`, `blobs/sha256/`);
    /// blobs already there are kept.
    public func exportLocal(graph: BuildGraph, to dest: String, options: CacheExportOptions) async throws -> Descriptor? {
        guard !Self.isEmpty(graph) else {
            await context.progress.done("skipping cache export for empty result")
            return nil
        }
        let p = try await context.progress.task("preparing build cache for export") { try await prepare(graph: graph, options: options) }
        let sink = try DirectoryLayoutSink(root: dest)
        var blobs: [OCILayout.Blob] = [.data(p.config), .data(p.manifest)]
        for l in p.layers where !sink.contains("blobs/sha256/" + l.digest.encoded) {
            blobs.append(.file(l.digest, path: try await context.fetcher.fetchVerified(l), size: l.size))
        }
        try await context.progress.task("writing cache manifest \(p.descriptor.digest)", bytes: p.descriptor.size) {
            try OCILayout.write(to: sink, top: p.descriptor, annotations: ["org.opencontainers.image.ref.name": "latest"], blobs: blobs)
        }
        return p.descriptor
    }

    /// The inline cache value for an image whose layers are `graph`'s final chain: the records
    /// (min mode) as JSON, base64-encoded, for the config key `moby.buildkit.cache.v0`.
    public func inlineValue(graph: BuildGraph) async throws -> String {
        let (config, _) = try await makeConfig(graph: graph, mode: .min) { $0 }
        let data = try CanonicalJSON.encode(config.records)
        return data.base64EncodedString()
    }

    /// The layer as the export wants it encoded.
    func encode(_ layer: CachedLayer, options: CacheExportOptions) async throws -> CachedLayer {
        try await LayerEncoder(fetcher: context.fetcher).encode(layer, compression: options.compression, force: options.forceCompression)
    }

}
