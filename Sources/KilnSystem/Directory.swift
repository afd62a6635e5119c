#if canImport(Glibc)
import Glibc
#endif

/// Plain directory and link reads on host paths (no resolution: callers pass paths they have
/// already resolved).
public enum HostFiles {
    /// Names in the directory at `path`, sorted bytewise (`.` and `..` left out).
    public static func list(_ path: String) throws(PathError) -> [String] {
        guard let dir = opendir(path) else { throw .io(path: path, operation: "opendir", errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    /// The target of the symlink at `path`.
    public static func readLink(_ path: String) throws(PathError) -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buf, buf.count - 1)
        guard n >= 0 else { throw .io(path: path, operation: "readlink", errno: errno) }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
