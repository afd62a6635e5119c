/// The change from one directory tree to another as layer entries — the copying fallback for
/// machines without overlayfs. Files only in `upper`, or changed (kind, mode, owner, size,
/// mtime to the nanosecond, link target, xattrs), are written whole; files only in `lower`
/// become `.wh.NAME` whiteouts.
public struct TreeDiff: Sendable {
    /// How entries are made.
    public var packer: LayerPacker

    /// A differ.
    public init(packer: LayerPacker = LayerPacker()) { self.packer = packer }

    /// Writes the entries that turn `lower` into `upper`.
    public func diff(lower: String, upper: String, into tar: TarWriter) throws {
        var links: [LayerPacker.LinkKey: String] = [:]
        try walk(lower: lower, upper: upper, relative: "", tar: tar, links: &links)
    }

    private func walk(lower: String, upper: String, relative: String, tar: TarWriter, links: inout [LayerPacker.LinkKey: String]) throws {
        let lowerDir = relative.isEmpty ? lower : lower + "/" + relative
        let upperDir = relative.isEmpty ? upper : upper + "/" + relative
        let lowerNames = Set((try? listDirectory(lowerDir)) ?? [])
        let upperNames = try listDirectory(upperDir)
        let upperSet = Set(upperNames)
        // Order by the name each child is written under (a deleted one becomes `.wh.NAME`).
        let all = upperSet.union(lowerNames).map { name in
            (Array((upperSet.contains(name) ? name : TarEntry.whiteoutPrefix + name).utf8), name)
        }.sorted { $0.0.lexicographicallyPrecedes($1.0) }.map(\.1)
        for name in all {
            let rel = relative.isEmpty ? name : relative + "/" + name
            let up = upper + "/" + rel
            guard upperSet.contains(name) else {
                let parent = relative.isEmpty ? "" : relative + "/"
                try tar.writeHeader(TarEntry(path: parent + TarEntry.whiteoutPrefix + name, kind: .regular, mode: 0))
                continue
            }
            let info = try FileInfo.lstat(up)
            let entry = try packer.entry(for: info, path: up, relative: rel)
            if lowerNames.contains(name) {
                let low = lower + "/" + rel
                let lowInfo = try FileInfo.lstat(low)
                let lowEntry = try packer.entry(for: lowInfo, path: low, relative: rel)
                let same = lowInfo.kind == info.kind && lowEntry == entry && lowInfo.mtimeNsec == info.mtimeNsec
                if !same { try packer.emit(entry, from: up, info: info, tar: tar, links: &links) }
                if info.kind == .directory {
                    if lowInfo.kind == .directory {
                        try walk(lower: lower, upper: upper, relative: rel, tar: tar, links: &links)
                    } else {
                        try addAll(upper: upper, relative: rel, tar: tar, links: &links)
                    }
                }
            } else {
                try packer.emit(entry, from: up, info: info, tar: tar, links: &links)
                if info.kind == .directory { try addAll(upper: upper, relative: rel, tar: tar, links: &links) }
            }
        }
    }

    private func addAll(upper: String, relative: String, tar: TarWriter, links: inout [LayerPacker.LinkKey: String]) throws {
        for name in try listDirectory(upper + "/" + relative) {
            let rel = relative + "/" + name
            let path = upper + "/" + rel
            let info = try FileInfo.lstat(path)
            try packer.emit(try packer.entry(for: info, path: path, relative: rel), from: path, info: info, tar: tar, links: &links)
            if info.kind == .directory { try addAll(upper: upper, relative: rel, tar: tar, links: &links) }
        }
    }
}
