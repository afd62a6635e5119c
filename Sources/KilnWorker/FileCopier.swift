import CKilnSys
import Foundation
import KilnArchive
import KilnDockerfile
import KilnSystem

/// Builds the staging tree of a COPY: files copied with their content, mode, mtime, symlinks
/// and xattrs; ownership reset or set; paths never leave the source root or the staging root.
final class FileCopier {
    var sourceRoot: String
    var stagingRoot: String
    /// Owner to give every copied entry, or nil to keep the source's.
    var owner: (uid: uid_t, gid: gid_t)?
    /// Mode to give every copied entry (`--chmod`).
    var chmod: ChmodSpec?
    /// Relative source paths to leave out.
    var excluded: (String) -> Bool
    /// Parent directories created in the staging tree (not copied from the source).
    private(set) var createdParents: [String] = []
    /// The filesystem the change applies to: directories that already exist there keep their
    /// metadata in the layer instead of being reset. Read inside its root, never on the host.
    var reference: RootedDirectory?
    /// Owner of directories the change creates (WORKDIR's belong to the USER).
    var parentOwner: (uid: uid_t, gid: gid_t) = (0, 0)

    init(sourceRoot: String, stagingRoot: String, owner: (uid: uid_t, gid: gid_t)?, chmod: ChmodSpec?, reference: RootedDirectory? = nil,
         excluded: @escaping (String) -> Bool) {
        self.sourceRoot = sourceRoot
        self.stagingRoot = stagingRoot
        self.owner = owner
        self.chmod = chmod
        self.reference = reference
        self.excluded = excluded
    }

    /// The metadata of `stagingPath`'s counterpart in the reference filesystem, if it exists.
    func existing(_ stagingPath: String) -> stat? {
        reference?.lstat(String(stagingPath.dropFirst(stagingRoot.count)))
    }

    /// Copies `relative` (a file, link or directory under the source root) to `destination`
    /// (absolute in the image); a directory's contents go into `destination`.
    func copy(_ relative: String, to destination: String) throws {
        let src = FSPath.under(sourceRoot, relative)
        var st = stat()
        guard lstat(src, &st) == 0 else { throw CopyError("\(relative.isEmpty ? "/" : relative): not found") }
        let dst = stagingRoot + destination
        try makeParents(of: dst)
        if (st.st_mode & S_IFMT) == S_IFDIR {
            // Copying a directory's contents into an existing directory leaves it as it was.
            let kept = existing(dst).flatMap { (($0.st_mode & S_IFMT) == S_IFDIR) ? $0 : nil }
            try ensureDirectory(dst, like: kept ?? st, keepOwner: kept != nil)
            // A destination directory the copy creates belongs to root (or --chown), not to the
            // source directory's owner: only the contents are copied (BuildKit).
            if kept == nil { _ = lchown(dst, owner?.uid ?? 0, owner?.gid ?? 0) }
            try copyChildren(of: src, relative: relative, into: dst)
        } else {
            try copyEntry(src, st: st, to: dst)
        }
    }

    private func copyChildren(of dir: String, relative: String, into dst: String) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() {
            let rel = relative.isEmpty ? name : relative + "/" + name
            if excluded(rel) { continue }
            let src = dir + "/" + name
            var st = stat()
            guard lstat(src, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                try ensureDirectory(dst + "/" + name, like: st)
                try copyChildren(of: src, relative: rel, into: dst + "/" + name)
            } else {
                try copyEntry(src, st: st, to: dst + "/" + name)
            }
        }
        var st = stat()
        if lstat(dir, &st) == 0 { setTimes(dst, st) }
    }

    private func copyEntry(_ src: String, st: stat, to dst: String) throws {
        unlink(dst)
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            let source = try FileSource(path: src, noFollow: true)
            let sink = try FileSink(path: dst, mode: 0o600)
            try source.copy(to: sink)
            try sink.finishWithoutSync()
        case S_IFLNK:
            var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(src, &buf, buf.count - 1)
            guard n >= 0 else { throw CopyError("readlink \(src) failed") }
            guard symlink(String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self), dst) == 0 else {
                throw CopyError("symlink \(dst): \(String(cString: strerror(errno)))")
            }
        case S_IFSOCK:
            // A socket in the context is copied as an empty file, as BuildKit copies it.
            try FileSink(path: dst, mode: 0o600).finishWithoutSync()
        default:
            guard mknod(dst, st.st_mode, st.st_rdev) == 0 else { throw CopyError("mknod \(dst): \(String(cString: strerror(errno)))") }
        }
        try apply(dst, st)
    }

    private func ensureDirectory(_ dst: String, like st: stat, keepOwner: Bool = false) throws {
        var current = stat()
        if lstat(dst, &current) == 0, (current.st_mode & S_IFMT) != S_IFDIR { unlink(dst) }
        if lstat(dst, &current) != 0 {
            guard mkdir(dst, 0o755) == 0 else { throw CopyError("mkdir \(dst): \(String(cString: strerror(errno)))") }
        }
        try apply(dst, st, keepOwner: keepOwner)
    }

    private func apply(_ path: String, _ st: stat, keepOwner: Bool = false) throws {
        let isLink = (st.st_mode & S_IFMT) == S_IFLNK
        let uid = keepOwner ? st.st_uid : (owner?.uid ?? st.st_uid)
        let gid = keepOwner ? st.st_gid : (owner?.gid ?? st.st_gid)
        guard lchown(path, uid, gid) == 0 else { throw CopyError("chown \(path): \(String(cString: strerror(errno)))") }
        if !isLink {
            let mode = keepOwner ? (st.st_mode & 0o7777)
                : (chmod.map { mode_t($0.mode(from: UInt32(st.st_mode & 0o7777), isDirectory: (st.st_mode & S_IFMT) == S_IFDIR)) } ?? (st.st_mode & 0o7777))
            chmodPath(path, mode)
        }
        setTimes(path, st)
    }

    private func chmodPath(_ path: String, _ mode: mode_t) { _ = Glibc.chmod(path, mode) }

    private func setTimes(_ path: String, _ st: stat) {
        _ = kiln_set_mtime(path, Int64(st.st_mtim.tv_sec), st.st_mtim.tv_nsec)
    }

    /// Creates missing parents of `path` inside the staging root (root-owned, 0755).
    func makeParents(of path: String) throws {
        let parent = FSPath.parent(path)
        guard parent.count > stagingRoot.count else { return }
        var st = stat()
        if lstat(parent, &st) == 0 { return }
        try makeParents(of: parent)
        guard mkdir(parent, 0o755) == 0 else { throw CopyError("mkdir \(parent): \(String(cString: strerror(errno)))") }
        if let st = existing(parent), (st.st_mode & S_IFMT) == S_IFDIR {
            // Already in the image: the layer repeats it unchanged.
            _ = lchown(parent, st.st_uid, st.st_gid)
            _ = Glibc.chmod(parent, st.st_mode & 0o7777)
            setTimes(parent, st)
        } else {
            _ = lchown(parent, parentOwner.uid, parentOwner.gid)
            // With an octal --chmod, the directories a copy creates take that mode too (BuildKit).
            if let octal = chmod?.octal { _ = Glibc.chmod(parent, mode_t(octal)) }
            createdParents.append(parent)
        }
    }

    /// Gives created parents a fixed time, so the same copy always makes the same layer.
    func settleParents() {
        for p in createdParents.reversed() { _ = kiln_set_mtime(p, 0, 0) }
    }
}

/// A COPY that cannot be done.
struct CopyError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

#if canImport(Glibc)
import Glibc
#endif
