import Foundation
import KilnArchive
import KilnDockerfile
import KilnOCI
import KilnSystem

/// BuildKit's content keys over a copy's sources (`NewContentHashFunc` over the file op's
/// selectors, `cache/contenthash` per selector): one checksum per selector — the plain paths
/// deduplicated, a wildcard by its matches — sorted by path and NUL-joined.
enum BuildKitContent {
    /// The content digest of a COPY's `written` sources from `context` (`resolved`: all of them
    /// resolved, for `--parents`). `observe` hears every file covered.
    static func contextDigest(_ written: [String], resolved: [CopySource], in context: BuildContext, copy: CopyStep, step: String,
                              observe: ((BuildKitContentHash.Entry) -> Void)?) throws(GraphError) -> Digest {
        let filter = context.filter(exclude: copy.exclude)
        func sum(_ path: String) throws(GraphError) -> Digest {
            do {
                return try BuildKitContentHash.checksum(root: context.directory, relative: path, excluded: { filter.excludes($0, under: path) },
                                                        observe: observe)
            } catch {
                throw GraphError(description: "\(step): cannot read context: \(ErrorText.describe(error))")
            }
        }
        if copy.parents { return BuildKitCacheMap.contentDigest(try resolved.map { s throws(GraphError) in try sum(s.path) }) }
        var plain: [String: String] = [:]  // selector path -> resolved path
        var patterns: [(String, Digest)] = []
        for src in written {
            let selector = BuildKitFile.selectorPath(src)
            if SourceResolver.isPattern(DockerIgnore.clean(src)) {
                let matches = (try? context.resolve([src], step: step)) ?? []
                patterns.append((selector, try wildcardDigest(selector, matches: matches, sum: sum)))
            } else if let r = try context.resolve([src], step: step).first {
                plain[selector] = r.path
            }
        }
        var sums: [(String, Digest)] = patterns
        for p in BuildKitCacheMap.dedupePaths(Array(plain.keys)) {
            if let r = plain[p] { sums.append((p, try sum(r))) }
        }
        sums.sort { $0.0 < $1.0 }
        return BuildKitCacheMap.contentDigest(sums.map(\.1))
    }

    /// A wildcard selector's checksum: nothing matched, the empty digest; one match named like
    /// the pattern, its checksum; else each match's `\0NAME` and checksum, by name.
    static func wildcardDigest(_ pattern: String, matches: [CopySource], sum: (String) throws(GraphError) -> Digest) throws(GraphError) -> Digest {
        if matches.isEmpty { return Digest.of(Data()) }
        if matches.count == 1, FSPath.base(pattern) == matches[0].name { return try sum(matches[0].path) }
        var list = Data()
        for m in matches.sorted(by: { $0.name < $1.name }) {
            list.append(Data("\u{0}\(m.name)\(try sum(m.path))".utf8))
        }
        return Digest.of(list)
    }
}
