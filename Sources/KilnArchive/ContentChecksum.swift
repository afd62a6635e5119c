import KilnOCI

/// Digests of file trees for cache keys: content, kind, mode, uid/gid, size, link target, device
/// numbers and xattrs — never mtimes, atimes or host paths — so the same files give the same
/// key on any machine and a touched-but-unchanged file keeps it.
public enum ContentChecksum {
    /// One path a checksum covered, as ``digest(root:paths:excluded:observe:)`` reports it.
    public struct Entry: Sendable, Equatable {
        /// The path relative to the root.
        public var path: String
        /// Whether it is a directory (whose digest covers its children: none is reported).
        public var isDirectory: Bool
        /// Permission bits (and setuid, setgid, sticky).
        public var mode: UInt32
        /// Owner.
        public var uid: Int
        /// Group.
        public var gid: Int
        /// Size in bytes (regular files).
        public var size: Int64
        /// The digest of its metadata and content (nil for a directory).
        public var digest: Digest?

        /// An entry.
        public init(path: String, isDirectory: Bool, mode: UInt32, uid: Int, gid: Int, size: Int64, digest: Digest?) {
            (self.path, self.isDirectory, self.mode, self.uid, self.gid, self.size, self.digest) = (path, isDirectory, mode, uid, gid, size, digest)
        }
    }

    /// Digest of the tree at `root/relative` (a file, symlink or directory). `excluded` is
    /// asked for every path below, relative to `root`; an excluded path does not count.
    /// `observe` hears every path covered, directories before what they hold.
    public static func digest(root: String, relative: String, excluded: (String) -> Bool = { _ in false },
                              observe: ((Entry) -> Void)? = nil) throws -> Digest {
        let path = relative.isEmpty ? root : root + "/" + relative
        let info = try FileInfo.lstat(path, socketsAsFiles: true)
        var hasher = DigestHasher()
        hasher.update(Array(try header(info, path: path).utf8))
        switch info.kind {
        case .regular where info.isSocket:
            break
        case .regular:
            let src = try FileSource(path: path, noFollow: true)
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer { buf.deallocate() }
            while true {
                let n = try src.read(into: buf)
                if n == 0 { break }
                hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buf[0..<n]))
            }
        case .directory:
            observe?(Entry(path: relative, isDirectory: true, mode: info.mode, uid: info.uid, gid: info.gid, size: 0, digest: nil))
            for name in try listDirectory(path) {
                let rel = relative.isEmpty ? name : relative + "/" + name
                if excluded(rel) { continue }
                let child = try digest(root: root, relative: rel, excluded: excluded, observe: observe)
                hasher.update(Array("\(name)\u{0}\(child)\u{0}".utf8))
            }
        default:
            break
        }
        let result = hasher.finalize()
        if info.kind != .directory {
            observe?(Entry(path: relative, isDirectory: false, mode: info.mode, uid: info.uid, gid: info.gid, size: info.size, digest: result))
        }
        return result
    }

    /// Digest of several selected paths: each path's name and tree digest, in the given order.
    /// `excluded` gets a path below a selection and the selection it is under; `observe` hears
    /// every path covered.
    public static func digest(root: String, paths: [String], excluded: (String, String) -> Bool = { _, _ in false },
                              observe: ((Entry) -> Void)? = nil) throws -> Digest {
        var hasher = DigestHasher()
        for p in paths {
            let d = try digest(root: root, relative: p, excluded: { excluded($0, p) }, observe: observe)
            hasher.update(Array("\(p)\u{0}\(d)\u{0}".utf8))
        }
        return hasher.finalize()
    }

    /// The metadata that counts, as text (tarsum-like; mtime left out on purpose).
    static func header(_ info: FileInfo, path: String) throws -> String {
        var mode = info.mode
        var link = ""
        if info.kind == .symlink {
            mode |= 0o777
            link = try readLink(path)
        }
        var fields = [
            "mode=\(String(mode, radix: 8))", "uid=\(info.uid)", "gid=\(info.gid)", "size=\(info.size)",
            "type=\(info.kind.typeflag)", "link=\(link)", "dev=\(info.rdevMajor),\(info.rdevMinor)",
        ]
        for (k, v) in try readXattrs(path).sorted(by: { $0.key < $1.key }) {
            if k.hasPrefix("system.") || (k.hasPrefix("security.") && k != "security.capability") { continue }
            fields.append("xattr.\(k)=\(v.map { String($0, radix: 16) }.joined(separator: ","))")
        }
        return fields.joined(separator: "\u{0}") + "\u{0}"
    }
}
