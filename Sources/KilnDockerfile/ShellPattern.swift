/// A shell pattern of `${v#p}`, `${v%p}` and `${v/p/r}`: `*` any run, `?` one character, `\`
/// makes `*`, `?` and `\` literal (and is dropped before `}` and `/`); no bracket expressions,
/// as in BuildKit.
struct ShellPattern {
    enum Token: Equatable {
        case literal(Character)
        case one
        case run
    }

    let tokens: [Token]

    init(_ pattern: String) throws(ShellWordError) {
        var out: [Token] = []
        var chars = Array(pattern)[...]
        while let c = chars.popFirst() {
            switch c {
            case "*": out.append(.run)
            case "?": out.append(.one)
            case "\\":
                guard let n = chars.first else { throw ShellWordError(message: "invalid pattern (\(pattern)) in substitution: trailing '\\'") }
                if n == "}" || n == "/" { continue }
                chars = chars.dropFirst()
                guard n == "*" || n == "?" || n == "\\" else {
                    throw ShellWordError(message: "invalid pattern (\(pattern)) in substitution: invalid escape '\\\(n)'")
                }
                out.append(.literal(n))
            default: out.append(.literal(c))
            }
        }
        tokens = out
    }

    /// The ends `j` for which `text[start..<j]` matches the whole pattern, ascending.
    func matchEnds(in text: [Character], from start: Int) -> [Int] {
        var positions: Set<Int> = [start]
        for token in tokens {
            var next: Set<Int> = []
            switch token {
            case .run:
                if let low = positions.min() { next = Set(low...text.count) }
            case .one:
                for p in positions where p < text.count { next.insert(p + 1) }
            case .literal(let c):
                for p in positions where p < text.count && text[p] == c { next.insert(p + 1) }
            }
            positions = next
            if positions.isEmpty { return [] }
        }
        return positions.sorted()
    }

    /// `text` without its shortest (or longest) prefix that matches.
    func removingPrefix(of text: String, longest: Bool) -> String {
        let chars = Array(text)
        let ends = matchEnds(in: chars, from: 0)
        guard let end = longest ? ends.last : ends.first else { return text }
        return String(chars[end...])
    }

    /// `text` without its shortest (or longest) suffix that matches.
    func removingSuffix(of text: String, longest: Bool) -> String {
        let chars = Array(text)
        let starts = (0...chars.count).filter { matchEnds(in: chars, from: $0).last == chars.count }
        guard let start = longest ? starts.first : starts.last else { return text }
        return String(chars[..<start])
    }

    /// `text` with its first (or every) leftmost-longest match replaced; an empty match right
    /// after a match is skipped, as Go's regexp does.
    func replacing(in text: String, with replacement: String, all: Bool) -> String {
        let chars = Array(text)
        var out = ""
        var i = 0
        var lastMatchEnd = -1
        while i <= chars.count {
            if let end = matchEnds(in: chars, from: i).last, !(end == i && i == lastMatchEnd) {
                out += replacement
                lastMatchEnd = end
                if !all { out += String(chars[end...]); return out }
                if end > i { i = end; continue }
            }
            if i < chars.count { out.append(chars[i]) }
            i += 1
        }
        return out
    }
}
