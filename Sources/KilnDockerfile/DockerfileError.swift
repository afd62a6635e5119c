/// A Dockerfile that cannot be parsed or resolved; the message names the file and line.
public struct DockerfileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The Dockerfile's name as the user gave it.
    public var file: String
    /// 1-based line of the offending instruction (0 when not tied to a line).
    public var line: Int
    /// What is wrong.
    public var message: String

    /// An error at `line` of `file`.
    public init(file: String = "Dockerfile", line: Int, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `Dockerfile:12: message`.
    public var description: String { line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)" }
}
