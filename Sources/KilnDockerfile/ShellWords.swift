/// Word splitting and variable expansion with the rules of BuildKit's Dockerfile lexer: quotes
/// group and are removed, the escape character escapes, and `$VAR`, `${VAR}` and the modifiers
/// `-` `+` `?` (each also with `:`), `#` `##` `%` `%%` (patterns) and `/` `//` (replacement)
/// expand, not inside single quotes. Positional and special parameters (`$1`, `$@`, `$$`, …)
/// are names like any other: unset unless defined. A modifier's word is itself expanded once,
/// up to the first unescaped `}`.
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

    /// Expands one word: removes quotes, applies escapes, substitutes variables from `lookup`
    /// (whitespace is kept as it is).
    public func expand(_ word: String, _ lookup: (String) -> String?) throws(ShellWordError) -> String {
        try lex(word, lookup).text
    }

    /// Expands `text` into words, splitting on unquoted whitespace (also inside unquoted
    /// expansion results).
    public func expandWords(_ text: String, _ lookup: (String) -> String?) throws(ShellWordError) -> [String] {
        try lex(text, lookup).words
    }

    /// Expands variables in a heredoc body as BuildKit does (unquoted delimiter): quotes have
    /// no meaning and stay, escapes apply (`\$X` is a literal `$X`), `$X`/`${X…}` substitute.
    public func expandRaw(_ text: String, _ lookup: (String) -> String?) throws(ShellWordError) -> String {
        try lex(text, lookup, quotes: false).text
    }

    /// `text` as a step's name shows it (BuildKit's display form): variables that are set
    /// substituted, unset ones, quotes and escapes kept as written; the text itself if it
    /// cannot be expanded.
    public func display(_ text: String, _ lookup: (String) -> String?) -> String {
        (try? lex(text, lookup, display: true).text) ?? text
    }

    private func lex(_ text: String, _ lookup: (String) -> String?, quotes: Bool = true,
                     display: Bool = false) throws(ShellWordError) -> (text: String, words: [String]) {
        try withoutActuallyEscaping(lookup) { (lookup) throws(ShellWordError) in
            var lexer = ShellLexer(text: text, escape: escape, lookup: lookup)
            lexer.processQuotes = quotes
            lexer.rawQuotes = display
            lexer.keepUnset = display
            return try lexer.run()
        }
    }
}

/// A word that cannot be expanded.
public struct ShellWordError: Error, Sendable, Equatable {
    /// What is wrong.
    public var message: String
}
