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
        let rel = relative.split(separator: "/").joined(separator: "/")
        let path = rel.isEmpty ? root : root + "/" + rel
        let info = try FileInfo.lstat(path, socketsAsFiles: true)
        let header = try headerBytes(info, path: path)
        guard info.kind == .directory else {
            var hasher = DigestHasher()
            hasher.update(Array(header.utf8))
            if info.kind == .regular, !info.isSocket { try hashContent(path, into: &hasher) }
            let d = hasher.finalize()
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
            let d = try checksum(root: root, relative: child, excluded: excluded, observe: observe)
            list.update(Array("\u{0}\(name)\(d)".utf8))
        }
        return list.finalize()
    }

    /// The tarsum v1 header of a path, as BuildKit writes it before the content.
    static func headerBytes(_ info: FileInfo, path: String) throws -> String {
        let link = info.kind == .symlink ? try readLink(path) : ""
        let size = info.kind == .regular && !info.isSocket ? info.size : 0
        var text = "name" + "mode\(info.mode)" + "uid\(info.uid)" + "gid\(info.gid)" + "size\(size)"
            + "typeflag\(Character(Unicode.Scalar(info.kind.typeflag)))" + "linkname\(link)" + "uname" + "gname"
        let isDevice = info.kind == .characterDevice || info.kind == .blockDevice
        text += "devmajor\(isDevice ? info.rdevMajor : 0)" + "devminor\(isDevice ? info.rdevMinor : 0)"
        for (k, v) in try readXattrs(path).sorted(by: { $0.key < $1.key })
        where k == "security.capability" || (!k.hasPrefix("security.") && !k.hasPrefix("system.")) {
            text += k + String(decoding: v, as: UTF8.self)
        }
        return text
    }

    static func hashContent(_ path: String, into hasher: inout DigestHasher) throws {
        let src = try FileSource(path: path, noFollow: true)
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buf.deallocate() }
        while true {
            let n = try src.read(into: buf)
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buf[0..<n]))
        }
    }
}
