import Foundation
import KilnArchive
import KilnDockerfile
import KilnOCI
import KilnStore
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
    /// The digest the reference resolved to — an index's, for a multi-platform image — which
    /// BuildKit's image key is made of (nil: the manifest's).
    public var resolvedDigest: Digest?

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
    /// Where the step is written (`Dockerfile:3`), for errors.
    public var location: String?
    /// The Dockerfile index of the stage it belongs to (a base image: the first stage using it).
    public var stage: Int?
    /// What its key is made of, input by input (for `--explain`).
    public var facts: StepFacts

    /// Whether the first input is the filesystem this step changes. Not so for a COPY into a
    /// stage that is still empty scratch: its only input is where it copies from.
    public var changesFirstInput: Bool {
        guard !inputs.isEmpty else { return false }
        switch op {
        case .copy(let copy): return copy.onBase
        case .image, .exec, .mkdir: return true
        }
    }
}

/// The operation of a vertex: one type per kind of step, each owning its definition and key.
public enum VertexOp: Sendable {
    /// A base image.
    case image(ImageSourceOp)
    /// A RUN.
    case exec(ExecOp)
    /// A COPY/ADD.
    case copy(CopyOp)
    /// WORKDIR's directory creation.
    case mkdir(MkdirOp)

    /// `image`, `exec`, `copy` or `mkdir`.
    public var kind: String {
        switch self {
        case .image: "image"
        case .exec: "exec"
        case .copy: "copy"
        case .mkdir: "mkdir"
        }
    }
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

    /// The content roots each vertex's key inputs also link to, by vertex (see ``RootLink``):
    /// a cache export writes them as alternatives beside the definition key's.
    public var rootLinks: [Int: [RootLink]] = [:]

    /// The target stage's final vertex.
    public var target: Vertex? { stageResults[plan.target.index].map { vertices[$0] } }

    /// The graph with the root links the store holds for its vertices' keys.
    public func withRootLinks(from store: ContentStore) async throws -> BuildGraph {
        var g = self
        let links = try await store.rootLinks(for: vertices.map(\.key.id))
        for v in vertices { if let l = links[v.key.id] { g.rootLinks[v.index] = l } }
        return g
    }
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

/// Turns a ``BuildPlan`` into a ``BuildGraph``: each step that changes the filesystem becomes
/// a vertex whose op (``ImageSourceOp``, ``ExecOp``, ``CopyOp``, ``MkdirOp``) computes its key
/// before anything runs — definition digest, selectors, and content keys over exactly the
/// context files it reads.
public struct GraphBuilder: Sendable {
    /// The build context.
    public var context: BuildContext
    /// `SOURCE_DATE_EPOCH`: layers clamp file mtimes to it, so it is part of every step's key.
    public var sourceDateEpoch: Int64?
    /// Files downloaded for `ADD <url>` (see ``RemoteFile``), by URL; their digests key the steps.
    public var remoteFiles: [String: RemoteFile] = [:]
    /// The Dockerfile's name, for the locations errors name.
    public var fileName = "Dockerfile"
    /// `--build-context` directories, by name.
    public var namedContexts: [String: BuildContext] = [:]

    /// A builder for `context`.
    public init(context: BuildContext, sourceDateEpoch: Int64? = nil) {
        self.context = context
        self.sourceDateEpoch = sourceDateEpoch
    }

    /// A builder for the context in `contextDirectory` with `ignore`'s rules.
    public init(contextDirectory: String, ignore: DockerIgnore = DockerIgnore(), sourceDateEpoch: Int64? = nil) {
        self.init(context: BuildContext(directory: contextDirectory, ignore: ignore), sourceDateEpoch: sourceDateEpoch)
    }

    /// Builds the graph; `images` gives the resolved base images by reference.
    public func build(_ plan: BuildPlan, images: [String: ResolvedImage]) throws(GraphError) -> BuildGraph {
        var g = GraphUnderConstruction(plan: plan, images: images, context: context, namedContexts: namedContexts,
                                       sourceDateEpoch: sourceDateEpoch, remoteFiles: remoteFiles)
        for stage in plan.stages {
            var state: Int?
            switch stage.base {
            case .image(let ref, _): state = try g.image(ref, name: stage.fromName)
            case .stage(let i): state = g.stageResults[i]
            case .scratch: state = nil
            case .named(let n): state = try CopyOp.lower(.wholeContext(n), name: stage.fromName, stage: stage, state: nil, into: &g)
            }
            if let s = state, g.vertices[s].stage == nil { g.vertices[s].stage = stage.index }
            for step in stage.steps {
                guard let name = step.vertexName else { continue }
                let location = "\(fileName):\(step.instruction.line)"
                do throws(GraphError) {
                    switch step.kind {
                    case .run(let run): state = try ExecOp.lower(run, name: name, stage: stage, state: state, into: &g)
                    // As BuildKit's frontend: WORKDIR / makes no directory and no step.
                    case .workdir(let path) where path == "/": continue
                    case .workdir(let path): state = try MkdirOp.lower(path: path, user: step.user, name: name, stage: stage, state: state, into: &g)
                    case .copy(let copy): state = try CopyOp.lower(copy, name: name, stage: stage, state: state, into: &g)
                    default: continue
                    }
                } catch {
                    throw GraphError(description: "\(location): \(error.description)")
                }
                if let s = state, g.vertices[s].name == name {
                    g.vertices[s].location = location
                    g.vertices[s].stage = stage.index
                }
            }
            if let s = state { g.stageResults[stage.index] = s }
        }
        return g.graph()
    }
}
