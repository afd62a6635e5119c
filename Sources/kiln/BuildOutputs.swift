import Foundation
import KilnCache
import KilnDockerfile
import KilnExport
import KilnOCI
import KilnRegistry
import KilnSolver
import KilnStore
import KilnWorker
import KilnSystem
import KilnProgress

/// Image references pushed together with one set of output options.
struct PushGroup: Sendable {
    /// Where.
    var refs: [Reference]
    /// How the image is encoded.
    var options: ImageOutputOptions
}

/// What a build's outputs made, for `--metadata-file`.
struct OutputResults: Sendable {
    var configDigest: Digest?
    var imageDescriptor: Descriptor?
    var imageNames: String?
    var cacheManifest: Descriptor?

    /// The metadata file's JSON object (BuildKit's keys).
    func metadata() throws -> [String: Any] {
        var m: [String: Any] = [:]
        if let configDigest { m["containerimage.config.digest"] = configDigest.description }
        if let d = imageDescriptor {
            m["containerimage.digest"] = d.digest.description
            m["containerimage.descriptor"] = ["mediaType": d.mediaType, "digest": d.digest.description, "size": d.size]
        }
        if let imageNames { m["image.name"] = imageNames }
        if let d = cacheManifest {
            let json = try JSONSerialization.data(withJSONObject: ["mediaType": d.mediaType, "digest": d.digest.description, "size": d.size],
                                                  options: [.sortedKeys])
            m["cache.manifest"] = String(decoding: json, as: UTF8.self)
        }
        return m
    }
}

/// Everything a build writes once its target is solved: image pushes, file outputs and cache
/// exports, all at the same time (pushes of one blob to one registry are serialized so the
/// second mounts the first's copy).
struct BuildOutputs: Sendable {
    let client: RegistryClient
    let store: ContentStore
    let materializer: Materializer
    let plan: BuildPlan
    let images: [String: ResolvedImage]
    let graph: BuildGraph
    let sourceDateEpoch: Int64?
    let pushGroups: [PushGroup]
    let outputs: [OutputSpec]
    /// Names for the oci/docker archives and `image.name`.
    let names: [String]
    let cacheExports: [CacheExportTarget]
    /// Whether an image config is wanted at all (an image output or a metadata file).
    let assembleImage: Bool
    let printer: any ProgressPrinter

    /// Writes every output for the target's `chain`.
    func run(chain: [CachedLayer]) async throws -> OutputResults {
        let coordinator = BlobPushCoordinator()
        let printer = self.printer
        let cacheExporter = RegistryCacheExporter(client: client, store: store, materializer: materializer, coordinator: coordinator) { message in
            await printer.handle(.warning(vertex: nil, short: message, detail: []))
        }
        var results = OutputResults()
        var imageConfig: ImageConfig?
        var configData = Data()
        if assembleImage {
            var assembler = ImageAssembler(plan: plan, images: images, sourceDateEpoch: sourceDateEpoch)
            try await assembler.learnChains(from: graph, store: store)
            var config = try assembler.config(chain: chain, graph: graph)
            if cacheExports.contains(.inline) {
                config.fields["moby.buildkit.cache.v0"] = .string(try await cacheExporter.inlineValue(graph: graph))
            }
            configData = try config.encoded()
            results.configDigest = Digest.of(configData)
            imageConfig = config
        }
        let (config, data) = (imageConfig, configData)
        return try await withThrowingTaskGroup(of: OutputResults.self) { group in
            if let config, !pushGroups.isEmpty {
                group.addTask {
                    try await progress("exporting to image", key: "image") {
                        try await pushImage(chain: chain, config: config, coordinator: coordinator)
                    }
                }
            }
            for o in outputs {
                guard let name = Self.fileOutputNames[o.type] else { continue }
                group.addTask {
                    try await progress(name, key: "\(o.type) \(o.attributes["dest"] ?? "")") {
                        try await writeFile(o, chain: chain, config: data)
                    }
                    return OutputResults()
                }
            }
            for target in cacheExports where target != .inline {
                let (name, key): (String, String)
                switch target {
                case .registry(let ref, _): (name, key) = ("exporting cache to registry", ref.description)
                case .local(let dest, _): (name, key) = ("exporting cache to client directory", dest)
                case .inline: continue
                }
                group.addTask {
                    try await progress(name, key: key) { try await exportCache(target, exporter: cacheExporter) }
                }
            }
            for try await r in group {
                if r.imageDescriptor != nil {
                    results.imageDescriptor = r.imageDescriptor
                    results.configDigest = r.configDigest
                }
                results.cacheManifest = r.cacheManifest ?? results.cacheManifest
            }
            if results.imageDescriptor != nil { results.imageNames = names.joined(separator: ",") }
            return results
        }
    }

    /// Vertex names of the file outputs, as BuildKit names them.
    static let fileOutputNames = [
        "local": "exporting to client directory", "tar": "exporting to client tarball",
        "oci": "exporting to oci image format", "docker": "exporting to docker image format",
    ]

    /// Runs one output as a progress vertex, so a long push or export is visible. A layer that
    /// turned out unfetchable is not shown as a failure: the solver warns about it and the
    /// outputs run again (a cancelled sibling waits for that too).
    private func progress<T: Sendable>(_ name: String, key: String, _ body: () async throws -> T) async throws -> T {
        try await reportingVertex(name, id: Digest.of(Data("kiln output \(key)".utf8)), report: { await printer.handle($0) },
                                  leaveOpen: { BlobUnavailable.find(in: $0) != nil || $0 is CancellationError }, body)
    }

    private func pushImage(chain: [CachedLayer], config: ImageConfig, coordinator: BlobPushCoordinator) async throws -> OutputResults {
        var r = OutputResults()
        let exporter = ImageExporter(client: client, store: store, materializer: materializer, coordinator: coordinator)
        for g in pushGroups {
            let (desc, pushedConfig) = try await exporter.push(chain: chain, config: config, to: g.refs, options: g.options)
            r.imageDescriptor = desc
            r.configDigest = Digest.of(pushedConfig)
        }
        return r
    }

    private func writeFile(_ o: OutputSpec, chain: [CachedLayer], config: Data) async throws {
        let files = FileExporters(store: store, materializer: materializer)
        let dest = o.attributes["dest"] ?? ""
        // `name=` names the archive's image (as buildx); else the build's -t names.
        let given = (o.attributes["name"] ?? "").split(separator: ",").map(String.init).filter { !$0.isEmpty }
        let names = given.isEmpty ? self.names : given
        switch o.type {
        case "local": try await files.local(chain: chain, dest: dest)
        case "tar": try await files.tar(chain: chain, dest: dest)
        case "oci": try await files.oci(chain: chain, config: config, names: names, dest: dest)
        case "docker": try await files.docker(chain: chain, config: config, names: names, dest: dest)
        default: break
        }
    }

    private func exportCache(_ target: CacheExportTarget, exporter: RegistryCacheExporter) async throws -> OutputResults {
        let (name, options): (String, CacheExportOptions)
        switch target {
        case .inline: return OutputResults()
        case .registry(let ref, let o): (name, options) = (ref.description, o)
        case .local(let dest, let o): (name, options) = (dest, o)
        }
        do {
            var r = OutputResults()
            if case .registry(let ref, _) = target {
                r.cacheManifest = try await exporter.export(graph: graph, to: ref, options: options)
            } else {
                r.cacheManifest = try await exporter.exportLocal(graph: graph, to: name, options: options)
            }
            return r
        } catch {
            // An unfetchable blob is recovered from by the caller (the step runs again).
            if BlobUnavailable.find(in: error) != nil || error is CancellationError { throw error }
            guard options.ignoreError else { throw CLIError(description: "exporting cache to \(name): \(ErrorText.describe(error))") }
            await printer.handle(.warning(vertex: nil, short: "exporting cache to \(name) failed (ignored): \(ErrorText.describe(error))", detail: []))
            return OutputResults()
        }
    }
}
