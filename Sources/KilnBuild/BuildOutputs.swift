import Foundation
import KilnCache
import KilnDockerfile
import KilnExport
import KilnOCI
import KilnProgress
import KilnSolver
import KilnStore
import KilnSystem

/// Everything a build writes once its target is solved — image pushes, file outputs and cache
/// exports — all at the same time (pushes of one blob to one registry are serialized, so the
/// second mounts the first's copy). A layer that turns out unfetchable is an outcome the session
/// acts on (the steps that made it run again), not an error.
struct BuildOutputs: Sendable {
    let context: ExportContext
    let filesystems: any ChainFilesystems
    let plan: BuildPlan
    let images: [String: ResolvedImage]
    /// The graph; after the solve, with the content keys it found.
    var graph: BuildGraph
    let request: BuildRequest
    let printer: any ProgressPrinter

    /// What writing them came to.
    enum Outcome: Sendable {
        /// Written; the parts of the result they made.
        case written(BuildResult)
        /// A layer of the chain could not be fetched from any source.
        case unavailable(BlobUnavailable)
    }

    /// One output's part of the result.
    private enum Piece: Sendable {
        case image(Descriptor, configDigest: Digest)
        case cache(Descriptor?)
        case file
        case unavailable(BlobUnavailable)
    }

    /// Writes every output for the target's `chain`.
    func run(chain: [CachedLayer]) async throws -> Outcome {
        let cacheExporter = RegistryCacheExporter(context: context) { [printer] message in
            await printer.handle(.warning(vertex: nil, short: message, detail: []))
        }
        var result = BuildResult()
        var config: ImageConfig?
        if request.assembleImage || !request.outputs.isEmpty {
            var c = try await assembleConfig(chain: chain)
            if request.cacheExports.contains(.inline) {
                c.fields["moby.buildkit.cache.v0"] = .string(try await cacheExporter.inlineValue(graph: graph))
            }
            result.configDigest = Digest.of(try c.encoded())
            config = c
        }
        let pieces = try await write(chain: chain, config: config, cacheExporter: cacheExporter)
        for piece in pieces {
            switch piece {
            case .unavailable(let missing): return .unavailable(missing)
            case .image(let d, let configDigest):
                result.imageDescriptor = d
                result.configDigest = configDigest
            case .cache(let d): if let d { result.cacheManifests.append(d) }
            case .file: break
            }
        }
        if result.imageDescriptor != nil { result.imageNames = imageNames }
        return .written(result)
    }

    /// Exports every `--cache-to` (but inline) after a failed solve: the steps that completed,
    /// each export in its mode. A failure here is a warning — the build's own error is the one
    /// that ends it.
    func exportCacheOfFailedBuild() async {
        let targets = request.cacheExports.filter { $0 != .inline }
        guard !targets.isEmpty else { return }
        let exporter = RegistryCacheExporter(context: context) { [printer] message in
            await printer.handle(.warning(vertex: nil, short: message, detail: []))
        }
        await withTaskGroup(of: Void.self) { group in
            for target in targets {
                group.addTask {
                    do {
                        _ = try await progress(Self.vertexName(target) + " (steps that completed)", key: "failed \(target)") {
                            try await exportCache(target, exporter: exporter.reporting(to: $0))
                        }
                    } catch {
                        await printer.handle(.warning(vertex: nil, short: "exporting the cache of the failed build failed: \(ErrorText.describe(error))",
                                                      detail: []))
                    }
                }
            }
        }
    }

    /// The names of the image: every `-t` and every image output's references, once each.
    var imageNames: [String] {
        var names = request.tags.map(\.description)
        for case .image(let refs, _, _) in request.outputs { for r in refs.map(\.description) where !names.contains(r) { names.append(r) } }
        return names
    }

    private func assembleConfig(chain: [CachedLayer]) async throws -> ImageConfig {
        var assembler = ImageAssembler(plan: plan, images: images, sourceDateEpoch: request.sourceDateEpoch)
        assembler.labels = request.labels
        try await assembler.learnChains(from: graph, store: context.store)
        return try assembler.config(chain: chain, graph: graph)
    }

    /// Every output at once, each as a progress vertex.
    private func write(chain: [CachedLayer], config: ImageConfig?, cacheExporter: RegistryCacheExporter) async throws -> [Piece] {
        try await withThrowingTaskGroup(of: Piece.self) { group in
            let pushes = request.outputs.compactMap { o -> ([Reference], ImageOutputOptions)? in
                if case .image(let refs, true, let options) = o { return (refs, options) } else { return nil }
            }
            if let config, !pushes.isEmpty {
                group.addTask { try await progress("exporting to image", key: "image") { try await pushImage(chain, config, pushes, $0) } }
            }
            for o in request.outputs where o.destination != nil {
                group.addTask {
                    try await progress(Self.vertexName(o), key: "\(o)") { try await writeFile(o, chain: chain, config: config, $0) }
                }
            }
            for target in request.cacheExports where target != .inline {
                group.addTask {
                    try await progress(Self.vertexName(target), key: "\(target)") {
                        try await exportCache(target, exporter: cacheExporter.reporting(to: $0))
                    }
                }
            }
            var pieces: [Piece] = []
            for try await p in group { pieces.append(p) }
            return pieces
        }
    }

    /// Runs one output as a progress vertex, so a long push or export is visible. A layer that
    /// turned out unfetchable leaves the vertex open: the output runs again once the steps that
    /// made the layer have.
    private func progress(_ name: String, key: String, _ body: (ExportProgress) async throws -> Piece) async throws -> Piece {
        let id = Digest.of(Data("kiln output \(key)".utf8))
        let report: @Sendable (ProgressEvent) async -> Void = { [printer] in await printer.handle($0) }
        do {
            return try await reportingVertex(name, id: id, report: report, leaveOpen: { $0 is BlobUnavailable }) {
                try await body(ExportProgress(vertex: id, report: report))
            }
        } catch let missing as BlobUnavailable {
            return .unavailable(missing)
        }
    }

    private func pushImage(_ chain: [CachedLayer], _ config: ImageConfig, _ pushes: [([Reference], ImageOutputOptions)],
                           _ progress: ExportProgress) async throws -> Piece {
        let exporter = ImageExporter(context: context.reporting(to: progress))
        var last: Piece = .file
        for (refs, o) in pushes {
            var options = o
            options.annotations = request.annotations
            let (desc, pushedConfig) = try await exporter.push(chain: chain, config: config, to: refs, options: options)
            last = .image(desc, configDigest: Digest.of(pushedConfig))
        }
        return last
    }

    private func writeFile(_ o: BuildOutput, chain: [CachedLayer], config: ImageConfig?, _ progress: ExportProgress) async throws -> Piece {
        let files = FileExporters(fetcher: context.fetcher, filesystems: filesystems)
        let data = try config?.encoded() ?? Data()
        let name = o.destination.map { "writing to \($0)" } ?? "writing"
        try await progress.task(name) {
            switch o {
            case .local(let dest): try await files.local(chain: chain, dest: dest)
            case .tar(let dest): try await files.tar(chain: chain, dest: dest)
            case .oci(let dest, let names):
                try await files.oci(chain: chain, config: data, names: names.isEmpty ? imageNames : names, dest: dest,
                                    platform: plan.target.platform, annotations: request.annotations)
            case .docker(let dest, let names):
                if request.annotations != ImageAnnotations() {
                    await printer.handle(.warning(vertex: nil, short: "type=docker output \(dest): a docker archive has no place for annotations; they are left out", detail: []))
                }
                try await files.docker(chain: chain, config: data, names: names.isEmpty ? imageNames : names, dest: dest)
            case .image: break
            }
        }
        return .file
    }

    private func exportCache(_ target: CacheExportTarget, exporter: RegistryCacheExporter) async throws -> Piece {
        let (name, options): (String, CacheExportOptions)
        switch target {
        case .inline: return .cache(nil)
        case .registry(let ref, let o): (name, options) = (ref.description, o)
        case .local(let dest, let o): (name, options) = (dest, o)
        }
        do {
            if case .registry(let ref, _) = target { return .cache(try await exporter.export(graph: graph, to: ref, options: options)) }
            return .cache(try await exporter.exportLocal(graph: graph, to: name, options: options))
        } catch let e as BlobUnavailable {
            throw e  // the session recovers from it
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            guard options.ignoreError else { throw ExportError("exporting cache to \(name): \(ErrorText.describe(error))") }
            await printer.handle(.warning(vertex: nil, short: "exporting cache to \(name) failed (ignored): \(ErrorText.describe(error))", detail: []))
            return .cache(nil)
        }
    }

    /// Vertex names of the outputs, as BuildKit names them.
    static func vertexName(_ o: BuildOutput) -> String {
        switch o {
        case .image: "exporting to image"
        case .local: "exporting to client directory"
        case .tar: "exporting to client tarball"
        case .oci: "exporting to oci image format"
        case .docker: "exporting to docker image format"
        }
    }

    static func vertexName(_ target: CacheExportTarget) -> String {
        switch target {
        case .registry: "exporting cache to registry"
        case .local: "exporting cache to client directory"
        case .inline: "exporting inline cache"
        }
    }
}
