import CKilnSys
#if canImport(Glibc)
import Glibc
#endif

/// A host directory used as `/`: paths inside it resolve as they would in a chroot. Symlinks —
/// absolute or relative, chained — are followed inside the root, `..` stops at the root, loops
/// fail, and a symlink pointing nowhere is "not found". This is containerd's and BuildKit's
/// "root path" rule; every path a Dockerfile, a build context or an image names goes through it.
///
/// Where the kernel has `openat2(RESOLVE_IN_ROOT)` (Linux 5.6+) the kernel walks the path, so no
/// component can be swapped for a symlink between the check and the use; elsewhere a careful
/// walk over canonical host paths does the same.
public struct RootedDirectory: Sendable {
    /// The host directory (without a trailing slash).
    public let root: String
    /// Whether `openat2` does the walk (else the userland walk).
    let kernel: Bool

    /// `root` as `/`.
    public init(_ root: String) {
        self.init(root, kernel: Self.kernelResolves)
    }

    /// `root` as `/`, resolved by the kernel or (`kernel: false`) by the userland walk.
    init(_ root: String, kernel: Bool) {
        self.root = FSPath.trimmed(root)
        self.kernel = kernel && Self.kernelResolves
    }

    /// Whether this kernel resolves in-root paths itself.
    public static let kernelResolves: Bool = {
        let fd = Glibc.open("/", KILN_O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let probe = kiln_openat_in_root(fd, ".", KILN_O_PATH | O_CLOEXEC, 0)
        if probe >= 0 { close(probe) }
        return probe >= 0 || errno != ENOSYS
    }()

    // MARK: resolving

    /// The host path of `path` (absolute or relative, both taken inside the root) with every
    /// symlink resolved inside the root; the last component too unless `followFinal` is false.
    public func resolve(_ path: String, followFinal: Bool = true) throws(PathError) -> String {
        guard kernel else { return try walk(path, followFinal: followFinal) }
        let fd = try open(path, flags: KILN_O_PATH | (followFinal ? 0 : O_NOFOLLOW))
        defer { close(fd) }
        return try hostPath(of: fd, for: path)
    }

    /// `path` relative to the root after resolution (`""` for the root itself).
    public func resolveRelative(_ path: String, followFinal: Bool = true) throws(PathError) -> String {
        let host = try resolve(path, followFinal: followFinal)
        return host == root ? "" : String(host.dropFirst(root == "/" ? 1 : root.count + 1))
    }

    /// `path` relative to the root, its existing part resolved (symlinks followed inside the
    /// root, a dangling one leading to its target) and the missing rest kept as written: where
    /// something written at `path` lands. Nothing is created.
    public func resolveAllowingMissing(_ path: String) throws(PathError) -> String {
        let host = try walk(path, followFinal: true, creating: true) { _ throws(PathError) in }
        return host == root ? "" : String(host.dropFirst(root == "/" ? 1 : root.count + 1))
    }

    /// Opens `path` inside the root with `open(2)` `flags` (`O_NOFOLLOW` applies to the last
    /// component only). The caller closes the descriptor.
    public func open(_ path: String, flags: Int32, mode: mode_t = 0) throws(PathError) -> Int32 {
        if kernel {
            let rootFD = Glibc.open(root, KILN_O_PATH | O_DIRECTORY | O_CLOEXEC)
            guard rootFD >= 0 else { throw .io(path: root, operation: "open", errno: errno) }
            defer { close(rootFD) }
            let rel = FSPath.relative(path)
            let fd = kiln_openat_in_root(rootFD, rel.isEmpty ? "." : rel, flags | O_CLOEXEC, 0)
            guard fd >= 0 else { throw Self.error(errno, path: path, operation: "open") }
            return fd
        }
        let host = try walk(path, followFinal: flags & O_NOFOLLOW == 0)
        let fd = Glibc.open(host, flags | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Self.error(errno, path: path, operation: "open") }
        return fd
    }

    /// Metadata of `path` (its last component not followed), or nil when nothing is there.
    public func lstat(_ path: String) -> Glibc.stat? {
        metadata(path, flags: KILN_O_PATH | O_NOFOLLOW)
    }

    /// Metadata of what `path` leads to (symlinks followed inside the root), or nil.
    public func statFollowing(_ path: String) -> Glibc.stat? {
        metadata(path, flags: KILN_O_PATH)
    }

    private func metadata(_ path: String, flags: Int32) -> Glibc.stat? {
        guard let fd = try? open(path, flags: flags) else { return nil }
        defer { close(fd) }
        var st = Glibc.stat()
        return fstat(fd, &st) == 0 ? st : nil
    }

    /// Whether `path` leads to a directory.
    public func isDirectory(_ path: String) -> Bool {
        statFollowing(path).map { ($0.st_mode & S_IFMT) == S_IFDIR } ?? false
    }

    /// The bytes of the regular file at `path` (symlinks followed inside the root), at most
    /// `limit` of them; nil when nothing is there.
    public func readFile(_ path: String, limit: Int = 1 << 20) throws(PathError) -> [UInt8]? {
        let fd: Int32
        do { fd = try open(path, flags: O_RDONLY) } catch .notFound { return nil }
        defer { close(fd) }
        var st = Glibc.stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 64 * 1024)
        while out.count < limit {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, min($0.count, limit - out.count)) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw .io(path: path, operation: "read", errno: errno) }
            if n == 0 { break }
            out += buf[0..<n]
        }
        return out
    }

    /// Creates `path` and its missing parents inside the root (`mkdir -p`, symlinks followed
    /// inside the root, a dangling one creating its target); `created` gets the host path of
    /// each directory made, outermost first. Returns the host path of `path`.
    @discardableResult
    public func makeDirectories(_ path: String, mode: mode_t = 0o755,
                                created: (String) throws(PathError) -> Void = { _ throws(PathError) in }) throws(PathError) -> String {
        let host = try walk(path, followFinal: true, creating: true) { host throws(PathError) in
            guard mkdir(host, mode) == 0 || errno == EEXIST else { throw .io(path: path, operation: "mkdir", errno: errno) }
            try created(host)
        }
        var st = Glibc.stat()
        guard Glibc.lstat(host, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw .io(path: path, operation: "mkdir", errno: ENOTDIR)
        }
        return host
    }

    // MARK: the walk

    /// Resolves `path` one component at a time over canonical host paths (every prefix already
    /// resolved is a real directory, so the kernel follows nothing the walk has not checked).
    /// When `creating`, missing components are made as directories through `create`.
    func walk(_ path: String, followFinal: Bool) throws(PathError) -> String {
        try walk(path, followFinal: followFinal, creating: false) { _ throws(PathError) in }
    }

    func walk(_ path: String, followFinal: Bool, creating: Bool,
              _ create: (String) throws(PathError) -> Void) throws(PathError) -> String {
        var resolved: [String] = []
        var queue = FSPath.components(path)[...]
        var hops = 0
        while let c = queue.first {
            queue = queue.dropFirst()
            if c == ".." {
                _ = resolved.popLast()
                continue
            }
            let host = hostPath(resolved + [c])
            var st = Glibc.stat()
            if Glibc.lstat(host, &st) != 0 {
                let e = errno
                guard e == ENOENT, creating else { throw Self.error(e, path: path, operation: "lstat") }
                try create(host)
                resolved.append(c)
                continue
            }
            let isLast = queue.isEmpty
            switch st.st_mode & S_IFMT {
            case S_IFLNK where !isLast || followFinal || creating:
                hops += 1
                guard hops <= 40 else { throw .tooManyLinks(path: path) }
                let target = try Self.readLink(host, for: path)
                if target.hasPrefix("/") { resolved = [] }
                queue = FSPath.components(target)[...] + queue
            case S_IFDIR:
                resolved.append(c)
            default:
                guard isLast else { throw .notFound(path: path) }
                resolved.append(c)
            }
        }
        return hostPath(resolved)
    }

    private func hostPath(_ components: [String]) -> String {
        guard !components.isEmpty else { return root }
        return (root == "/" ? "" : root) + "/" + components.joined(separator: "/")
    }

    /// The host path an open descriptor refers to, mapped back under ``root``, checked to be
    /// inside it.
    private func hostPath(of fd: Int32, for path: String) throws(PathError) -> String {
        let actual = try Self.readLink("/proc/self/fd/\(fd)", for: path)
        let canonicalRoot = try Self.canonical(root)
        if actual == canonicalRoot { return root }
        let prefix = canonicalRoot == "/" ? "/" : canonicalRoot + "/"
        guard actual.hasPrefix(prefix) else { throw .escapes(path: path) }
        return hostPath(FSPath.components(String(actual.dropFirst(prefix.count))))
    }

    static func canonical(_ path: String) throws(PathError) -> String {
        guard let p = realpath(path, nil) else { throw .io(path: path, operation: "realpath", errno: errno) }
        defer { free(p) }
        return String(cString: p)
    }

    static func readLink(_ host: String, for path: String) throws(PathError) -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(host, &buf, buf.count - 1)
        guard n >= 0 else { throw .io(path: path, operation: "readlink", errno: errno) }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func error(_ e: Int32, path: String, operation: String) -> PathError {
        switch e {
        case ENOENT, ENOTDIR: .notFound(path: path)
        case ELOOP: .tooManyLinks(path: path)
        case EXDEV: .escapes(path: path)
        default: .io(path: path, operation: operation, errno: e)
        }
    }
}
