import KilnArchive
import KilnDockerfile
import KilnOCI
import KilnSystem

/// The build context, and the one place that decides which of its files a step reads: its
/// directory, the rules that leave files out (`.dockerignore`, or `NAME.dockerignore` beside the
/// Dockerfile `NAME`), how COPY sources and wildcards resolve inside it, the filter a copy
/// applies (`--exclude` too), and the checksums that key those files.
public struct BuildContext: Sendable {
    /// The context directory (absolute).
    public let directory: String
    /// What `.dockerignore` leaves out.
    public let ignore: DockerIgnore

    /// The context in `directory`, with the ignore file for the Dockerfile `dockerfileName`.
    public init(directory: String, dockerfileName: String = "Dockerfile") {
        self.init(directory: directory, ignore: DockerIgnore(contextDirectory: directory, dockerfileName: dockerfileName))
    }

    /// The context in `directory` with `ignore`'s rules.
    public init(directory: String, ignore: DockerIgnore = DockerIgnore()) {
        self.directory = directory
        self.ignore = ignore
    }

    /// COPY/ADD `sources`, wildcards expanded and symlinks resolved inside the context.
    /// With `parents`, each keeps its path (see ``SourceResolver/resolveParents(_:step:)``).
    public func resolve(_ sources: [String], parents: Bool = false, step: String) throws(GraphError) -> [CopySource] {
        let resolver = SourceResolver(root: directory, ignore: ignore)
        return parents ? try resolver.resolveParents(sources, step: step) : try resolver.resolve(sources, step: step)
    }

    /// What a copy of these sources leaves out: ignored files and `exclude` patterns.
    public func filter(exclude: [String]) -> CopyFilter { CopyFilter(ignore: ignore, exclude: exclude) }

    /// BuildKit's content key digest for the context files at `paths` (resolved,
    /// context-relative; `""` for the whole context): each path's ``BuildKitContentHash``
    /// checksum, in the order given, with ignored files absent.
    public func buildKitChecksum(_ paths: [String], exclude: [String] = [], step: String,
                                 observe: ((BuildKitContentHash.Entry) -> Void)? = nil) throws(GraphError) -> Digest {
        let filter = self.filter(exclude: exclude)
        do {
            let sums = try paths.map { p in
                try BuildKitContentHash.checksum(root: directory, relative: p, excluded: { filter.excludes($0, under: p) }, observe: observe)
            }
            return BuildKitCacheMap.contentDigest(sums)
        } catch {
            throw GraphError(description: "\(step): cannot read context: \(ErrorText.describe(error))")
        }
    }

    /// The context-relative path a bind mount's `source` resolves to (symlinks inside the context).
    public func resolveBindSource(_ source: String, step: String) throws(GraphError) -> String {
        do { return try RootedDirectory(directory).resolveRelative(source) } catch {
            throw GraphError(description: "\(step): bind mount source \(source.isEmpty ? "." : source): \(error)")
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
