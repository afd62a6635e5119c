/// Errors from reading, writing, diffing or applying layers.
public enum ArchiveError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A tar stream that does not follow the format.
    case malformedTar(String)
    /// An entry that would write outside the extraction root.
    case unsafeEntry(path: String, reason: String)
    /// A system call failed.
    case io(path: String, operation: String, errno: Int32)
    /// Compressed data that does not decode.
    case corruptData(String)
    /// A compression level outside the codec's range.
    case invalidLevel(codec: String, level: Int, range: ClosedRange<Int>)
    /// Something the codec or format cannot represent.
    case unsupported(String)

    /// A one-line message for users.
    public var description: String {
        switch self {
        case .malformedTar(let why): return "malformed tar: \(why)"
        case .unsafeEntry(let path, let reason): return "refusing layer entry '\(path)': \(reason)"
        case .io(let path, let op, let errno): return "\(op) \(path): \(String(cString: strerror(errno)))"
        case .corruptData(let why): return "corrupt compressed data: \(why)"
        case .invalidLevel(let codec, let level, let range):
            return "compression-level \(level) is out of range for \(codec) (\(range.lowerBound)-\(range.upperBound))"
        case .unsupported(let why): return "unsupported: \(why)"
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
