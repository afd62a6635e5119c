import Foundation
import KilnSystem

/// `.dockerignore` rules: one pattern a line, `#` comments, `!` exceptions, `*`, `?`, `[…]`
/// and `**` (any number of directories). The last matching rule wins; a path is also excluded
/// when one of its parent directories is.
public struct DockerIgnore: Sendable {
    struct Rule: Sendable {
        var pattern: [String]  // path components; "**" matches any number of them
        var exclude: Bool
    }

    private var rules: [Rule]
    /// Lines that are not valid patterns (a build refuses to start with them, as BuildKit does).
    public private(set) var problems: [String] = []

    /// No rules: nothing is excluded.
    public init() { rules = [] }

    /// Parses a `.dockerignore` file's text.
    public init(parsing text: String) {
        rules = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            var exclude = true
            if line.hasPrefix("!") {
                exclude = false
                line = String(line.dropFirst()).trimmingCharacters(in: .whitespaces)
                if line.isEmpty { problems.append("line \(number + 1): illegal exclusion pattern: \"!\""); continue }
            }
            let cleaned = Self.clean(line)
            if cleaned.isEmpty { continue }
            rules.append(Rule(pattern: cleaned.split(separator: "/").map(String.init), exclude: exclude))
        }
    }

    /// Reads `DIR/.dockerignore` (or `DIR/<dockerfile>.dockerignore` first, as BuildKit does).
    public init(contextDirectory: String, dockerfileName: String = "Dockerfile") {
        let specific = FSPath.under(contextDirectory, dockerfileName + ".dockerignore")
        let generic = FSPath.under(contextDirectory, ".dockerignore")
        if let t = try? String(contentsOfFile: specific, encoding: .utf8) {
            self.init(parsing: t)
        } else if let t = try? String(contentsOfFile: generic, encoding: .utf8) {
            self.init(parsing: t)
        } else {
            self.init()
        }
    }

    /// Whether there are any rules.
    public var isEmpty: Bool { rules.isEmpty }

    /// Whether `path` (relative to the context, `/`-separated) is excluded.
    public func excludes(_ path: String) -> Bool {
        let components = Self.clean(path).split(separator: "/").map(String.init)
        guard !components.isEmpty else { return false }
        var excluded = false
        for rule in rules {
            // A rule matches the path or any of its parents.
            var hit = false
            for n in 1...components.count where Self.match(rule.pattern[...], components[0..<n]) {
                hit = true
                break
            }
            if hit { excluded = rule.exclude }
        }
        return excluded
    }

    /// Whether an excluded directory may still contain re-included paths (so a walk must descend).
    public func mayReinclude(under directory: String) -> Bool {
        let dir = Self.clean(directory).split(separator: "/").map(String.init)
        return rules.contains { r in
            !r.exclude && (r.pattern.contains("**") || r.pattern.count > dir.count
                && Self.match(r.pattern[0..<dir.count], dir[...]))
        }
    }

    /// A relative path with `.`, empty components and leading `/` removed and `..` folded
    /// (never above the start).
    public static func clean(_ path: String) -> String {
        var out: [Substring] = []
        for c in path.split(separator: "/") {
            if c == "." || c.isEmpty { continue }
            if c == ".." { _ = out.popLast(); continue }
            out.append(c)
        }
        return out.joined(separator: "/")
    }

    static func match(_ pattern: ArraySlice<String>, _ path: ArraySlice<String>) -> Bool {
        guard let p = pattern.first else { return path.isEmpty }
        if p == "**" {
            let rest = pattern.dropFirst()
            if rest.isEmpty { return true }
            var tail = path
            while true {
                if match(rest, tail) { return true }
                guard !tail.isEmpty else { return false }
                tail = tail.dropFirst()
            }
        }
        guard let c = path.first, glob(Array(p), Array(c)) else { return false }
        return match(pattern.dropFirst(), path.dropFirst())
    }

    /// `filepath.Match` for one component: `*`, `?`, `[abc]`, `[a-z]`, `[^x]`, `\` escapes.
    public static func glob(_ p: [Character], _ s: [Character]) -> Bool {
        var pi = 0, si = 0
        var star = -1, mark = 0
        while si < s.count {
            if pi < p.count {
                switch p[pi] {
                case "*":
                    star = pi
                    mark = si
                    pi += 1
                    continue
                case "?":
                    pi += 1; si += 1
                    continue
                case "[":
                    if let (ok, next) = classMatch(p, pi, s[si]), ok {
                        pi = next; si += 1
                        continue
                    }
                case "\\" where pi + 1 < p.count:
                    if p[pi + 1] == s[si] { pi += 2; si += 1; continue }
                default:
                    if p[pi] == s[si] { pi += 1; si += 1; continue }
                }
            }
            guard star >= 0 else { return false }
            pi = star + 1
            mark += 1
            si = mark
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        return pi == p.count
    }

    static func classMatch(_ p: [Character], _ start: Int, _ c: Character) -> (Bool, Int)? {
        var i = start + 1
        var negate = false
        if i < p.count && (p[i] == "^" || p[i] == "!") { negate = true; i += 1 }
        var matched = false
        var first = true
        while i < p.count && (p[i] != "]" || first) {
            first = false
            var lo = p[i]
            if lo == "\\" && i + 1 < p.count { i += 1; lo = p[i] }
            var hi = lo
            if i + 2 < p.count && p[i + 1] == "-" && p[i + 2] != "]" {
                hi = p[i + 2]
                i += 2
            }
            if lo <= c && c <= hi { matched = true }
            i += 1
        }
        guard i < p.count else { return nil }
        return (matched != negate, i + 1)
    }
}
