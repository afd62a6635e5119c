import KilnDockerfile
import KilnSystem
#if canImport(Glibc)
import Glibc
#endif

/// One COPY/ADD source after resolution: the name it takes in a destination directory and the
/// path, relative to its root, of what it leads to (symlinks followed inside that root).
public struct CopySource: Sendable, Hashable {
    /// The last component as the Dockerfile (or a wildcard match) names it.
    public var name: String
    /// The resolved path, relative to the root (`""` for the root itself).
    public var path: String

    /// A resolved source.
    public init(name: String, path: String) {
        self.name = name
        self.path = path
    }
}

/// Expands wildcards and resolves COPY/ADD sources inside a root — the build context or a
/// stage's filesystem — as BuildKit does: symlinks (the last component too) are followed inside
/// the root, never on the host; a link pointing nowhere, or at an ignored path, is "not found".
public struct SourceResolver: Sendable {
    /// The root the sources live in.
    public let root: RootedDirectory
    /// `.dockerignore` rules of the context (empty for stages and images).
    public let ignore: DockerIgnore

    /// A resolver over `root` (a host directory) with `ignore`'s rules.
    public init(root: String, ignore: DockerIgnore = DockerIgnore()) {
        self.root = RootedDirectory(root)
        self.ignore = ignore
    }

    /// Resolves every source; `step` names the step in errors. A wildcard matching nothing is
    /// allowed as long as some source matched something (as BuildKit allows it).
    public func resolve(_ sources: [String], step: String) throws(GraphError) -> [CopySource] {
        var out: [CopySource] = []
        var emptyPatterns: [String] = []
        for raw in sources {
            let clean = DockerIgnore.clean(raw)
            if Self.isPattern(clean) {
                let matches = try expand(clean, step: step)
                if matches.isEmpty { emptyPatterns.append(raw) }
                out += matches
            } else {
                out.append(try resolveOne(clean, written: raw, step: step))
            }
        }
        if out.isEmpty, let first = emptyPatterns.first {
            throw GraphError(description: "\(step): no source files were specified (\(first) matches nothing)")
        }
        return out
    }

    static func isPattern(_ path: String) -> Bool { path.contains { "*?[".contains($0) } }

    /// Resolves `--parents` sources: each keeps its path below the first `/./` (or its whole
    /// path) as its name; the part before the pivot and the part after may hold wildcards and
    /// `**` (any number of directories). A wildcard matching nothing is no error.
    public func resolveParents(_ sources: [String], step: String) throws(GraphError) -> [CopySource] {
        var out: [CopySource] = []
        for raw in sources {
            let (pivot, rest) = Self.splitPivot(raw)
            let pivots = Self.isPattern(pivot) ? try match(FSPath.components(pivot)[...], under: "").filter(root.isDirectory) : [pivot]
            for base in pivots {
                let relative = Self.isPattern(rest) ? try match(FSPath.components(rest)[...], under: base)
                    : [base.isEmpty ? rest : rest.isEmpty ? base : base + "/" + rest]
                for path in relative {
                    let name = base.isEmpty ? path : String(path.dropFirst(base.count + 1))
                    var source = try resolveOne(path, written: raw, step: step)
                    source.name = name
                    out.append(source)
                }
            }
        }
        return out
    }

    /// `a/b/./c/d` → (`a/b`, `c/d`); no pivot → (`""`, the whole path), both cleaned.
    static func splitPivot(_ raw: String) -> (String, String) {
        let path = raw.hasPrefix("./") ? String(raw.dropFirst(2)) : raw
        guard let r = path.range(of: "/./") else { return ("", DockerIgnore.clean(path)) }
        return (DockerIgnore.clean(String(path[..<r.lowerBound])), DockerIgnore.clean(String(path[r.upperBound...])))
    }

    /// Paths under `base` matching `parts` component by component; `**` matches any number of
    /// directories (none too).
    private func match(_ parts: ArraySlice<String>, under base: String) throws(GraphError) -> [String] {
        guard let part = parts.first else { return root.lstat(base) == nil ? [] : [base] }
        let rest = parts.dropFirst()
        func child(_ name: String) -> String { base.isEmpty ? name : base + "/" + name }
        if part == "**" {
            var out = try match(rest, under: base)
            for name in listing(base) where root.isDirectory(child(name)) && !ignore.excludes(child(name)) {
                out += try match(parts, under: child(name))
            }
            return Array(Set(out)).sorted()
        }
        let names = Self.isPattern(part) ? listing(base).filter { DockerIgnore.glob(Array(part), Array($0)) } : [part]
        var out: [String] = []
        for name in names where !ignore.excludes(child(name)) {
            if !rest.isEmpty && !root.isDirectory(child(name)) { continue }
            out += try match(rest, under: child(name))
        }
        return out
    }

    private func resolveOne(_ clean: String, written: String, step: String) throws(GraphError) -> CopySource {
        guard clean.isEmpty || !ignore.excludes(clean) else {
            throw GraphError(description: "\(step): \(written): not found")
        }
        do {
            let path = try root.resolveRelative(clean)
            guard path.isEmpty || !ignore.excludes(path) else { throw PathError.notFound(path: clean) }
            return CopySource(name: FSPath.base(clean), path: path)
        } catch {
            throw GraphError(description: "\(step): \(written == clean || written.isEmpty ? clean : written): not found")
        }
    }

    /// Matches `pattern` component by component, each directory listed where it resolves
    /// inside the root.
    private func expand(_ pattern: String, step: String) throws(GraphError) -> [CopySource] {
        let parts = FSPath.components(pattern)
        var current: [String] = [""]  // matched paths as written
        for (i, part) in parts.enumerated() {
            var next: [String] = []
            for base in current {
                let names = Self.isPattern(part) ? listing(base).filter { DockerIgnore.glob(Array(part), Array($0)) } : [part]
                for name in names {
                    let rel = base.isEmpty ? name : base + "/" + name
                    if ignore.excludes(rel) { continue }
                    if i < parts.count - 1 && !root.isDirectory(rel) { continue }
                    if i == parts.count - 1 && root.lstat(rel) == nil { continue }
                    next.append(rel)
                }
            }
            current = next
        }
        var out: [CopySource] = []
        for match in current { out.append(try resolveOne(match, written: match, step: step)) }
        return out
    }

    /// The names in the directory `path` leads to, sorted.
    private func listing(_ path: String) -> [String] {
        guard let host = try? root.resolve(path) else { return [] }
        return (try? HostFiles.list(host)) ?? []
    }
}
