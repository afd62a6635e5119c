/// Options for turning files into tar entries.
public struct PackOptions: Sendable {
    /// Clamp every mtime to at most this (`SOURCE_DATE_EPOCH`), when set.
    public var sourceDateEpoch: Int64?

    /// Defaults: mtimes kept as they are (whole seconds).
    public init(sourceDateEpoch: Int64? = nil) { self.sourceDateEpoch = sourceDateEpoch }

    func clamp(_ t: Int64) -> Int64 { sourceDateEpoch.map { min(t, $0) } ?? t }
}

/// Turns directory trees into deterministic tar streams: entries in path order (each
/// directory's names sorted bytewise, parents before children), numeric owners, no user or
/// group names, whole-second mtimes, hard links detected by inode.
public struct LayerPacker: Sendable {
    /// Options.
    public var options: PackOptions

    /// A packer.
    public init(options: PackOptions = PackOptions()) { self.options = options }

    /// Writes every file under `root` (not `root` itself) to `tar`.
    public func pack(directory root: String, into tar: TarWriter) throws {
        var links: [LinkKey: String] = [:]
        try walk(root: root, relative: "", tar: tar, links: &links) { _, _ in true }
    }

    struct LinkKey: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    func entry(for info: FileInfo, path: String, relative: String) throws -> TarEntry {
        var e = TarEntry(path: relative, kind: info.kind, mode: info.mode, uid: info.uid, gid: info.gid,
                         size: info.size, mtime: options.clamp(info.mtime))
        if info.kind == .symlink { e.linkName = try readLink(path) }
        if info.kind == .characterDevice || info.kind == .blockDevice {
            e.devMajor = info.rdevMajor
            e.devMinor = info.rdevMinor
        }
        e.xattrs = try readXattrs(path)
        return e
    }

    func emit(_ e: TarEntry, from path: String, info: FileInfo, tar: TarWriter, links: inout [LinkKey: String]) throws {
        var e = e
        if info.kind == .regular && info.links > 1 {
            let key = LinkKey(device: info.device, inode: info.inode)
            if let first = links[key] {
                e.kind = .hardlink
                e.linkName = first
                e.size = 0
                try tar.writeHeader(e)
                return
            }
            links[key] = e.path
        }
        try tar.writeHeader(e)
        if e.kind == .regular && e.size > 0 {
            try tar.writeContent(from: FileSource(path: path, noFollow: true))
        }
    }

    private func walk(root: String, relative: String, tar: TarWriter, links: inout [LinkKey: String],
                      include: (String, FileInfo) -> Bool) throws {
        let dir = relative.isEmpty ? root : root + "/" + relative
        for name in try listDirectory(dir) {
            let rel = relative.isEmpty ? name : relative + "/" + name
            let path = root + "/" + rel
            let info = try FileInfo.lstat(path)
            guard include(rel, info) else { continue }
            try emit(try entry(for: info, path: path, relative: rel), from: path, info: info, tar: tar, links: &links)
            if info.kind == .directory { try walk(root: root, relative: rel, tar: tar, links: &links, include: include) }
        }
    }
}
