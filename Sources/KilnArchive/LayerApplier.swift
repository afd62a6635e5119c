import CKilnSys
import KilnSystem
#if canImport(Glibc)
import Glibc
#endif

/// Unpacks layer tars onto a directory, honouring OCI whiteouts, safely.
///
/// Safety: entry names must be relative and free of `..`; every parent directory is resolved
/// inside the root as if the root were `/` (a symlink, even an absolute one, can never lead
/// out); the final component is never followed; hard-link targets are resolved the same way.
/// A refused entry stops the apply with ``ArchiveError/unsafeEntry(path:reason:)``.
public struct LayerApplier {
    /// What whiteouts do.
    public enum Whiteouts: Sendable {
        /// Remove what they name from the tree below (a merged filesystem).
        case apply
        /// Keep them the way overlayfs stores them: `.wh.NAME` as a 0/0 character device NAME,
        /// `.wh..wh..opq` as `trusted.overlay.opaque=y` on its directory. A layer unpacked on its
        /// own this way is an overlay lower directory.
        case overlay
    }

    /// Extraction root.
    public let root: String
    /// Apply ownership (needs root); otherwise files belong to the caller.
    public var preserveOwnership: Bool
    /// What whiteouts do.
    public var whiteouts: Whiteouts
    /// Every entry's owner instead of the archive's (`ADD --chown`).
    public var owner: (uid: UInt32, gid: UInt32)?
    /// Where an entry's parent directory (a path relative to the root) really is: for an
    /// archive extracted over a filesystem this tree is a change to, its symlinks followed
    /// there, as if the root were `/`. The result is relative to the root too.
    public var landing: ((String) throws -> String)?

    /// An applier onto `root` (an existing directory).
    public init(root: String, preserveOwnership: Bool = getuid() == 0, whiteouts: Whiteouts = .apply) {
        var r = root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        self.root = r
        self.preserveOwnership = preserveOwnership
        self.whiteouts = whiteouts
    }

    /// Applies the tar read from `source`; returns the number of entries applied.
    @discardableResult
    public func apply(_ source: any ByteSource) throws -> Int {
        let reader = TarReader(source: source)
        var written = Set<String>()
        var dirTimes: [(String, Int64)] = []
        var count = 0
        while let entry = try reader.next() {
            count += 1
            let components = try Self.sanitize(entry.path)
            if components.isEmpty { continue }  // the root itself
            let name = components[components.count - 1]
            var parentComponents = Array(components.dropLast())
            if let landing { parentComponents = try Self.sanitize(try landing(parentComponents.joined(separator: "/"))) }
            let parent = try resolve(parentComponents, createMissing: true)
            if try applyWhiteout(entry, name: name, parent: parent, parentComponents: parentComponents, written: written) { continue }
            let target = parent + "/" + name
            try create(entry, at: target, reader: reader)
            written.insert((parentComponents + [name]).joined(separator: "/"))
            if entry.kind == .hardlink { continue }  // shares the target's inode and metadata
            try setMetadata(entry, at: target)
            if entry.kind == .directory { dirTimes.append((target, entry.mtime)) } else {
                _ = kiln_set_mtime(target, entry.mtime, 0)
            }
        }
        // Directory times last, deepest first: creating children changes them.
        for (path, t) in dirTimes.reversed() { _ = kiln_set_mtime(path, t, 0) }
        return count
    }

    /// Honours an OCI whiteout entry (true when `entry` is one): `.wh.NAME` removes NAME,
    /// `.wh..wh..opq` empties its directory of what earlier layers put there.
    private func applyWhiteout(_ entry: TarEntry, name: String, parent: String, parentComponents: [String],
                               written: Set<String>) throws -> Bool {
        if whiteouts == .overlay { return try keepWhiteout(entry, name: name, parent: parent) }
        if name == TarEntry.opaqueWhiteout {
            let dirRel = parentComponents.joined(separator: "/")
            for child in try listDirectory(parent) {
                let rel = dirRel.isEmpty ? child : dirRel + "/" + child
                if !written.contains(rel) { try removeAll(parent + "/" + child) }
            }
            return true
        }
        guard name.hasPrefix(TarEntry.whiteoutPrefix) else { return false }
        let victim = String(name.dropFirst(TarEntry.whiteoutPrefix.count))
        guard !victim.isEmpty, victim != ".", victim != ".." else {
            throw ArchiveError.unsafeEntry(path: entry.path, reason: "invalid whiteout")
        }
        try removeAll(parent + "/" + victim)
        return true
    }

    /// A whiteout stored as overlayfs stores it (true when `entry` is one).
    private func keepWhiteout(_ entry: TarEntry, name: String, parent: String) throws -> Bool {
        if name == TarEntry.opaqueWhiteout {
            let rc = Array("y".utf8).withUnsafeBytes { lsetxattr(parent, "trusted.overlay.opaque", $0.baseAddress, 1, 0) }
            guard rc == 0 else { throw ArchiveError.io(path: parent, operation: "lsetxattr trusted.overlay.opaque", errno: errno) }
            return true
        }
        guard name.hasPrefix(TarEntry.whiteoutPrefix) else { return false }
        let victim = String(name.dropFirst(TarEntry.whiteoutPrefix.count))
        guard !victim.isEmpty, victim != ".", victim != "..", !victim.hasPrefix(TarEntry.whiteoutPrefix) else {
            throw ArchiveError.unsafeEntry(path: entry.path, reason: "invalid whiteout")
        }
        let target = parent + "/" + victim
        try removeAll(target)
        guard mknod(target, S_IFCHR | 0o600, kiln_makedev(0, 0)) == 0 else {
            throw ArchiveError.io(path: target, operation: "mknod (whiteout)", errno: errno)
        }
        return true
    }

    /// Creates `entry` at `target` (replacing what is there, except a directory over a directory).
    private func create(_ entry: TarEntry, at target: String, reader: TarReader) throws {
        var existing = stat()
        let exists = lstat(target, &existing) == 0
        let isDirectory = exists && (existing.st_mode & S_IFMT) == S_IFDIR
        if exists && !(entry.kind == .directory && isDirectory) { try removeAll(target) }
        switch entry.kind {
        case .directory:
            if !isDirectory {
                guard mkdir(target, 0o700) == 0 else { throw ArchiveError.io(path: target, operation: "mkdir", errno: errno) }
            }
        case .regular:
            let sink = try FileSink(path: target, mode: 0o600)
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer { buf.deallocate() }
            while true {
                let n = try reader.readContent(into: buf)
                if n == 0 { break }
                try sink.write(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
            }
            try sink.finishWithoutSync()
        case .symlink:
            guard symlink(entry.linkName, target) == 0 else { throw ArchiveError.io(path: target, operation: "symlink", errno: errno) }
        case .hardlink:
            try hardLink(entry, at: target)
        case .characterDevice, .blockDevice, .fifo:
            let type: mode_t = entry.kind == .fifo ? S_IFIFO : (entry.kind == .characterDevice ? S_IFCHR : S_IFBLK)
            guard mknod(target, type | 0o600, kiln_makedev(entry.devMajor, entry.devMinor)) == 0 else {
                throw ArchiveError.io(path: target, operation: "mknod", errno: errno)
            }
        }
    }

    /// A hard link to a file this layer (or an earlier one) wrote, resolved inside the root.
    private func hardLink(_ entry: TarEntry, at target: String) throws {
        var linkComponents = try Self.sanitize(entry.linkName)
        guard !linkComponents.isEmpty else { throw ArchiveError.unsafeEntry(path: entry.path, reason: "hard link to the root") }
        if let landing {
            let name = linkComponents[linkComponents.count - 1]
            linkComponents = try Self.sanitize(try landing(linkComponents.dropLast().joined(separator: "/"))) + [name]
        }
        let source = try resolve(Array(linkComponents.dropLast()), createMissing: false) + "/" + linkComponents[linkComponents.count - 1]
        var st = stat()
        guard lstat(source, &st) == 0 else {
            throw ArchiveError.unsafeEntry(path: entry.path, reason: "hard link target '\(entry.linkName)' does not exist in the layer")
        }
        guard (st.st_mode & S_IFMT) != S_IFDIR else {
            throw ArchiveError.unsafeEntry(path: entry.path, reason: "hard link to a directory")
        }
        guard link(source, target) == 0 else { throw ArchiveError.io(path: target, operation: "link", errno: errno) }
    }

    private func setMetadata(_ entry: TarEntry, at path: String) throws {
        if preserveOwnership {
            let (uid, gid) = owner.map { (uid_t($0.uid), gid_t($0.gid)) } ?? (uid_t(entry.uid), gid_t(entry.gid))
            guard lchown(path, uid, gid) == 0 else {
                throw ArchiveError.io(path: path, operation: "lchown", errno: errno)
            }
        }
        if entry.kind != .symlink {
            guard chmod(path, mode_t(entry.mode & 0o7777)) == 0 else { throw ArchiveError.io(path: path, operation: "chmod", errno: errno) }
        }
        for (name, value) in entry.xattrs.sorted(by: { $0.key < $1.key }) {
            let rc = value.withUnsafeBytes { lsetxattr(path, name, $0.baseAddress, $0.count, 0) }
            if rc != 0 && errno != ENOTSUP && !(errno == EPERM && name.hasPrefix("user.") && entry.kind == .symlink) {
                throw ArchiveError.io(path: path, operation: "lsetxattr \(name)", errno: errno)
            }
        }
    }

    /// Splits a tar name into components, refusing absolute names and `..`.
    static func sanitize(_ name: String) throws -> [String] {
        guard !name.hasPrefix("/") else { throw ArchiveError.unsafeEntry(path: name, reason: "absolute path") }
        var out: [String] = []
        for c in name.split(separator: "/", omittingEmptySubsequences: true) {
            if c == "." { continue }
            if c == ".." { throw ArchiveError.unsafeEntry(path: name, reason: "'..' in path") }
            if c.utf8.contains(0) { throw ArchiveError.unsafeEntry(path: name, reason: "NUL in path") }
            out.append(String(c))
        }
        return out
    }

    /// The host path of `components` under the root, following symlinks as if the root were
    /// `/` (``RootedDirectory``); missing directories are made (0755) when `createMissing`.
    func resolve(_ components: [String], createMissing: Bool) throws -> String {
        let path = components.joined(separator: "/")
        let rooted = RootedDirectory(root)
        do {
            return createMissing ? try rooted.makeDirectories(path) : try rooted.resolve(path)
        } catch .tooManyLinks {
            throw ArchiveError.unsafeEntry(path: path, reason: "too many symlinks")
        } catch .notFound, .io(_, "mkdir", ENOTDIR) {
            throw ArchiveError.unsafeEntry(path: path, reason: "a parent is not a directory")
        } catch {
            throw ArchiveError.io(path: FSPath.under(root, path), operation: "resolve", errno: error.code)
        }
    }

    private func removeAll(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            for child in try listDirectory(path) { try removeAll(path + "/" + child) }
            guard rmdir(path) == 0 else { throw ArchiveError.io(path: path, operation: "rmdir", errno: errno) }
        } else {
            guard unlink(path) == 0 else { throw ArchiveError.io(path: path, operation: "unlink", errno: errno) }
        }
    }
}
