import Foundation
import KilnOCI

/// Checksums of paths in a tree as BuildKit's `cache/contenthash` computes them, so content
/// keys over context files and over another stage's files are BuildKit's own:
///
/// - a file, symlink or device: `sha256` of its tarsum v1 header (`name` empty, `mode` in
///   decimal, `uid`, `gid`, `size`, `typeflag`, `linkname`, empty `uname`/`gname`, `devmajor`,
///   `devminor`, then the xattrs that count, sorted), followed by a regular file's content;
/// - a directory: `sha256` of `\0` + its header's digest (the root's header is the empty
///   string) then, for each child by name, `\0` + name + the child's checksum.
///
/// mtimes never count, so a touched file keeps its checksum.
public enum BuildKitContentHash {
    /// One path a checksum covered, as ``checksum(root:relative:excluded:observe:)`` reports it.
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

    /// The checksum of `root/relative` (`""` or `"/"`: the root). `excluded` is asked for every
    /// path below (relative to `root`): an excluded path does not exist. `observe` hears every
    /// path covered, directories before what they hold.
    public static func checksum(root: String, relative: String, excluded: (String) -> Bool = { _ in false },
                                observe: ((Entry) -> Void)? = nil) throws -> Digest {
        try checksum(root: root, clean: relative.split(separator: "/").joined(separator: "/"), excluded: excluded, observe: observe)
    }

    /// ``checksum(root:relative:excluded:observe:)`` of a path already without empty or
    /// leading components (the recursion makes each child's path so).
    static func checksum(root: String, clean rel: String, excluded: (String) -> Bool, observe: ((Entry) -> Void)?) throws -> Digest {
        let path = rel.isEmpty ? root : root + "/" + rel
        let info = try FileInfo.lstat(path, socketsAsFiles: true)
        let header = try headerBytes(info, path: path)
        guard info.kind == .directory else {
            let hasher = DigestingSink()
            try Data(header.utf8).withUnsafeBytes { try hasher.write($0) }
            if info.kind == .regular, !info.isSocket { try FileSource(path: path, noFollow: true).copy(to: hasher) }
            try hasher.finish()
            let d = hasher.digest
            observe?(Entry(path: rel, isDirectory: false, mode: info.mode, uid: info.uid, gid: info.gid, size: info.size, digest: d))
            return d
        }
        observe?(Entry(path: rel, isDirectory: true, mode: info.mode, uid: info.uid, gid: info.gid, size: 0, digest: nil))
        let headerDigest = rel.isEmpty ? Digest.of(Data()) : Digest.of(Data(header.utf8))
        var list = DigestHasher()
        list.update(Array("\u{0}\(headerDigest)".utf8))
        for name in try listDirectory(path) {
            let child = rel.isEmpty ? name : rel + "/" + name
            if excluded(child) { continue }
            let d = try checksum(root: root, clean: child, excluded: excluded, observe: observe)
            list.update(Array("\u{0}\(name)\(d)".utf8))
        }
        return list.finalize()
    }

    /// The checksum of a regular file that is not on disk (a heredoc's, in the mkfile op's
    /// result): owned by root, with `mode` and `content`.
    public static func fileChecksum(mode: UInt32, content: Data) -> Digest {
        var bytes = Data(header(mode: mode, uid: 0, gid: 0, size: Int64(content.count), typeflag: TarEntry.Kind.regular.typeflag).utf8)
        bytes.append(content)
        return Digest.of(bytes)
    }

    /// The tarsum v1 header of a path, as BuildKit writes it before the content.
    static func headerBytes(_ info: FileInfo, path: String) throws -> String {
        let isDevice = info.kind == .characterDevice || info.kind == .blockDevice
        let xattrs = try readXattrs(path).filter { k, _ in k == "security.capability" || (!k.hasPrefix("security.") && !k.hasPrefix("system.")) }
        return header(mode: info.mode, uid: info.uid, gid: info.gid, size: info.kind == .regular && !info.isSocket ? info.size : 0,
                      typeflag: info.kind.typeflag, link: info.kind == .symlink ? try readLink(path) : "",
                      device: isDevice ? (info.rdevMajor, info.rdevMinor) : (0, 0), xattrs: xattrs)
    }

    /// The header's fields in tarsum v1 order (`name`, `uname` and `gname` empty), then the
    /// xattrs sorted by name.
    static func header(mode: UInt32, uid: Int, gid: Int, size: Int64, typeflag: UInt8, link: String = "",
                       device: (UInt32, UInt32) = (0, 0), xattrs: [String: [UInt8]] = [:]) -> String {
        var text = "name" + "mode\(mode)" + "uid\(uid)" + "gid\(gid)" + "size\(size)"
            + "typeflag\(Character(Unicode.Scalar(typeflag)))" + "linkname\(link)" + "uname" + "gname"
            + "devmajor\(device.0)" + "devminor\(device.1)"
        for (k, v) in xattrs.sorted(by: { $0.key < $1.key }) { text += k + String(decoding: v, as: UTF8.self) }
        return text
    }
}
