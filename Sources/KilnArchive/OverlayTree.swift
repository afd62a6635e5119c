import CKilnSys
import KilnSystem
#if canImport(Glibc)
import Glibc
#endif

/// Layer directories in overlayfs's format (whiteouts as 0/0 character devices, opaque
/// directories marked `trusted.overlay.opaque=y`) applied onto plain trees — how the copying
/// snapshotter builds a chain's view without overlay, and how a chain's bottom is flattened.
public enum OverlayTree {
    /// Applies the layer directory `layer` onto `tree`: a whiteout removes what it names, an
    /// opaque directory is emptied of what lower layers put there, everything else replaces what
    /// is there. Regular files are hard links to the layer's (`linking`) or copies.
    public static func merge(_ layer: String, into tree: String, linking: Bool) throws {
        try mergeDirectory(layer, into: tree, linking: linking)
    }

    private static func mergeDirectory(_ src: String, into dst: String, linking: Bool) throws {
        for name in try HostFiles.list(src) {
            let from = src + "/" + name, to = dst + "/" + name
            let info = try FileInfo.lstat(from)
            if info.isWhiteoutDevice {
                HostFiles.removeTree(to)
                continue
            }
            if info.kind == .directory {
                var st = stat()
                let existing = lstat(to, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
                if !existing {
                    HostFiles.removeTree(to)
                    guard mkdir(to, 0o700) == 0 else { throw ArchiveError.io(path: to, operation: "mkdir", errno: errno) }
                } else if readXattr(from, "trusted.overlay.opaque") == Array("y".utf8) {
                    for child in try HostFiles.list(to) { HostFiles.removeTree(to + "/" + child) }
                }
                try mergeDirectory(from, into: to, linking: linking)
                try copyMetadata(info, from: from, to: to)
                continue
            }
            HostFiles.removeTree(to)
            try place(info, from: from, to: to, linking: linking)
        }
    }

    private static func place(_ info: FileInfo, from: String, to: String, linking: Bool) throws {
        switch info.kind {
        case .regular:
            if linking, link(from, to) == 0 { return }  // shares the layer's inode and metadata
            let sink = try FileSink(path: to, mode: 0o600)
            _ = try FileSource(path: from, noFollow: true).copy(to: sink)
            try sink.finishWithoutSync()
        case .symlink:
            guard symlink(try readLink(from), to) == 0 else { throw ArchiveError.io(path: to, operation: "symlink", errno: errno) }
        case .characterDevice, .blockDevice, .fifo:
            let type: mode_t = info.kind == .fifo ? S_IFIFO : (info.kind == .characterDevice ? S_IFCHR : S_IFBLK)
            guard mknod(to, type | 0o600, kiln_makedev(info.rdevMajor, info.rdevMinor)) == 0 else {
                throw ArchiveError.io(path: to, operation: "mknod", errno: errno)
            }
        case .directory, .hardlink:
            return
        }
        try copyMetadata(info, from: from, to: to)
    }

    /// Owner, mode, xattrs (overlay's own left out) and mtime of `from`, onto `to`.
    private static func copyMetadata(_ info: FileInfo, from: String, to: String) throws {
        _ = lchown(to, uid_t(info.uid), gid_t(info.gid))
        if info.kind != .symlink { _ = chmod(to, mode_t(info.mode & 0o7777)) }
        for (name, value) in try readXattrs(from) {
            _ = value.withUnsafeBytes { lsetxattr(to, name, $0.baseAddress, $0.count, 0) }
        }
        _ = kiln_set_mtime(to, info.mtime, Int(info.mtimeNsec % 1_000_000_000))
    }
}
