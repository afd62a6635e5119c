import Foundation
import KilnArchive
import KilnDockerfile
import KilnOCI
import KilnSystem

/// A base image as resolved from its registry.
public struct ResolvedImage: Sendable, Hashable {
    /// The reference as written (expanded).
    public var reference: String
    /// Digest of the platform's image manifest.
    public var manifestDigest: Digest
    /// The image config.
    public var config: ImageConfig
    /// The platform resolved.
    public var platform: Platform
    /// The manifest's layer descriptors.
    public var layers: [Descriptor]
    /// `registry/repository` it came from (where its blobs can be fetched or mounted from).
    public var repository: String?

    /// A resolved image.
    public init(reference: String, manifestDigest: Digest, config: ImageConfig, platform: Platform,
                layers: [Descriptor] = [], repository: String? = nil) {
        self.reference = reference
        self.manifestDigest = manifestDigest
        self.config = config
        self.platform = platform
        self.layers = layers
        self.repository = repository
    }

    /// ChainID of the rootfs: the key that still matches a re-pushed identical image.
    public var chainID: Digest { ChainID.of(config.diffIDs) }
}

/// One node of the build graph.
public struct Vertex: Sendable {
    /// Position in ``BuildGraph/vertices`` (inputs come first).
    public var index: Int
    /// `[stage i/n] INSTRUCTION args`.
    public var name: String
    /// What it does.
    public var op: VertexOp
    /// Input vertices: the filesystem state it starts from first, then copy sources.
    public var inputs: [Int]
    /// Its cache key.
    public var key: CacheKey
    /// Other root keys meaning the same result (an image's ChainID key).
    public var alternativeKeys: [CacheKey]
}

/// The operation of a vertex.
public enum VertexOp: Sendable {
    /// A base image.
    case image(ResolvedImage)
    /// A RUN.
    case exec(RunStep)
    /// A COPY/ADD; `paths` are its sources, resolved in the context (stage and image sources
    /// are resolved by the worker, inside that filesystem).
    case copy(CopyStep, paths: [CopySource])
    /// WORKDIR's directory creation.
    case mkdir(String, user: String)
}

/// The build as vertices with cache keys, computed before anything runs.
public struct BuildGraph: Sendable {
    /// Vertices, every input before its users.
    public var vertices: [Vertex]
    /// For each planned stage index, the vertex holding its final filesystem (nil: empty scratch).
    public var stageResults: [Int: Int]
    /// The plan it came from.
    public var plan: BuildPlan
    /// Content root keys (`<content>@-1`) the vertices link to, by id.
    public var contentRoots: [Digest: CacheKey] = [:]
    /// Files downloaded for `ADD <url>` steps, by URL (their bytes are in the content store).
    public var remoteFiles: [String: RemoteFile] = [:]

    /// The target stage's final vertex.
    public var target: Vertex? { stageResults[plan.target.index].map { vertices[$0] } }
}

/// A file downloaded for `ADD <url>`: its bytes are the content-store blob `digest`.
public struct RemoteFile: Sendable, Hashable {
    /// sha256 of the bytes.
    public var digest: Digest
    /// The name it takes in a destination directory.
    public var fileName: String
    /// Its mtime in the layer (the server's `Last-Modified`, else 0).
    public var modified: Int64

    /// A downloaded file.
    public init(digest: Digest, fileName: String, modified: Int64) {
        self.digest = digest
        self.fileName = fileName
        self.modified = modified
    }
}

/// Errors building the graph (missing context files, escaping paths).
public struct GraphError: Error, Sendable, CustomStringConvertible {
    /// What is wrong, with the step.
    public var description: String
}

/// Turns a ``BuildPlan`` into a ``BuildGraph``: every step's definition digest, selectors, and
/// content keys over exactly the context files each COPY reads.
public struct GraphBuilder: Sendable {
    /// The build context directory.
    public var contextDirectory: String
    /// `.dockerignore` rules for the context.
    public var ignore: DockerIgnore
    /// `SOURCE_DATE_EPOCH`: layers clamp file mtimes to it, so it is part of every step's key.
    public var sourceDateEpoch: Int64?
    /// Files downloaded for `ADD <url>` (see ``RemoteFile``), by URL; their digests key the steps.
    public var remoteFiles: [String: RemoteFile] = [:]

    /// A builder for a context.
    public init(contextDirectory: String, ignore: DockerIgnore = DockerIgnore(), sourceDateEpoch: Int64? = nil) {
        self.contextDirectory = contextDirectory
        self.ignore = ignore
        self.sourceDateEpoch = sourceDateEpoch
    }

    /// A step's definition digest, with the epoch folded in when one is set.
    func stepDigest<T: Encodable>(_ def: T) -> Digest {
        let d = Definition.digest(def)
        guard let e = sourceDateEpoch else { return d }
        return Definition.digest([d.description, "source-date-epoch=\(e)"])
    }

    /// Builds the graph; `images` gives the resolved base images by reference.
    public func build(_ plan: BuildPlan, images: [String: ResolvedImage]) throws -> BuildGraph {
        var vertices: [Vertex] = []
        var stageResults: [Int: Int] = [:]
        var imageVertices: [String: Int] = [:]
        var contentRoots: [Digest: CacheKey] = [:]

        func imageVertex(_ ref: String, name: String) throws -> Int {
            if let v = imageVertices[ref] { return v }
            guard let img = images[ref] else { throw GraphError(description: "\(name): base image \(ref) was not resolved") }
            struct ImageDef: Encodable { var type = "kiln.source.image.v0"; var digest: String; var platform: String }
            let key = CacheKey(base: Definition.digest(ImageDef(digest: img.manifestDigest.description, platform: img.platform.description)))
            struct ChainDef: Encodable { var type = "kiln.source.rootfs.v0"; var chainID: String; var platform: String }
            let alt = CacheKey(base: Definition.digest(ChainDef(chainID: img.chainID.description, platform: img.platform.description)))
            vertices.append(Vertex(index: vertices.count, name: name, op: .image(img), inputs: [], key: key, alternativeKeys: [alt]))
            imageVertices[ref] = vertices.count - 1
            return vertices.count - 1
        }

        for stage in plan.stages {
            var state: Int?
            switch stage.base {
            case .image(let ref, _): state = try imageVertex(ref, name: stage.fromName)
            case .stage(let i): state = stageResults[i]
            case .scratch: state = nil
            }
            for step in stage.steps {
                guard let name = step.vertexName else { continue }
                let stateInput = state.map { [KeyInput(link: vertices[$0].key.id, selector: nil)] }
                switch step.kind {
                case .run(let run):
                    struct ExecDef: Encodable {
                        var type = "kiln.exec.v0"
                        var command: [String]
                        var heredocs: [String]
                        var env: [String]
                        var cwd: String
                        var user: String
                        var network: String
                        var mounts: [String]
                        var platform: String
                    }
                    let command: [String]
                    switch run.command {
                    case .exec(let argv): command = argv
                    case .shell(let s): command = run.shell + [s]
                    }
                    let def = ExecDef(
                        command: command, heredocs: run.heredocs.map { "\($0.name)\u{0}\($0.expand)\u{0}\($0.content)" },
                        env: run.env.map { "\($0.0)=\($0.1)" } + run.buildArgs.map { "\($0.0)=\($0.1)" },
                        cwd: run.workdir, user: run.user, network: run.network ?? "default", mounts: run.mounts,
                        platform: stage.platform.description)
                    var inputs = state.map { [[KeyInput(link: vertices[$0].key.id, selector: Definition.rootSelector)]] } ?? []
                    var inputVertices = state.map { [$0] } ?? []
                    // Bind mounts read files: their content is part of the key, like a COPY's.
                    for m in run.parsedMounts where m.kind == .bind {
                        let source = DockerIgnore.clean(m.source ?? "")
                        if let from = m.from {
                            guard let i = plan.stages.first(where: { $0.name == from.lowercased() || String($0.index) == from })?.index,
                                  let v = stageResults[i]
                            else { throw GraphError(description: "\(name): mount from=\(from) has no result") }
                            inputs.append([KeyInput(link: vertices[v].key.id, selector: Definition.selector([source]))])
                            inputVertices.append(v)
                        } else {
                            let filter = CopyFilter(ignore: ignore, exclude: [])
                            let content: Digest
                            do {
                                let resolved = try RootedDirectory(contextDirectory).resolveRelative(source)
                                content = try ContentChecksum.digest(root: contextDirectory, paths: [resolved]) { filter.excludes($0, under: $1) }
                            } catch {
                                throw GraphError(description: "\(name): bind mount source \(source.isEmpty ? "." : source): \(error)")
                            }
                            let root = CacheKey.contentRoot(content)
                            contentRoots[root.id] = root
                            inputs.append([KeyInput(link: root.id, selector: Definition.selector([source]))])
                        }
                    }
                    vertices.append(Vertex(index: vertices.count, name: name, op: .exec(run), inputs: inputVertices,
                                           key: CacheKey(base: stepDigest(def), inputs: inputs), alternativeKeys: []))
                case .workdir(let path):
                    struct MkdirDef: Encodable { var type = "kiln.file.mkdir.v0"; var path: String; var user: String; var platform: String }
                    let key = CacheKey(base: stepDigest(MkdirDef(path: path, user: step.user, platform: stage.platform.description)),
                                       inputs: stateInput.map { [$0] } ?? [])
                    vertices.append(Vertex(index: vertices.count, name: name, op: .mkdir(path, user: step.user), inputs: state.map { [$0] } ?? [],
                                           key: key, alternativeKeys: []))
                case .copy(let copy):
                    var imageIndex: Int?
                    if case .image(let ref) = copy.from { imageIndex = try imageVertex(ref, name: name) }
                    let (sourceInput, sourceVertex, paths) = try copySource(copy, step: name, stageResults: stageResults,
                                                                            vertices: vertices, roots: &contentRoots, image: imageIndex)
                    struct CopyDef: Encodable {
                        var type = "kiln.file.copy.v0"
                        var add: Bool
                        var sources: [String]
                        var heredocs: [String]
                        var destination: String
                        var chown: String
                        var chmod: String
                        var link: Bool
                        var exclude: [String]
                        var platform: String
                        /// Left out when unset, so keys of steps without it do not change.
                        var unpack: Bool?
                    }
                    let dest = copy.destination.hasPrefix("/") ? copy.destination
                        : FSPath.join(copy.workdir, copy.destination) + (copy.destination.hasSuffix("/") ? "/" : "")
                    let def = CopyDef(
                        add: copy.isAdd, sources: copy.sources.map(FSPath.base),
                        heredocs: copy.heredocs.map { "\($0.name)\u{0}\($0.content)" }, destination: dest, chown: copy.chown ?? "",
                        chmod: copy.chmod.map { String($0, radix: 8) } ?? "", link: copy.link, exclude: copy.exclude,
                        platform: stage.platform.description, unpack: copy.unpack)
                    var inputs: [[KeyInput]] = stateInput.map { [$0] } ?? []
                    if let s = sourceInput { inputs.append([s]) }
                    vertices.append(Vertex(
                        index: vertices.count, name: name, op: .copy(copy, paths: paths),
                        inputs: (state.map { [$0] } ?? []) + (sourceVertex.map { [$0] } ?? []),
                        key: CacheKey(base: stepDigest(def), inputs: inputs), alternativeKeys: []))
                default:
                    continue
                }
                state = vertices.count - 1
            }
            if let s = state { stageResults[stage.index] = s }
        }
        return BuildGraph(vertices: vertices, stageResults: stageResults, plan: plan, contentRoots: contentRoots, remoteFiles: remoteFiles)
    }

    /// The key input for a COPY's sources, the vertex they come from (nil for the context),
    /// and the sources (resolved in the context; as written for stages and images).
    private func copySource(
        _ copy: CopyStep, step: String, stageResults: [Int: Int], vertices: [Vertex],
        roots: inout [Digest: CacheKey], image: Int?
    ) throws -> (KeyInput?, Int?, [CopySource]) {
        let written = copy.sources.filter { !CopyStep.isURL($0) }.map(DockerIgnore.clean)
        switch copy.from {
        case .context:
            guard !copy.sources.isEmpty else { return (nil, nil, []) }  // heredoc-only COPY
            let local = copy.sources.filter { !CopyStep.isURL($0) }
            let urls = copy.sources.filter(CopyStep.isURL)
            let sources = local.isEmpty ? [] : try SourceResolver(root: contextDirectory, ignore: ignore).resolve(local, step: step)
            let filter = CopyFilter(ignore: ignore, exclude: copy.exclude)
            var content: Digest
            do {
                content = local.isEmpty ? Definition.digest(["no-context"])
                    : try ContentChecksum.digest(root: contextDirectory, paths: sources.map(\.path)) { rel, source in
                        filter.excludes(rel, under: source)
                    }
            } catch {
                throw GraphError(description: "\(step): cannot read context: \(ErrorText.describe(error))")
            }
            if !urls.isEmpty {
                // Downloaded files key the step by what was downloaded, not by the URL alone.
                var parts = [content.description]
                for u in urls {
                    guard let f = remoteFiles[u] else { throw GraphError(description: "\(step): \(u) was not downloaded") }
                    parts.append("\(u) \(f.digest) \(f.fileName) \(f.modified)")
                }
                content = Definition.digest(parts)
            }
            let root = CacheKey.contentRoot(content)
            roots[root.id] = root
            return (KeyInput(link: root.id, selector: Definition.selector(written + urls)), nil, sources)
        case .stage(let i):
            let sources = written.map { CopySource(name: FSPath.base($0), path: $0) }
            guard let v = stageResults[i] else {
                // Copying from an empty scratch stage: nothing to read, the selector still names the paths.
                return (KeyInput(link: Definition.digest(["empty-stage"]), selector: Definition.selector(written)), nil, sources)
            }
            return (KeyInput(link: vertices[v].key.id, selector: Definition.selector(written)), v, sources)
        case .image(let ref):
            guard let v = image else { throw GraphError(description: "\(step): image \(ref) has no vertex") }
            let sources = written.map { CopySource(name: FSPath.base($0), path: $0) }
            return (KeyInput(link: vertices[v].key.id, selector: Definition.selector(written)), v, sources)
        }
    }
}

/// What a COPY leaves out: `.dockerignore` rules (context-relative paths) and `--exclude`
/// patterns (relative to each source, as BuildKit matches them).
public struct CopyFilter: Sendable {
    /// Context rules (empty for sources outside the context).
    public var ignore: DockerIgnore
    /// `--exclude` rules.
    public var exclude: [DockerIgnore]

    /// A filter from the context's rules and a step's `--exclude` patterns.
    public init(ignore: DockerIgnore, exclude: [String]) {
        self.ignore = ignore
        self.exclude = exclude.map { DockerIgnore(parsing: $0) }
    }

    /// Whether `path` (relative to the source root), found under the selected `source`, is left out.
    public func excludes(_ path: String, under source: String) -> Bool {
        if ignore.excludes(path) { return true }
        guard !exclude.isEmpty else { return false }
        let relative = source.isEmpty ? path : (path.hasPrefix(source + "/") ? String(path.dropFirst(source.count + 1)) : path)
        return exclude.contains { $0.excludes(relative) }
    }
}
