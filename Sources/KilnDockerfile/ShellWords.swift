/// Word splitting and variable expansion as the Dockerfile frontend does it: quotes group and
/// are removed, the escape character escapes, `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`,
/// `${VAR:+word}`, `${VAR+word}`, `${VAR:?msg}` and `${VAR?msg}` expand (not inside single quotes).
public struct ShellWords: Sendable {
    /// The escape character (`\` unless the `escape` directive says otherwise).
    public var escape: Character

    /// A lexer with the given escape character.
    public init(escape: Character = "\\") { self.escape = escape }

    /// Splits `text` on unquoted whitespace, keeping quotes and escapes in the words (for
    /// `key=value` parsing before expansion).
    public func splitKeepingQuotes(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var chars = Array(text)[...]
        while let c = chars.first {
            chars = chars.dropFirst()
            if quote == nil && (c == " " || c == "\t" || c == "\n") {
                if inWord { words.append(current); current = ""; inWord = false }
                continue
            }
            inWord = true
            current.append(c)
            if c == escape && quote != "'", let n = chars.first {
                current.append(n)
                chars = chars.dropFirst()
                continue
            }
            if quote == nil && (c == "\"" || c == "'") { quote = c } else if c == quote { quote = nil }
        }
        if inWord { words.append(current) }
        return words
    }

    /// Expands one word: removes quotes, applies escapes, substitutes variables from `lookup`.
    public func expand(_ word: String, _ lookup: (String) -> String?) throws(ShellWordError) -> String {
        try process(word, lookup, split: false).joined(separator: " ")
    }

    /// Expands `text` into words, splitting on unquoted whitespace (also inside unquoted
    /// expansion results).
    public func expandWords(_ text: String, _ lookup: (String) -> String?) throws(ShellWordError) -> [String] {
        try process(text, lookup, split: true)
    }

    /// Expands variables in a heredoc body as BuildKit does for COPY/ADD (unquoted delimiter):
    /// quotes have no meaning and stay, an escape and the character after it stay as written
    /// (so `\$X` is not expanded), and `$X`/`${X…}` are substituted.
    public func expandRaw(_ text: String, _ lookup: (String) -> String?) throws(ShellWordError) -> String {
        var out = ""
        var chars = Array(text)[...]
        while let c = chars.first {
            chars = chars.dropFirst()
            if c == escape {
                out.append(c)
                if let n = chars.first { out.append(n); chars = chars.dropFirst() }
            } else if c == "$" {
                out += try variable(&chars, lookup, text)
            } else {
                out.append(c)
            }
        }
        return out
    }

    private func process(_ text: String, _ lookup: (String) -> String?, split: Bool) throws(ShellWordError) -> [String] {
        var words: [String] = []
        var current = ""
        var hasWord = false
        var chars = Array(text)[...]
        func flush() {
            if hasWord { words.append(current) }
            current = ""
            hasWord = false
        }
        while let c = chars.first {
            chars = chars.dropFirst()
            switch c {
            case " ", "\t", "\n":
                if split {
                    flush()
                } else {
                    hasWord = true
                    current.append(c)
                }
            case "'":
                hasWord = true
                while let n = chars.first, n != "'" { current.append(n); chars = chars.dropFirst() }
                guard chars.first == "'" else { throw ShellWordError(message: "unterminated single quote in \(text)") }
                chars = chars.dropFirst()
            case "\"":
                hasWord = true
                var closed = false
                while let n = chars.first {
                    chars = chars.dropFirst()
                    if n == "\"" { closed = true; break }
                    if n == escape, let e = chars.first, ["$", "\"", escape, "\n"].contains(e) {
                        chars = chars.dropFirst()
                        if e != "\n" { current.append(e) }
                    } else if n == "$" {
                        current += try variable(&chars, lookup, text)
                    } else {
                        current.append(n)
                    }
                }
                guard closed else { throw ShellWordError(message: "unterminated double quote in \(text)") }
            case escape:
                hasWord = true
                if let n = chars.first {
                    chars = chars.dropFirst()
                    current.append(n)
                } else {
                    current.append(c)
                }
            case "$":
                let value = try variable(&chars, lookup, text)
                if split {
                    // Unquoted expansions split into words.
                    let parts = value.split(omittingEmptySubsequences: false, whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
                    for (i, p) in parts.enumerated() {
                        if i > 0 { flush() }
                        if !p.isEmpty { hasWord = true; current += p }
                    }
                } else {
                    hasWord = hasWord || !value.isEmpty
                    current += value
                }
            default:
                hasWord = true
                current.append(c)
            }
        }
        flush()
        return split ? words : [words.joined(separator: " ")]
    }

    /// Parses what follows a `$` and returns its value.
    private func variable(_ chars: inout ArraySlice<Character>, _ lookup: (String) -> String?, _ text: String) throws(ShellWordError) -> String {
        guard let first = chars.first else { return "$" }
        if first == "{" {
            chars = chars.dropFirst()
            var name = ""
            while let c = chars.first, c.isLetter || c.isNumber || c == "_" { name.append(c); chars = chars.dropFirst() }
            guard !name.isEmpty else { throw ShellWordError(message: "bad substitution in \(text)") }
            if chars.first == "}" {
                chars = chars.dropFirst()
                return lookup(name) ?? ""
            }
            var op = ""
            if chars.first == ":" { op = ":"; chars = chars.dropFirst() }
            guard let kind = chars.first, ["-", "+", "?"].contains(kind) else {
                throw ShellWordError(message: "unsupported modifier in ${\(name)…} in \(text)")
            }
            chars = chars.dropFirst()
            op.append(kind)
            // The word runs to the matching brace; it is expanded itself.
            var depth = 1
            var word = ""
            while let c = chars.first {
                chars = chars.dropFirst()
                if c == "{" { depth += 1 }
                if c == "}" { depth -= 1; if depth == 0 { break } }
                word.append(c)
            }
            guard depth == 0 else { throw ShellWordError(message: "missing '}' in \(text)") }
            let value = lookup(name)
            let isSet = value != nil
            let nonEmpty = !(value ?? "").isEmpty
            let useWord: Bool
            switch op {
            case ":-": useWord = !nonEmpty
            case "-": useWord = !isSet
            case ":+": return nonEmpty ? try expand(word, lookup) : ""
            case "+": return isSet ? try expand(word, lookup) : ""
            case ":?":
                if !nonEmpty { throw ShellWordError(message: "\(name): \(word.isEmpty ? "is not allowed to be empty" : word)") }
                return value ?? ""
            case "?":
                if !isSet { throw ShellWordError(message: "\(name): \(word.isEmpty ? "is not set" : word)") }
                return value ?? ""
            default: useWord = false
            }
            return useWord ? try expand(word, lookup) : (value ?? "")
        }
        guard first.isLetter || first == "_" else {
            return "$"
        }
        var name = ""
        while let c = chars.first, c.isLetter || c.isNumber || c == "_" { name.append(c); chars = chars.dropFirst() }
        return lookup(name) ?? ""
    }
}

/// A word that cannot be expanded.
public struct ShellWordError: Error, Sendable, Equatable {
    /// What is wrong.
    public var message: String
}
