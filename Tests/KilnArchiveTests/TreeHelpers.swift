import Foundation
import KilnArchive
import KilnOCI
import KilnTestSupport

/// A file tree snapshot for comparisons: path → (kind, mode, uid, gid, content digest, link, mtime, xattrs).
struct TreeSnapshot: Equatable, CustomStringConvertible {
    struct Node: Equatable {
        var kind: String
        var mode: UInt32
        var uid: UInt32
        var gid: UInt32
        var content: String
        var link: String
        var mtime: Int
        var xattrs: [String: [UInt8]]
    }

    var nodes: [String: Node]

    init(_ root: String, includeDirMtimes: Bool = true) throws {
        nodes = [:]
        try walk(root, "", includeDirMtimes: includeDirMtimes)
    }

    private mutating func walk(_ root: String, _ rel: String, includeDirMtimes: Bool) throws {
        let dir = rel.isEmpty ? root : root + "/" + rel
        for name in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() {
            let r = rel.isEmpty ? name : rel + "/" + name
            let p = root + "/" + r
            var st = stat()
            guard lstat(p, &st) == 0 else { throw ProcessRunner.Failure(description: "lstat \(p)") }
            let fmt = st.st_mode & S_IFMT
            var node = Node(kind: "?", mode: UInt32(st.st_mode & 0o7777), uid: st.st_uid, gid: st.st_gid, content: "", link: "",
                            mtime: st.st_mtim.tv_sec, xattrs: [:])
            switch fmt {
            case S_IFREG:
                node.kind = "file"
                node.content = Digest.of(try Data(contentsOf: URL(fileURLWithPath: p))).description
            case S_IFDIR:
                node.kind = "dir"
                if !includeDirMtimes { node.mtime = 0 }
            case S_IFLNK:
                node.kind = "link"
                node.link = try FileManager.default.destinationOfSymbolicLink(atPath: p)
                node.mode = 0
                node.mtime = 0
            case S_IFIFO: node.kind = "fifo"
            case S_IFCHR: node.kind = "char"
            default: node.kind = "other"
            }
            let size = llistxattrCount(p)
            if size > 0 { node.xattrs = userXattrs(p) }
            nodes[r] = node
            if fmt == S_IFDIR { try walk(root, r, includeDirMtimes: includeDirMtimes) }
        }
    }

    var description: String { nodes.keys.sorted().joined(separator: ", ") }

    /// Paths whose nodes differ.
    func differences(_ other: TreeSnapshot) -> [String] {
        Set(nodes.keys).union(other.nodes.keys).sorted().filter { nodes[$0] != other.nodes[$0] }
    }
}

func llistxattrCount(_ p: String) -> Int { Int(ProcessXattr.list(p).count) }

func userXattrs(_ p: String) -> [String: [UInt8]] {
    var out: [String: [UInt8]] = [:]
    for name in ProcessXattr.list(p) where name.hasPrefix("user.") || name.hasPrefix("security.capability") {
        out[name] = ProcessXattr.get(p, name)
    }
    return out
}

/// Writes a file with content and metadata.
func makeFile(_ path: String, _ content: String, mode: mode_t = 0o644, mtime: Int = 1_700_000_000) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(content.utf8).write(to: URL(fileURLWithPath: path))
    chmod(path, mode)
    setMtime(path, mtime)
}

func setMtime(_ path: String, _ t: Int) {
    var ts = [timespec(tv_sec: t, tv_nsec: 0), timespec(tv_sec: t, tv_nsec: 0)]
    utimensat(AT_FDCWD, path, &ts, AT_SYMLINK_NOFOLLOW)
}

/// Packs a directory into an uncompressed tar in memory.
func packToMemory(_ root: String, options: PackOptions = PackOptions()) throws -> [UInt8] {
    let sink = MemorySink()
    let tar = TarWriter(sink: sink)
    try LayerPacker(options: options).pack(directory: root, into: tar)
    try tar.finish()
    return sink.bytes
}

/// Applies an in-memory tar onto `root`.
func applyFromMemory(_ bytes: [UInt8], to root: String) throws {
    try LayerApplier(root: root).apply(MemorySource(bytes))
}

/// Runs a shell command line, returning stdout.
@discardableResult
func sh(_ command: String) async throws -> String {
    try await ProcessRunner.run(["sh", "-c", command]).text
}

func fileDigest(_ path: String) throws -> Digest { Digest.of(try Data(contentsOf: URL(fileURLWithPath: path))) }
