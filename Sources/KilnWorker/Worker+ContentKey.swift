import KilnArchive
import KilnDockerfile
import KilnOCI
import KilnSolver
import KilnStore
import KilnSystem

extension Worker {
    /// The key of a step that reads files from other stages, with each such stage's key replaced
    /// by BuildKit's content key over exactly the files read (``BuildKitContentHash``, no
    /// selector): for `RUN --mount=from=` the mounted paths, for `COPY --from=` (a stage or an image) the sources.
    public func contentKey(_ vertex: Vertex, key: CacheKey, inputs: [[CachedLayer]]) async throws -> ContentKey? {
        var keyInputs = key.inputs
        var roots: [CacheKey] = []
        var changed = false
        switch vertex.op {
        case .exec(let op):
            // Key inputs: the filesystem, then one per mounted source (stages first used in
            // target order); vertex inputs: the filesystem, then the stages, in that order.
            let exec = BuildKitExec(run: op.run, onBase: vertex.changesFirstInput)
            var fromIndex = vertex.changesFirstInput ? 1 : 0
            for (i, input) in exec.inputs.enumerated() {
                guard case .stage = input.source else { continue }
                let keyIndex = i + (vertex.changesFirstInput ? 1 : 0)
                guard fromIndex < inputs.count, keyIndex < keyInputs.count else { return nil }
                let root = try await snapshots.directory(for: inputs[fromIndex], report: nil)
                let paths = try BuildKitCacheMap.dedupePaths(input.selectors).map { try RootedDirectory(root).resolveRelative(String($0.dropFirst())) }
                let content = try Self.contentRoot(root: root, paths: paths)
                keyInputs[keyIndex] = [KeyInput(link: content.id, selector: nil)]
                roots.append(content)
                fromIndex += 1
                changed = true
            }
        case .copy(let op):
            switch op.copy.from {
            case .stage, .image: break  // BuildKit's content alternative for any LLB input
            case .context, .named: return nil  // keyed by content already
            }
            let position = op.onBase ? 1 : 0
            let keyPosition = position + op.copy.heredocs.count
            guard position < inputs.count, keyPosition < keyInputs.count else { return nil }
            let root = try await snapshots.directory(for: inputs[position], report: nil)
            var sums: [(String, Digest)] = []
            for written in op.sources {
                let resolved = try Self.stageSources(op.copy, written: [written], root: root, step: vertex.name)
                for s in resolved { sums.append((FSPath.join("/", written.path), try BuildKitContentHash.checksum(root: root, relative: s.path))) }
            }
            sums.sort { $0.0 < $1.0 }
            let content = try CacheKey.contentRoot(BuildKitCacheMap.contentDigest(sums.map(\.1)))
            keyInputs[keyPosition] = [KeyInput(link: content.id, selector: nil)]
            roots.append(content)
            changed = true
        case .image, .mkdir:
            return nil
        }
        return changed ? ContentKey(key: try CacheKey(base: key.base, output: key.output, inputs: keyInputs), roots: roots) : nil
    }

    /// The content root (`<digest>@-1`) of `paths` under `root`, as BuildKit's content hash
    /// function makes it.
    private static func contentRoot(root: String, paths: [String]) throws -> CacheKey {
        try CacheKey.contentRoot(BuildKitCacheMap.contentDigest(try paths.map { try BuildKitContentHash.checksum(root: root, relative: $0) }))
    }
}
