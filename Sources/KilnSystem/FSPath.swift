/// Path strings handled without Foundation's `NSString` path methods (which trap on some
/// one-character paths on Linux) and without touching the filesystem.
public enum FSPath {
    /// The components of `path`, without empty ones and `.`; `..` is kept.
    public static func components(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }.map(String.init)
    }

    /// `path` made absolute and lexically clean, as Go's `path.Clean("/" + path)`: no empty or
    /// `.` components, `..` folded and never above `/`.
    public static func clean(_ path: String) -> String {
        var out: [String] = []
        for c in components(path) {
            if c == ".." { _ = out.popLast() } else { out.append(c) }
        }
        return "/" + out.joined(separator: "/")
    }

    /// `clean` without the leading `/` (`""` for the root): a path relative to some root.
    public static func relative(_ path: String) -> String {
        String(clean(path).dropFirst())
    }

    /// `relative` joined onto `base`, then cleaned: an absolute path inside `/`.
    public static func join(_ base: String, _ relative: String) -> String {
        relative.hasPrefix("/") ? clean(relative) : clean(base + "/" + relative)
    }

    /// `child` appended to the host directory `directory` with one `/` between them; `child` is
    /// taken as relative (its leading `/` dropped) and cleaned, so it can never climb out.
    public static func under(_ directory: String, _ child: String) -> String {
        let rel = relative(child)
        let dir = trimmed(directory)
        if rel.isEmpty { return dir }
        return dir == "/" ? "/" + rel : dir + "/" + rel
    }

    /// The last component (`""` for `/` or an empty path).
    public static func base(_ path: String) -> String {
        components(trimmed(path)).last ?? ""
    }

    /// Everything before the last component (`/` for a top-level absolute path, `""` for a
    /// relative path of one component).
    public static func parent(_ path: String) -> String {
        let t = trimmed(path)
        guard let slash = t.lastIndex(of: "/") else { return "" }
        let head = String(t[..<slash])
        return head.isEmpty ? "/" : head
    }

    /// `path` without trailing slashes (except a lone `/`).
    public static func trimmed(_ path: String) -> String {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return p
    }
}
