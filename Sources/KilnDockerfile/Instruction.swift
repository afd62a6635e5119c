/// One Dockerfile instruction as written, before variables are expanded.
public struct Instruction: Sendable, Equatable {
    /// The keyword, upper-cased (`FROM`, `RUN`, …).
    public var keyword: String
    /// `--name=value` flags in order (`--name` alone has value `nil`).
    public var flags: [Flag]
    /// The arguments after the flags, continuation lines joined with a space, heredoc bodies removed.
    public var arguments: String
    /// The arguments as a JSON array (exec form), when they are one.
    public var json: [String]?
    /// Heredocs attached to the instruction, in order.
    public var heredocs: [Heredoc]
    /// First line of the instruction (1-based).
    public var line: Int
    /// The instruction text as written after the keyword (flags included), for step names.
    public var original: String

    /// A `--name[=value]` flag.
    public struct Flag: Sendable, Equatable {
        /// Name without dashes.
        public var name: String
        /// Value, or `nil` for a bare flag.
        public var value: String?
    }

    /// A heredoc body (`<<EOF … EOF`).
    public struct Heredoc: Sendable, Equatable {
        /// The delimiter word.
        public var name: String
        /// The body lines joined with newlines (a trailing newline included).
        public var content: String
        /// False for quoted delimiters (`<<"EOF"`, `<<'EOF'`): no variable expansion.
        public var expand: Bool
        /// `<<-`: leading tabs were stripped.
        public var stripTabs: Bool
    }

    /// All values of a flag, in order.
    public func flagValues(_ name: String) -> [String] { flags.filter { $0.name == name }.compactMap(\.value) }
    /// The last value of a flag.
    public func flag(_ name: String) -> String? { flagValues(name).last }
    /// Whether a flag is present.
    public func hasFlag(_ name: String) -> Bool { flags.contains { $0.name == name } }
}

/// A parsed Dockerfile: parser directives and instructions.
public struct ParsedDockerfile: Sendable, Equatable {
    /// Directives from the top of the file (`escape`, `syntax`, `check`), keys lower-cased.
    public var directives: [String: String]
    /// The escape character (`\` or `` ` ``).
    public var escape: Character
    /// Instructions in order.
    public var instructions: [Instruction]
    /// Warnings found while parsing (unknown directives, `syntax` ignored, empty continuations).
    public var warnings: [String]
}
