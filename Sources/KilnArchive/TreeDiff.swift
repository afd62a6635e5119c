#if canImport(Glibc)
import Glibc
#endif
import CKilnSys
import KilnSystem

/// The change from one filesystem to another as layer entries, from either of two inputs
/// that give the same bytes:
///
/// - two whole trees (``diff(lower:upper:into:)``, the copying fallback): both are walked;
/// - an overlayfs upper directory over its lower view (``diffOverlayUpper(_:lower:into:)``):
///   only the upper is walked; the lower is looked at for the entries the upper holds (was a
///   copied-up file changed?) and listed only below opaque directories.
///
/// Files only in the new tree, or changed (kind, mode, owner, size, mtime to the nanosecond,
/// link target, xattrs), are written whole; files gone become `.wh.NAME` whiteouts. Every
/// changed entry comes with its parent directories, as an overlayfs upper directory holds
/// them after a copy-up.
public struct TreeDiff: Sendable {
    /// How entries are made.
    public var packer: LayerPacker

    /// A differ.
    public init(packer: LayerPacker = LayerPacker()) { self.packer = packer }

    /// Writes the entries that turn `lower` into `upper`.
    public func diff(lower: String, upper: String, into tar: TarWriter) throws {
        var walk = Walk(packer: packer, tar: tar, lower: lower, upper: upper, overlay: false)
        try walk.directory("", lowerIsDirectory: true, opaque: true)
    }

    /// Writes the entries of the overlayfs upper directory `upper` over `lower` (the chain's
    /// merged view), then trims `upper` to hold exactly what unpacking those entries in
    /// overlay's format gives — unchanged copied-up files go, opaque directories get a
    /// whiteout device per hidden name instead of their marker — so that it can serve as the
    /// layer's unpacked directory over any chain.
    public func diffOverlayUpper(_ upper: String, lower: String, into tar: TarWriter) throws {
        var walk = Walk(packer: packer, tar: tar, lower: lower, upper: upper, overlay: true)
        try walk.directory("", lowerIsDirectory: true, opaque: false)
        for fixup in walk.fixups { fixup.apply(upper) }
    }

    /// A change to an upper directory, made once its entries are written.
    enum Fixup {
        case remove(String)
        case removeDirectory(String)
        case whiteout(String)
        case clearOpaque(String)

        /// Makes the change, keeping the times of the directory it is made in (they are the
        /// layer's: its entry was written before).
        func apply(_ root: String) {
            let parent: String
            switch self {
            case .remove(let rel), .removeDirectory(let rel), .whiteout(let rel): parent = FSPath.parent(root + "/" + rel)
            case .clearOpaque: parent = ""
            }
            var st = stat()
            let restore = !parent.isEmpty && lstat(parent, &st) == 0
            change(root)
            if restore { _ = kiln_set_mtime(parent, Int64(st.st_mtim.tv_sec), st.st_mtim.tv_nsec) }
        }

        private func change(_ root: String) {
            switch self {
            case .remove(let rel): unlink(root + "/" + rel)
            case .removeDirectory(let rel): rmdir(root + "/" + rel)
            case .whiteout(let rel): mknod(root + "/" + rel, S_IFCHR | 0o000, 0)
            case .clearOpaque(let rel): lremovexattr(root + "/" + rel, "trusted.overlay.opaque")
            }
        }
    }

    /// One pass over the trees.
    struct Walk {
        let packer: LayerPacker
        let tar: TarWriter
        let lower: String
        let upper: String
        /// Whether `upper` is an overlay upper directory (whiteout devices, opaque markers,
        /// only changed entries and their parents).
        let overlay: Bool
        var links: [LayerPacker.LinkKey: String] = [:]
        /// The directories on the current path not written yet.
        var pending: [(entry: TarEntry, path: String, info: FileInfo)] = []
        var fixups: [Fixup] = []

        /// Writes the directories a change sits in before the change itself.
        mutating func flush() throws {
            for p in pending { try packer.emit(p.entry, from: p.path, info: p.info, tar: tar, links: &links) }
            pending.removeAll()
        }

        /// The entries below directory `relative`. `lowerIsDirectory`: the lower holds a real
        /// directory there; `opaque`: the lower's names count even where the upper lacks them.
        mutating func directory(_ relative: String, lowerIsDirectory: Bool, opaque: Bool) throws {
            let upperNames = try listDirectory(join(upper, relative))
            let lowerNames = lowerIsDirectory && opaque ? Set((try? listDirectory(join(lower, relative))) ?? []) : []
            let upperSet = Set(upperNames)
            var names: [(emitted: [UInt8], name: String, info: FileInfo?)] = []
            for name in upperSet.union(lowerNames) {
                let info = upperSet.contains(name) ? try FileInfo.lstat(join(upper, relative) + "/" + name) : nil
                let gone = info == nil || (overlay && info?.isWhiteoutDevice == true)
                names.append((Array((gone ? TarEntry.whiteoutPrefix + name : name).utf8), name, info))
            }
            // Ordered by the name each child is written under (a deleted one as `.wh.NAME`).
            names.sort { $0.emitted.lexicographicallyPrecedes($1.emitted) }
            for (_, name, info) in names {
                let rel = relative.isEmpty ? name : relative + "/" + name
                guard let info, !(overlay && info.isWhiteoutDevice) else {
                    try deleted(rel, name: name, relative: relative, lowerIsDirectory: lowerIsDirectory, inUpper: info != nil)
                    continue
                }
                try entry(rel, info: info, lowerIsDirectory: lowerIsDirectory, opaque: opaque)
            }
        }

        /// A name the new tree lacks (or an overlay whiteout device): a whiteout, when the
        /// lower has something to delete.
        mutating func deleted(_ rel: String, name: String, relative: String, lowerIsDirectory: Bool, inUpper: Bool) throws {
            var st = stat()
            guard lowerIsDirectory, lstat(lower + "/" + rel, &st) == 0 else {
                if inUpper { fixups.append(.remove(rel)) }  // a whiteout over nothing
                return
            }
            try flush()
            let parent = relative.isEmpty ? "" : relative + "/"
            // A fixed time: whiteouts carry no metadata worth keeping.
            try tar.writeHeader(TarEntry(path: parent + TarEntry.whiteoutPrefix + name, kind: .regular, mode: 0))
            if overlay && !inUpper { fixups.append(.whiteout(rel)) }
        }

        /// An entry of the new tree: written when the lower lacks it or it changed; its
        /// directory's children follow.
        mutating func entry(_ rel: String, info: FileInfo, lowerIsDirectory: Bool, opaque: Bool) throws {
            let up = upper + "/" + rel
            let entry = try packer.entry(for: info, path: up, relative: rel)
            var lowInfo: FileInfo?
            if lowerIsDirectory { lowInfo = try? FileInfo.lstat(lower + "/" + rel) }
            var changed = true
            if let li = lowInfo {
                let lowEntry = try packer.entry(for: li, path: lower + "/" + rel, relative: rel)
                changed = !(li.kind == info.kind && lowEntry == entry && li.mtimeNsec == info.mtimeNsec)
            }
            if changed {
                try flush()
                try packer.emit(entry, from: up, info: info, tar: tar, links: &links)
            }
            guard info.kind == .directory else {
                if !changed && overlay { fixups.append(.remove(rel)) }
                return
            }
            let markedOpaque = overlay && readXattr(up, "trusted.overlay.opaque") == Array("y".utf8)
            if markedOpaque { fixups.append(.clearOpaque(rel)) }
            guard lowInfo?.kind == .directory else {
                try addAll(rel)
                return
            }
            if !changed { pending.append((entry, up, info)) }
            try directory(rel, lowerIsDirectory: true, opaque: !overlay || opaque || markedOpaque)
            if !changed, pending.last?.entry.path == rel {
                pending.removeLast()
                if overlay { fixups.append(.removeDirectory(rel)) }
            }
        }

        /// Everything below `relative`, which the lower does not have as a directory.
        mutating func addAll(_ relative: String) throws {
            for name in try listDirectory(upper + "/" + relative) {
                let rel = relative + "/" + name
                let path = upper + "/" + rel
                let info = try FileInfo.lstat(path)
                if overlay && info.isWhiteoutDevice {
                    fixups.append(.remove(rel))  // a deletion inside a new directory deletes nothing
                    continue
                }
                try packer.emit(try packer.entry(for: info, path: path, relative: rel), from: path, info: info, tar: tar, links: &links)
                guard info.kind == .directory else { continue }
                if overlay && readXattr(path, "trusted.overlay.opaque") != nil { fixups.append(.clearOpaque(rel)) }
                try addAll(rel)
            }
        }

        private func join(_ root: String, _ relative: String) -> String { relative.isEmpty ? root : root + "/" + relative }
    }
}
