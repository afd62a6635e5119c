import KilnArchive
import KilnDockerfile
import KilnOCI
import KilnSolver
import KilnStore
import KilnSystem

extension Worker {
    /// The key of a step that reads files from other stages, with each such stage's key replaced
    /// by the content of exactly the files read (``ContentChecksum``): for `RUN --mount=from=`
    /// the mounted path, for `COPY --from=<stage>` the resolved sources.
    public func contentKey(_ vertex: Vertex, key: CacheKey, inputs: [[CachedLayer]]) async throws -> CacheKey? {
        var keyInputs = key.inputs
        var changed = false
        switch vertex.op {
        case .exec(let op):
            // Key inputs: the stage's filesystem, then one per bind mount; vertex inputs: the
            // filesystem, then one per bind mount from a stage.
            var fromIndex = 1
            for (i, m) in op.run.parsedMounts.filter({ $0.kind == .bind }).enumerated() where m.from != nil {
                guard fromIndex < inputs.count, 1 + i < keyInputs.count else { return nil }
                let root = try await snapshots.directory(for: inputs[fromIndex], report: nil)
                let source = try RootedDirectory(root).resolveRelative(DockerIgnore.clean(m.source ?? ""))
                keyInputs[1 + i] = try Self.contentInput(root: root, paths: [source], replacing: keyInputs[1 + i])
                fromIndex += 1
                changed = true
            }
        case .copy(let op):
            guard case .stage = op.copy.from else { return nil }
            let position = op.onBase ? 1 : 0
            guard position < inputs.count, position < keyInputs.count else { return nil }
            let root = try await snapshots.directory(for: inputs[position], report: nil)
            let sources = try Self.stageSources(op.copy, written: op.sources, root: root, step: vertex.name)
            keyInputs[position] = try Self.contentInput(root: root, paths: sources.map(\.path), replacing: keyInputs[position])
            changed = true
        case .image, .mkdir:
            return nil
        }
        return changed ? try CacheKey(base: key.base, output: key.output, inputs: keyInputs) : nil
    }

    /// An input satisfied by the content of `paths` under `root`, with the selector it had.
    private static func contentInput(root: String, paths: [String], replacing old: [KeyInput]) throws -> [KeyInput] {
        let content = try ContentChecksum.digest(root: root, paths: paths)
        let link = try CacheKey.contentRoot(Digest.of(Array("stage-content\u{0}\(content)".utf8))).id
        return [KeyInput(link: link, selector: old.first?.selector)]
    }
}
