import CKilnSys
import Foundation
import KilnArchive
import KilnDockerfile
import KilnOCI
import KilnSolver
import KilnStore
import KilnSystem
import KilnProgress

/// A step the worker cannot run.
public struct WorkerError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public var description: String
    init(_ d: String) { description = d }
}

/// Runs the vertices of a build: RUN in a runc container over the input's snapshot, COPY,
/// ADD and WORKDIR as a staging tree; either way the change is packed as a deterministic layer
/// into the content store.
public struct Worker: VertexExecutor {
    let store: ContentStore
    let snapshots: any Snapshotter
    let context: BuildContext
    let secrets: BuildSecrets
    let packer: LayerPacker
    let sourceDateEpoch: Int64?
    /// With `--no-cache`: the cache mounts this build has started afresh.
    let freshCaches: FreshCacheMounts?
    /// `--build-context` directories, by name.
    public var namedContexts: [String: BuildContext] = [:]
    /// Cache mount contents imported with `--cache-from`.
    public var cacheMountSeeds: CacheMountSeeds?
    var contextDirectory: String { context.directory }

    /// A worker for `context`; `secrets` are the `--secret` values (kept in memory);
    /// `sourceDateEpoch` clamps the mtimes of files in the layers it makes.
    public init(store: ContentStore, snapshots: any Snapshotter, context: BuildContext,
                secrets: BuildSecrets = BuildSecrets(), sourceDateEpoch: Int64? = nil, noCache: Bool = false) {
        self.freshCaches = noCache ? FreshCacheMounts() : nil
        self.packer = LayerPacker(options: PackOptions(sourceDateEpoch: sourceDateEpoch))
        self.sourceDateEpoch = sourceDateEpoch
        self.store = store
        self.snapshots = snapshots
        self.context = context
        self.secrets = secrets
    }

    public func execute(_ vertex: Vertex, in graph: BuildGraph, inputs: [[CachedLayer]],
                        report: @escaping @Sendable (ProgressEvent) async -> Void) async throws -> StepResult {
        do {
            return .layer(try await run(vertex, graph: graph, inputs: inputs, report: report))
        } catch let missing as BlobUnavailable {
            // An input's layer (a lazy cache hit) is gone from every source: the solver runs
            // the steps that made it again.
            return .unavailable(missing)
        }
    }

    private func run(_ vertex: Vertex, graph: BuildGraph, inputs: [[CachedLayer]],
                     report: @escaping @Sendable (ProgressEvent) async -> Void) async throws -> CachedLayer? {
        let vertexID = vertex.key.id
        let pulls: TransferReporter = { id, name, current, total in
            await report(.status(TaskStatus(vertex: vertexID, id: id, name: name, current: current, total: total)))
        }
        switch vertex.op {
        case .image:
            return nil
        case .exec(let op):
            return try await exec(op, inputs: inputs, pulls: pulls) { data, stream in
                await report(.log(vertex: vertexID, stream: stream, data: data))
            }
        case .mkdir(let op):
            let (path, user) = (op.path, op.user)
            // Directories that exist stay as they are; new ones belong to the USER in effect.
            let rootfs = inputs.isEmpty ? nil : try await snapshots.directory(for: inputs[0], report: pulls)
            let reference = rootfs.map(RootedDirectory.init)
            let target = try Self.landing(path, in: reference)
            if reference?.isDirectory(target) == true { return nil }
            let owner: (uid: uid_t, gid: gid_t) = user.isEmpty ? (0, 0) : try Self.parseOwner(user, rootfs: rootfs)
            return try await layer { staging in
                let copier = FileCopier(sourceRoot: "/", stagingRoot: staging, owner: (0, 0), chmod: nil, reference: reference, excluded: { _ in false })
                copier.parentOwner = owner
                try copier.makeParents(of: FSPath.under(staging, target) + "/.")
                copier.settleParents()
            }
        case .copy(let op):
            let base = op.onBase ? inputs.first : nil
            let from = op.onBase ? inputs.dropFirst().first : inputs.first
            return try await copyLayer(op.copy, paths: op.sources, step: vertex.name, remote: op.downloads,
                                       chains: (base: base, from: from), report: pulls)
        }
    }

    /// A RUN: a writable root over its input, its mounts, runc; the change packed as a layer
    /// (from the overlay upper directory alone, which then becomes the layer's unpacked
    /// directory; or, on the copying fallback, as the difference from the chain's view).
    private func exec(_ op: ExecOp, inputs: [[CachedLayer]], pulls: @escaping TransferReporter,
                      log: @escaping @Sendable ([UInt8], Int) async -> Void) async throws -> CachedLayer? {
        let run = op.run
        let stageBinds = run.parsedMounts.filter { $0.kind == .bind && $0.from != nil }.count
        guard inputs.count > stageBinds, let chain = inputs.first else {
            throw WorkerError("RUN needs a base image with a shell (FROM scratch has none)")
        }
        var stageSources: [String] = []
        for input in inputs.dropFirst() { stageSources.append(try await snapshots.directory(for: input, report: pulls)) }
        let root = try await snapshots.prepareRun(chain, report: pulls)
        do {
            let layer = try await runAndPack(op, root: root, stageSources: stageSources, log: log)
            HostFiles.removeTree(root.work)
            return layer
        } catch {
            await snapshots.finish(root)
            HostFiles.removeTree(root.work)
            throw error
        }
    }

    private func runAndPack(_ op: ExecOp, root: RunRoot, stageSources: [String],
                            log: @escaping @Sendable ([UInt8], Int) async -> Void) async throws -> CachedLayer? {
        let prepared = try await PreparedMounts.prepare(op.run.parsedMounts, store: store, context: contextDirectory,
                                                        stageSources: stageSources, secrets: secrets, fresh: freshCaches,
                                                        seeds: cacheMountSeeds)
        defer { prepared.release() }
        let runner = ExecRunner(store: store, root: root, op: op, mounts: prepared, report: log)
        let before = try await runner.execute()
        runner.removeArtifacts(before)
        await snapshots.finish(root)
        let (packer, upper, lower, rootfs) = (self.packer, root.upper, root.lower, root.rootfs)
        // A RUN always adds a layer, empty when it changed nothing (as BuildKit's images have).
        let layer = try await commitLayer(keepEmpty: true) { tar in
            if let upper {
                try TreeDiff(packer: packer).diffOverlayUpper(upper, lower: lower, into: tar)
            } else {
                try TreeDiff(packer: packer).diff(lower: lower, upper: rootfs, into: tar)
            }
        }
        if let layer, let upper { try await snapshots.layers.adopt(upper, as: layer, epoch: sourceDateEpoch) }
        return layer
    }

    /// Where `path` (absolute in the image) lands in the filesystem `reference`: existing
    /// symlinks followed inside it, the missing rest as written.
    static func landing(_ path: String, in reference: RootedDirectory?) throws -> String {
        guard let reference else { return FSPath.clean(path) }
        do {
            return "/" + (try reference.resolveAllowingMissing(path))
        } catch {
            throw WorkerError("\(path): \(error)")
        }
    }

    /// Where a COPY writes: the destination as the image resolves it, and whether it is a
    /// directory to copy into (`.`, a trailing `/`, several sources, or one that exists).
    struct Destination {
        var path: String
        var isDirectory: Bool
    }

    static func destination(_ copy: CopyStep, sourceCount: Int, reference: RootedDirectory?) throws -> Destination {
        let written = FSPath.join(copy.workdir, copy.destination)
        let d = copy.destination
        let spelledAsDirectory = d.hasSuffix("/") || d == "." || d.hasSuffix("/.") || d == ".." || d.hasSuffix("/..")
        let path = try landing(written, in: reference)
        let isDirectory = spelledAsDirectory || sourceCount > 1 || reference?.isDirectory(path) == true
        return Destination(path: path, isDirectory: isDirectory)
    }

    private func copyLayer(_ copy: CopyStep, paths: [CopySource], step: String, remote: [String: RemoteFile],
                           chains: (base: [CachedLayer]?, from: [CachedLayer]?),
                           report: @escaping TransferReporter) async throws -> CachedLayer? {
        let sourceRoot: String
        let sources: [CopySource]
        var sourceContext: BuildContext?
        switch copy.from {
        case .context:
            sourceRoot = contextDirectory
            sources = paths
            sourceContext = context
        case .named(let name):
            guard let named = namedContexts[name] else { throw WorkerError("\(step): no build context named \(name)") }
            sourceRoot = named.directory
            sources = paths
            sourceContext = named
        case .stage, .image:
            sourceRoot = try await snapshots.directory(for: chains.from ?? [], report: report)
            sources = try Self.stageSources(copy, written: paths, root: sourceRoot, step: step)
        }
        // The filesystem being changed: existing parent directories keep their metadata.
        var destRoot: String?
        if let base = chains.base { destRoot = try await snapshots.directory(for: base, report: report) }
        let reference = destRoot.map(RootedDirectory.init)
        // Files from a context directory belong to root unless --chown says otherwise.
        let owner: (uid: uid_t, gid: gid_t)? = try copy.chown.map { try Self.parseOwner($0, rootfs: destRoot) }
            ?? (sourceContext != nil ? (0, 0) : nil)
        let filter = sourceContext?.filter(exclude: copy.exclude) ?? CopyFilter(ignore: DockerIgnore(), exclude: copy.exclude)
        let urls = copy.from == .context ? copy.sources.filter(CopyStep.isURL) : []
        let downloads = try urls.map { u throws -> (String, RemoteFile) in
            guard let f = remote[u] else { throw WorkerError("\(u) was not downloaded") }
            return (store.path(for: f.digest), f)
        }
        var destination = try Self.destination(copy, sourceCount: sources.count + urls.count + copy.heredocs.count, reference: reference)
        if copy.parents { destination.isDirectory = true }
        let job = CopyJob(copy: copy, sources: sources, sourceRoot: sourceRoot, reference: reference, owner: owner,
                          filter: filter, downloads: downloads, dest: destination)
        return try await layer { staging in try job.fill(staging) }
    }

    /// The sources of a COPY from a stage or an image, resolved inside that filesystem (`written`:
    /// as the graph carries them; `--parents` resolves the sources as the Dockerfile wrote them).
    static func stageSources(_ copy: CopyStep, written: [CopySource], root: String, step: String) throws -> [CopySource] {
        let resolver = SourceResolver(root: root)
        return copy.parents ? try resolver.resolveParents(copy.sources, step: step) : try resolver.resolve(written.map(\.path), step: step)
    }

    /// Extracts the archive at `path` into `dest` of the staging tree; missing parents are made
    /// as a copy makes them (settled by `copier`).
    /// Entries land where the filesystem below leads them (its symlinks followed inside it) and
    /// belong to `owner` when one is given.
    static func extract(_ path: String, into dest: String, staging: String, copier: FileCopier,
                                reference: RootedDirectory?, owner: (uid: uid_t, gid: gid_t)?) throws {
        if let owner { copier.parentOwner = owner }
        try copier.makeParents(of: FSPath.under(staging, dest) + "/.")
        var applier = LayerApplier(root: staging)
        applier.owner = owner.map { (UInt32($0.uid), UInt32($0.gid)) }
        applier.landing = { parent in String(try landing(FSPath.join(dest, parent), in: reference).drop(while: { $0 == "/" })) }
        try applier.apply(try DetectedCompression.detect(path: path).decompressing(FileSource(path: path)))
    }

    /// Writes one file at `path` (through `write`) with `mode` and `owner` (root when nil);
    /// missing parents are made as a copy makes them.
    static func placeFile(_ path: String, copier: FileCopier, mode: UInt32, owner: (uid: uid_t, gid: gid_t)?,
                                  write: (String) throws -> Void) throws {
        try copier.makeParents(of: path)
        try write(path)
        chmod(path, mode_t(mode))
        let o = owner ?? (0, 0)
        _ = lchown(path, o.uid, o.gid)
    }

    /// Runs `fill` on a fresh staging directory and packs what it made as a layer; the staging
    /// tree then becomes the layer's unpacked directory.
    private func layer(_ fill: @escaping @Sendable (String) throws -> Void) async throws -> CachedLayer? {
        let staging = store.newScratchPath("stage")
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        defer { HostFiles.removeTree(staging) }
        try await BlockingIO.run { try fill(staging) }
        guard !(try FileManager.default.contentsOfDirectory(atPath: staging)).isEmpty else { return nil }
        let packer = self.packer
        guard let layer = try await commitLayer({ tar in try packer.pack(directory: staging, into: tar) }) else { return nil }
        try await snapshots.layers.adopt(staging, as: layer, epoch: sourceDateEpoch)
        return layer
    }

    /// Writes a layer through `write` (gzip, digests while writing) into the store; nil when it
    /// holds nothing (an empty tar: the step changed nothing) unless `keepEmpty`.
    private func commitLayer(keepEmpty: Bool = false, _ write: @escaping @Sendable (TarWriter) throws -> Void) async throws -> CachedLayer? {
        let ingest = store.newIngestPath()
        let blob: LayerBlob = try await BlockingIO.run {
            let writer = try LayerWriter(path: ingest, compression: .gzipDefault)
            try write(writer.tar)
            return try writer.finish()
        }
        guard keepEmpty || blob.uncompressedSize > 1024 else {
            unlink(ingest)
            return nil
        }
        try await store.commit(ingestPath: ingest, digest: blob.digest, mediaType: MediaType.ociLayerGzip, diffID: blob.diffID,
                               uncompressedSize: blob.uncompressedSize)
        return CachedLayer(digest: blob.digest, diffID: blob.diffID, mediaType: MediaType.ociLayerGzip, size: blob.size,
                           createdAt: Int64(Date().timeIntervalSince1970))
    }

    static func isArchive(_ path: String) throws -> Bool {
        let kind = try DetectedCompression.detect(path: path)
        let reader = TarReader(source: try kind.decompressing(FileSource(path: path)))
        return (try? reader.next()) != nil
    }

    /// `uid[:gid]` numbers, or names looked up in the image's `/etc/passwd` and `/etc/group`
    /// (read inside the image: links in it never lead to the host's files).
    static func parseOwner(_ spec: String, rootfs: String?) throws -> (uid: uid_t, gid: gid_t) {
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        let image = rootfs.map(RootedDirectory.init)
        func read(_ file: String) -> String? {
            (try? image?.readFile(file)).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) }
        }
        func lookup(_ name: String, file: String, field: Int) throws -> UInt32 {
            if let n = UInt32(name) { return n }
            guard let text = read(file) else {
                throw WorkerError("--chown=\(spec): cannot resolve '\(name)' without \(file) in the image")
            }
            for line in text.split(separator: "\n") {
                let f = line.split(separator: ":", omittingEmptySubsequences: false)
                if f.count > field, f[0] == name, let n = UInt32(f[field]) { return n }
            }
            throw WorkerError("--chown=\(spec): '\(name)' not found in \(file)")
        }
        let uid = try lookup(parts[0], file: "/etc/passwd", field: 2)
        var gid = uid
        if parts.count > 1 {
            gid = try lookup(parts[1], file: "/etc/group", field: 2)
        } else if UInt32(parts[0]) == nil, let text = read("/etc/passwd") {
            for line in text.split(separator: "\n") {
                let f = line.split(separator: ":", omittingEmptySubsequences: false)
                if f.count > 3, f[0] == parts[0], let g = UInt32(f[3]) { gid = g }
            }
        }
        return (uid, gid)
    }
}
