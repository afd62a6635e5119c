/// A build that cannot go on, in one line naming what is wrong (the URL, the step, the value).
public struct BuildError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public var description: String

    /// An error with a message.
    public init(_ description: String) { self.description = description }
}
