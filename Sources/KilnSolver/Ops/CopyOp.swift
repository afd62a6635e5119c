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

    /// The destination as BuildKit's frontend writes it: absolute, a trailing `/` kept.
    static func destination(_ copy: CopyStep) -> String {
        copy.destination.hasPrefix("/") ? copy.destination
            : FSPath.join(copy.workdir, copy.destination) + (copy.destination.hasSuffix("/") ? "/" : "")
    }

    /// Adds the vertex for `copy` on top of `state`, keyed as BuildKit keys the file op its
    /// frontend writes (``BuildKitFile``): the stage's filesystem without selector, then one
    /// input per source — the context by the content of the paths copied, a stage or image by
    /// its key with the paths as selector (a content alternative is added once it is solved), a
    /// heredoc by the key of the file op that makes it and by that file's content.
    static func lower(_ copy: CopyStep, name: String, stage: PlannedStage, state: Int?,
                      into g: inout GraphUnderConstruction) throws(GraphError) -> Int {
        var inputs: [[KeyInput]] = state.map { [[KeyInput(link: g.key($0), selector: nil)]] } ?? []
        var vertices = state.map { [$0] } ?? []
        let dest = destination(copy)
        var actions: [GoJSON] = []
        var secondary: [Int] = []
        for h in copy.heredocs {
            inputs.append(try heredocInput(h, into: &g))
            secondary.append(inputs.count - 1)
            actions.append(BuildKitFile.copyAction(copy, src: h.name, dest: dest, heredoc: true))
        }
        let source = try self.source(copy, name: name, into: &g)
        if let key = source.key {
            inputs.append([key])
            for s in copy.sources where !CopyStep.isURL(s) {
                secondary.append(inputs.count - 1)
                actions.append(BuildKitFile.copyAction(copy, src: BuildKitFile.baseName(s), dest: dest, heredoc: false))
            }
        }
        if let from = source.vertex { vertices.append(from) }
        let downloads = g.remoteFiles.filter { copy.sources.contains($0.key) }
        let indexes = BuildKitFile.indexes(count: actions.count, onBase: state != nil, inputs: inputs.count) { secondary[$0] }
        let cacheMap = BuildKitCacheMap.file(actions: actions, indexes: indexes, kiln: kilnOnly(copy, downloads: downloads))
        let key = try CacheKey(base: g.stepDigest(cacheMap), inputs: inputs)
        var facts = source.facts
        facts[FactName.instruction] = String(cacheMap.encoded.prefix(16))
        facts[FactName.platform] = stage.platform.description
        return g.add(name: name, op: .copy(CopyOp(copy: copy, sources: source.sources, downloads: downloads, onBase: state != nil)),
                     inputs: vertices, key: key, stage: stage, facts: facts)
    }

    /// What only Kiln's key holds: flags BuildKit expresses with other ops, and the files `ADD`
    /// downloaded (BuildKit keys those by an HTTP source).
    static func kilnOnly(_ copy: CopyStep, downloads: [String: RemoteFile]) -> GoJSON? {
        var fields: [(String, GoJSON?)] = []
        if copy.link { fields.append(("link", .bool(true))) }
        if copy.parents { fields.append(("parents", .array(copy.sources.map(GoJSON.string)))) }
        if !copy.heredocs.isEmpty, !copy.sources.isEmpty { fields.append(("mixed", .bool(true))) }
        let urls = copy.sources.filter(CopyStep.isURL)
        if !urls.isEmpty {
            fields.append(("urls", .array(urls.map { u in
                let f = downloads[u]
                return .string("\(u) \(f?.digest.description ?? "") \(f?.fileName ?? "") \(f?.modified ?? 0) \(copy.isAdd) \(copy.unpack.map(String.init) ?? "")")
            })))
        }
        return fields.isEmpty ? nil : .fields(fields)
    }

    /// A heredoc's input: the key of the mkfile op that makes `/NAME` (with that path as
    /// selector) and, as BuildKit's content alternative, the content of the file it makes.
    static func heredocInput(_ h: Instruction.Heredoc, into g: inout GraphUnderConstruction) throws(GraphError) -> [KeyInput] {
        let mkfile = BuildKitCacheMap.file(actions: [BuildKitFile.mkfileAction(h)], indexes: [[-1, -1, 0]])
        let made = try CacheKey(base: mkfile, output: 0)
        g.contentRoots[made.id] = made
        let content = try g.contentRoot(BuildKitCacheMap.contentDigest([BuildKitFile.heredocChecksum(h)]))
        return [KeyInput(link: made.id, selector: BuildKitCacheMap.fileSelector(["/" + h.name])), KeyInput(link: content, selector: nil)]
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
        let written = copy.sources.filter { !CopyStep.isURL($0) }
        let asWritten = written.map(DockerIgnore.clean).map { CopySource(name: FSPath.base($0), path: $0) }
        let selector = BuildKitCacheMap.fileSelector(written.map(BuildKitFile.selectorPath))
        switch copy.from {
        case .context:
            return try contextSource(copy, in: g.context, name: name, written: written, into: &g)
        case .named(let n):
            guard let context = g.namedContexts[n] else { throw GraphError(description: "\(name): no build context named \(n)") }
            return try contextSource(copy, in: context, filePrefix: FactName.filePrefix + n + ":", name: name, written: written, into: &g)
        case .stage(let i):
            let label = FactName.fromPrefix + "stage " + (g.plan.stages.first { $0.index == i }?.displayName ?? String(i))
            guard let v = g.stageResults[i] else {
                // Copying from an empty scratch stage: nothing to read, the selector still names the paths.
                let link = try Definition.digest(["empty-stage"])
                return Source(key: KeyInput(link: link, selector: selector), vertex: nil, sources: asWritten,
                              facts: [label: String(link.encoded.prefix(16))])
            }
            return Source(key: KeyInput(link: g.key(v), selector: selector), vertex: v, sources: asWritten,
                          facts: [label: String(g.key(v).encoded.prefix(16))])
        case .image(let ref):
            let v = try g.image(ref, name: name)
            return Source(key: KeyInput(link: g.key(v), selector: selector), vertex: v, sources: asWritten,
                          facts: [FactName.fromPrefix + "image " + ref: String(g.key(v).encoded.prefix(16))])
        }
    }

    /// The key input and the resolved sources of a copy from a context directory (the build's,
    /// or a named one): BuildKit's content key over the paths copied, without selector (the
    /// context's own key is tied to a session and never exported). Nil key: no file source.
    private static func contextSource(_ copy: CopyStep, in context: BuildContext, filePrefix: String = FactName.filePrefix,
                                      name: String, written: [String], into g: inout GraphUnderConstruction) throws(GraphError) -> Source {
        guard !written.isEmpty else { return Source(sources: []) }  // heredocs or URLs only
        let sources = try context.resolve(written, parents: copy.parents, step: name)
        var entries: [BuildKitContentHash.Entry] = []
        let content = try BuildKitContent.contextDigest(written, resolved: sources, in: context, copy: copy, step: name) { entries.append($0) }
        return Source(key: KeyInput(link: try g.contentRoot(content), selector: nil), vertex: nil, sources: sources,
                      facts: StepFacts.files(entries, prefix: filePrefix))
    }
}
