import KilnArchive
import KilnDockerfile
import KilnOCI
import KilnSystem

/// `COPY`/`ADD`: files from the context, a stage, an image, a URL or a heredoc, written over the
/// stage's filesystem.
public struct CopyOp: Sendable {
    /// The step as planned (destination, flags, heredocs).
    public let copy: CopyStep
    /// Its sources: resolved in the context, or as written for a stage or an image (the worker
    /// resolves those inside that filesystem).
    public let sources: [CopySource]
    /// The files its URL sources downloaded to, by URL.
    public let downloads: [String: RemoteFile]
    /// Whether the stage has a filesystem under this step (not `FROM scratch` before any
    /// change): then the first input is that filesystem and a stage or image source the second.
    public let onBase: Bool

    struct KeyDefinition: Encodable {
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
        /// `--parents`: the sources as written (their paths shape the result); left out otherwise.
        var parents: [String]?
    }

    static func definition(_ copy: CopyStep, platform: Platform) -> KeyDefinition {
        let dest = copy.destination.hasPrefix("/") ? copy.destination
            : FSPath.join(copy.workdir, copy.destination) + (copy.destination.hasSuffix("/") ? "/" : "")
        return KeyDefinition(add: copy.isAdd, sources: copy.sources.map(FSPath.base), heredocs: copy.heredocs.map { "\($0.name)\u{0}\($0.content)" },
                             destination: dest, chown: copy.chown ?? "", chmod: copy.chmod.map { $0.octal.map { String($0, radix: 8) } ?? $0.description } ?? "",
                             link: copy.link, exclude: copy.exclude, platform: platform.description, unpack: copy.unpack,
                             parents: copy.parents ? copy.sources : nil)
    }

    /// Adds the vertex for `copy` on top of `state`: its key links the stage's filesystem and
    /// what it reads (the context's files and downloads by content, or a stage or image).
    static func lower(_ copy: CopyStep, name: String, stage: PlannedStage, state: Int?,
                      into g: inout GraphUnderConstruction) throws(GraphError) -> Int {
        var inputs: [[KeyInput]] = state.map { [[KeyInput(link: g.key($0), selector: nil)]] } ?? []
        var vertices = state.map { [$0] } ?? []
        let source = try self.source(copy, name: name, into: &g)
        if let key = source.key { inputs.append([key]) }
        if let from = source.vertex { vertices.append(from) }
        let downloads = g.remoteFiles.filter { copy.sources.contains($0.key) }
        let definition = definition(copy, platform: stage.platform)
        let key = try CacheKey(base: try g.stepDigest(definition), inputs: inputs)
        var facts = source.facts
        var withoutPlatform = definition
        withoutPlatform.platform = ""
        facts[FactName.instruction] = String(try Definition.digest(withoutPlatform).encoded.prefix(16))
        facts[FactName.platform] = stage.platform.description
        return g.add(name: name, op: .copy(CopyOp(copy: copy, sources: source.sources, downloads: downloads, onBase: state != nil)),
                     inputs: vertices, key: key, stage: stage, facts: facts)
    }

    /// What a copy reads: the key input for it, the vertex it comes from (nil for a context),
    /// the sources themselves and the facts describing them.
    struct Source {
        var key: KeyInput?
        var vertex: Int?
        var sources: [CopySource]
        var facts: [String: String] = [:]
    }

    private static func source(_ copy: CopyStep, name: String, into g: inout GraphUnderConstruction) throws(GraphError) -> Source {
        let written = copy.sources.filter { !CopyStep.isURL($0) }.map(DockerIgnore.clean)
        let asWritten = written.map { CopySource(name: FSPath.base($0), path: $0) }
        switch copy.from {
        case .context:
            return try contextSource(copy, in: g.context, name: name, written: written, remoteFiles: g.remoteFiles, into: &g)
        case .named(let n):
            guard let context = g.namedContexts[n] else { throw GraphError(description: "\(name): no build context named \(n)") }
            return try contextSource(copy, in: context, filePrefix: FactName.filePrefix + n + ":", name: name, written: written,
                                     remoteFiles: [:], into: &g)
        case .stage(let i):
            let label = FactName.fromPrefix + "stage " + (g.plan.stages.first { $0.index == i }?.displayName ?? String(i))
            guard let v = g.stageResults[i] else {
                // Copying from an empty scratch stage: nothing to read, the selector still names the paths.
                let link = try Definition.digest(["empty-stage"])
                return Source(key: KeyInput(link: link, selector: Definition.selector(written)), vertex: nil, sources: asWritten,
                              facts: [label: String(link.encoded.prefix(16))])
            }
            return Source(key: KeyInput(link: g.key(v), selector: Definition.selector(written)), vertex: v, sources: asWritten,
                          facts: [label: String(g.key(v).encoded.prefix(16))])
        case .image(let ref):
            let v = try g.image(ref, name: name)
            return Source(key: KeyInput(link: g.key(v), selector: Definition.selector(written)), vertex: v, sources: asWritten,
                          facts: [FactName.fromPrefix + "image " + ref: String(g.key(v).encoded.prefix(16))])
        }
    }

    /// The key input and the resolved sources of a copy from a context directory (the build's,
    /// or a named one): its files by content, and the downloads of URL sources.
    private static func contextSource(_ copy: CopyStep, in context: BuildContext, filePrefix: String = FactName.filePrefix,
                                      name: String, written: [String], remoteFiles: [String: RemoteFile],
                                      into g: inout GraphUnderConstruction) throws(GraphError) -> Source {
        guard !copy.sources.isEmpty else { return Source(sources: []) }  // heredoc-only COPY
        let local = copy.sources.filter { !CopyStep.isURL($0) }
        let urls = copy.sources.filter(CopyStep.isURL)
        let sources = local.isEmpty ? [] : try context.resolve(local, parents: copy.parents, step: name)
        var entries: [ContentChecksum.Entry] = []
        var content = local.isEmpty ? try Definition.digest(["no-context"])
            : try context.checksum(sources.map(\.path), exclude: copy.exclude, step: name) { entries.append($0) }
        var facts = StepFacts.files(entries, prefix: filePrefix)
        if !urls.isEmpty {
            // Downloaded files key the step by what was downloaded, not by the URL alone.
            var parts = [content.description]
            for u in urls {
                guard let f = remoteFiles[u] else { throw GraphError(description: "\(name): \(u) was not downloaded") }
                parts.append("\(u) \(f.digest) \(f.fileName) \(f.modified)")
                facts[FactName.urlPrefix + u] = f.digest.description
            }
            content = try Definition.digest(parts)
        }
        return Source(key: KeyInput(link: try g.contentRoot(content), selector: Definition.selector(written + urls)), vertex: nil,
                      sources: sources, facts: facts)
    }
}
