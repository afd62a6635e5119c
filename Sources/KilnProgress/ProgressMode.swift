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
        case .quiet: QuietPrinter(output: output)
        case .rawjson: RawJSONPrinter(output: output)
        }
    }
}

/// Prints nothing while the build runs; at the end, the last lines of the steps that failed.
public actor QuietPrinter: ProgressPrinter {
    private let output: FileHandle
    private var logs = LogTail()
    private var starts: [Digest: Date] = [:]

    /// A printer writing failures to `output`.
    public init(output: FileHandle = .standardError) { self.output = output }

    public func handle(_ event: ProgressEvent) async {
        switch event {
        case .vertex(let v):
            if let s = v.started, starts[v.digest] == nil { starts[v.digest] = s }
            if v.error != nil, !v.canceled { logs.failed(v.digest, name: v.name, started: starts[v.digest]) }
        case .log(let vertex, _, let data): _ = logs.add(data, vertex: vertex, started: starts[vertex])
        case .status, .warning, .cacheMiss: break
        }
    }

    public func finish() async {
        let text = logs.failureText
        if !text.isEmpty { Console.write(text, to: output.fileDescriptor) }
    }
}
