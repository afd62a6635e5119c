/// One pass of the Dockerfile lexer over a text: the expanded text and its words.
struct ShellLexer {
    private let chars: [Character]
    private var at = 0
    let escape: Character
    let lookup: (String) -> String?
    /// Whether quotes group (off for heredoc bodies, where they are ordinary characters).
    var processQuotes = true
    /// Keep quote characters in the result (for display).
    var rawQuotes = false
    /// Leave unset variables as written instead of expanding them to nothing (for display).
    var keepUnset = false

    init(text: String, escape: Character, lookup: @escaping (String) -> String?) {
        chars = Array(text)
        self.escape = escape
        self.lookup = lookup
    }

    private var peek: Character? { at < chars.count ? chars[at] : nil }

    private mutating func next() -> Character? {
        guard at < chars.count else { return nil }
        defer { at += 1 }
        return chars[at]
    }

    /// The whole text.
    mutating func run() throws(ShellWordError) -> (text: String, words: [String]) {
        try scan(until: nil, rawEscapes: false)
    }

    /// Scans to `stop` (consumed) or the end; `rawEscapes` keeps escape characters in the text
    /// (for patterns, where the escape means something later).
    private mutating func scan(until stop: Character?, rawEscapes: Bool) throws(ShellWordError) -> (text: String, words: [String]) {
        var text = ""
        var words = WordCollector()
        while let c = peek {
            if let stop, c == stop {
                at += 1
                return (text, words.finish())
            }
            switch c {
            case "$":
                let value = try dollar()
                text += value
                words.add(value, splitting: true)
            case "'" where processQuotes:
                let value = try singleQuoted()
                text += value
                words.add(value, splitting: false)
            case "\"" where processQuotes:
                let value = try doubleQuoted()
                text += value
                words.add(value, splitting: false)
            default:
                at += 1
                guard c == escape else {
                    text.append(c)
                    words.add(String(c), splitting: true)
                    continue
                }
                if rawEscapes { text.append(c); words.add(String(c), splitting: false) }
                // An escape escapes the next character; at the very end it is dropped.
                guard let escaped = next() else { break }
                text.append(escaped)
                words.add(String(escaped), splitting: false)
            }
        }
        if let stop { throw ShellWordError(message: "unexpected end of statement while looking for matching \(stop)") }
        return (text, words.finish())
    }

    private mutating func singleQuoted() throws(ShellWordError) -> String {
        at += 1
        var out = rawQuotes ? "'" : ""
        while let c = next() {
            if c == "'" { return rawQuotes ? out + "'" : out }
            out.append(c)
        }
        throw ShellWordError(message: "unexpected end of statement while looking for matching single-quote")
    }

    /// Inside double quotes only `$` expands, and the escape escapes only `"`, `$` and itself.
    private mutating func doubleQuoted() throws(ShellWordError) -> String {
        at += 1
        var out = rawQuotes ? "\"" : ""
        while let c = peek {
            switch c {
            case "\"":
                at += 1
                return rawQuotes ? out + "\"" : out
            case "$":
                out += try dollar()
            default:
                at += 1
                if c == escape, let n = peek {
                    if n == "\"" || n == "$" || n == escape { out.append(n); at += 1 } else { out.append(c) }
                } else if c != escape {
                    out.append(c)
                }
            }
        }
        throw ShellWordError(message: "unexpected end of statement while looking for matching double-quote")
    }

    /// What follows a `$`: a name, or a `${…}` expression.
    private mutating func dollar() throws(ShellWordError) -> String {
        at += 1
        guard peek == "{" else {
            let name = self.name()
            if name.isEmpty { return "$" }
            return lookup(name) ?? (keepUnset ? "$" + name : "")
        }
        at += 1
        guard let first = peek else { throw ShellWordError(message: "syntax error: missing '}'") }
        if first == "{" || first == "}" || first == ":" { throw ShellWordError(message: "syntax error: bad substitution") }
        let name = self.name()
        guard let op = next() else { throw ShellWordError(message: "syntax error: missing '}'") }
        switch op {
        case "}": return lookup(name) ?? (keepUnset ? "${\(name)}" : "")
        case ":":
            guard let modifier = next() else { throw ShellWordError(message: "syntax error: missing '}'") }
            guard "-+?".contains(modifier) else { throw ShellWordError(message: "unsupported modifier (:\(modifier)) in substitution") }
            return try modified(name, modifier, emptyIsUnset: true)
        case "-", "+", "?", "#", "%":
            return try modified(name, op, emptyIsUnset: false)
        case "/":
            return try replaced(name)
        default:
            throw ShellWordError(message: "unsupported modifier (\(op)) in substitution")
        }
    }

    /// `${name<modifier>word}` once the modifier is read.
    private mutating func modified(_ name: String, _ modifier: Character, emptyIsUnset: Bool) throws(ShellWordError) -> String {
        let isPattern = modifier == "#" || modifier == "%"
        let word = try braced { (lexer: inout ShellLexer) throws(ShellWordError) in try lexer.scan(until: "}", rawEscapes: isPattern).text }
        let value = lookup(name)
        if keepUnset, value == nil { return "${\(name)\(emptyIsUnset ? ":" : "")\(modifier)\(word)}" }
        let absent = value == nil || (emptyIsUnset && value == "")
        switch modifier {
        case "-": return absent ? word : value ?? ""
        case "+": return absent ? "" : word
        case "?":
            guard absent else { return value ?? "" }
            let why = value == nil ? "is not allowed to be unset" : "is not allowed to be empty"
            throw ShellWordError(message: "\(name): \(word.isEmpty ? why : word)")
        default:
            var pattern = word
            let longest = pattern.first == modifier
            if longest { pattern.removeFirst() }
            let matcher = try ShellPattern(pattern)
            return modifier == "#" ? matcher.removingPrefix(of: value ?? "", longest: longest)
                : matcher.removingSuffix(of: value ?? "", longest: longest)
        }
    }

    /// `${name/pattern/replacement}` (`//`: every match) once the first `/` is read.
    private mutating func replaced(_ name: String) throws(ShellWordError) -> String {
        let all = peek == "/"
        if all { at += 1 }
        let pattern = try braced(missing: "syntax error: missing '/' in ${}") { (lexer: inout ShellLexer) throws(ShellWordError) in
            try lexer.scan(until: "/", rawEscapes: true).text
        }
        let replacement = try braced { (lexer: inout ShellLexer) throws(ShellWordError) in try lexer.scan(until: "}", rawEscapes: true).text }
        guard let value = lookup(name) else { return keepUnset ? "${\(name)/\(all ? "/" : "")\(pattern)/\(replacement)}" : "" }
        return try ShellPattern(pattern).replacing(in: value, with: replacement, all: all)
    }

    /// Runs a nested scan, turning "ran out of text" into the `${…}` syntax error.
    private mutating func braced(missing: String = "syntax error: missing '}'",
                                 _ body: (inout ShellLexer) throws(ShellWordError) -> String) throws(ShellWordError) -> String {
        do {
            return try body(&self)
        } catch {
            throw peek == nil ? ShellWordError(message: missing) : error
        }
    }

    /// A variable name: letters, digits and `_`; or all the digits of a positional parameter;
    /// or one special parameter character.
    private mutating func name() -> String {
        var out = ""
        while let c = peek {
            if out.isEmpty, c.isNumber {
                while let d = peek, d.isNumber { out.append(d); at += 1 }
                return out
            }
            if out.isEmpty, "@*#?-$!0".contains(c) {
                at += 1
                return String(c)
            }
            guard c.isLetter || c.isNumber || c == "_" else { break }
            out.append(c)
            at += 1
        }
        return out
    }
}

/// Words as the lexer builds them: unquoted whitespace ends a word, quoted or escaped
/// characters never do.
private struct WordCollector {
    var words: [String] = []
    var current = ""
    var inWord = false

    mutating func add(_ text: String, splitting: Bool) {
        guard splitting else {
            current += text
            inWord = true
            return
        }
        for c in text {
            if c.isWhitespace {
                if inWord && !current.isEmpty { words.append(current); current = ""; inWord = false }
            } else {
                current.append(c)
                inWord = true
            }
        }
    }

    mutating func finish() -> [String] {
        if !current.isEmpty { words.append(current) }
        return words
    }
}
