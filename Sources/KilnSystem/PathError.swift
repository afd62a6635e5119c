/// A path that cannot be resolved or used; every case names the path as the build wrote it.
public enum PathError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Nothing exists there (a missing component, a component that is not a directory, or a
    /// symlink pointing nowhere).
    case notFound(path: String)
    /// Symlinks loop, or nest deeper than 40.
    case tooManyLinks(path: String)
    /// A system call failed.
    case io(path: String, operation: String, errno: Int32)
    /// Resolution left the root (cannot happen with a correct kernel; checked anyway).
    case escapes(path: String)

    /// The `errno` closest to the failure.
    public var code: Int32 {
        switch self {
        case .notFound: ENOENT
        case .tooManyLinks: ELOOP
        case .io(_, _, let e): e
        case .escapes: EXDEV
        }
    }

    /// One line naming the path.
    public var description: String {
        switch self {
        case .notFound(let p): "\(p): not found"
        case .tooManyLinks(let p): "\(p): too many levels of symbolic links"
        case .io(let p, let op, let e): "\(p): \(op): \(errnoText(e))"
        case .escapes(let p): "\(p): resolves outside its root"
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// `strerror` as a Swift string.
public func errnoText(_ e: Int32) -> String { String(cString: strerror(e)) }
