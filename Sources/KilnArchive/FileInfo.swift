import CKilnSys
import KilnSystem
#if canImport(Glibc)
import Glibc
#endif

/// What `lstat` and the xattr calls say about one path.
struct FileInfo {
    var kind: TarEntry.Kind
    var mode: UInt32
    var uid: Int
    var gid: Int
    var size: Int64
    var mtime: Int64
    var mtimeNsec: Int
    var rdevMajor: UInt32
    var rdevMinor: UInt32
    var device: UInt64
    var inode: UInt64
    var links: UInt64
    /// A socket read as an empty regular file (build contexts: as BuildKit sends them).
    var isSocket = false
    var isWhiteoutDevice: Bool { kind == .characterDevice && rdevMajor == 0 && rdevMinor == 0 }

    /// The path's metadata; with `socketsAsFiles` a socket is an empty regular file.
    static func lstat(_ path: String, socketsAsFiles: Bool = false) throws -> FileInfo {
        var st = stat()
        guard Glibc.lstat(path, &st) == 0 else { throw ArchiveError.io(path: path, operation: "lstat", errno: errno) }
        let fmt = st.st_mode & S_IFMT
        let kind: TarEntry.Kind
        switch fmt {
        case S_IFREG: kind = .regular
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symlink
        case S_IFCHR: kind = .characterDevice
        case S_IFBLK: kind = .blockDevice
        case S_IFIFO: kind = .fifo
        case S_IFSOCK where socketsAsFiles: kind = .regular
        default: throw ArchiveError.unsupported("\(path): sockets and other special files cannot go in a layer")
        }
        return FileInfo(
            kind: kind, mode: UInt32(st.st_mode & 0o7777), uid: Int(st.st_uid), gid: Int(st.st_gid),
            size: kind == .regular && fmt != S_IFSOCK ? Int64(st.st_size) : 0, mtime: Int64(st.st_mtim.tv_sec), mtimeNsec: st.st_mtim.tv_nsec,
            rdevMajor: kiln_major(st.st_rdev), rdevMinor: kiln_minor(st.st_rdev),
            device: UInt64(st.st_dev), inode: UInt64(st.st_ino), links: UInt64(st.st_nlink), isSocket: fmt == S_IFSOCK)
    }
}

/// The names of a path's extended attributes (not following symlinks).
public func xattrNames(_ path: String) throws -> [String] {
    let size = llistxattr(path, nil, 0)
    if size < 0 {
        if errno == ENOTSUP || errno == ENODATA { return [] }
        throw ArchiveError.io(path: path, operation: "llistxattr", errno: errno)
    }
    if size == 0 { return [] }
    var names = [CChar](repeating: 0, count: size)
    let n = llistxattr(path, &names, size)
    guard n >= 0 else { throw ArchiveError.io(path: path, operation: "llistxattr", errno: errno) }
    return names[0..<n].split(separator: 0).map { String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
}

/// Extended attributes of a path (not following symlinks). Overlay's own `trusted.overlay.*`
/// and the host's `security.selinux` labels are not layer content and are left out.
func readXattrs(_ path: String) throws -> [String: [UInt8]] {
    var out: [String: [UInt8]] = [:]
    for name in try xattrNames(path) {
        if name.hasPrefix("trusted.overlay.") || name == "security.selinux" || name.isEmpty { continue }
        let vlen = lgetxattr(path, name, nil, 0)
        guard vlen >= 0 else { continue }
        var value = [UInt8](repeating: 0, count: vlen)
        let got = value.withUnsafeMutableBytes { lgetxattr(path, name, $0.baseAddress, vlen) }
        if got >= 0 { out[name] = Array(value[0..<got]) }
    }
    return out
}

/// Reads an xattr's value (not following a final symlink), `nil` when absent.
public func readXattr(_ path: String, _ name: String) -> [UInt8]? {
    let vlen = lgetxattr(path, name, nil, 0)
    guard vlen >= 0 else { return nil }
    var value = [UInt8](repeating: 0, count: vlen)
    let got = value.withUnsafeMutableBytes { lgetxattr(path, name, $0.baseAddress, vlen) }
    return got >= 0 ? Array(value[0..<got]) : nil
}

func readLink(_ path: String) throws -> String {
    do { return try HostFiles.readLink(path) } catch { throw ArchiveError.io(path: path, operation: "readlink", errno: error.code) }
}

/// Names in a directory, sorted bytewise (`.` and `..` excluded).
func listDirectory(_ path: String) throws -> [String] {
    do { return try HostFiles.list(path) } catch { throw ArchiveError.io(path: path, operation: "opendir", errno: error.code) }
}
