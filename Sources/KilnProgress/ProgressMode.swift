import Foundation
import KilnOCI
import KilnSystem

/// The `--progress` modes.
public enum ProgressMode: String, Sendable, CaseIterable {
    /// tty when stderr is a terminal, else plain.
    case auto
    /// Line-oriented, buildx style.
    case plain
    /// Live view for terminals.
    case tty
    /// Nothing but errors.
    case quiet
    /// BuildKit SolveStatus JSON lines.
    case rawjson

    /// A printer for this mode writing to `output`.
    public func printer(output: FileHandle = .standardError) -> any ProgressPrinter {
        switch self {
        case .auto: isatty(output.fileDescriptor) != 0 ? TTYPrinter(output: output) : PlainPrinter(output: output)
        case .plain: PlainPrinter(output: output)
        case .tty: TTYPrinter(output: output)
        case .quiet: QuietPrinter()
        case .rawjson: RawJSONPrinter(output: output)
        }
    }
}

/// Prints nothing.
public struct QuietPrinter: ProgressPrinter {
    /// A silent printer.
    public init() {}
    public func handle(_ event: ProgressEvent) async {}
    public func finish() async {}
}
