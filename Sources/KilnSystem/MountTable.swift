#if canImport(Glibc)
import Glibc
#endif

/// The host's mounts, as `/proc/self/mountinfo` lists them.
public enum MountTable {
    /// Mount points at or below `directory`, deepest first (the order to unmount them in).
    public static func mounts(under directory: String) -> [String] {
        let dir = FSPath.trimmed(directory)
        guard let text = try? RootedDirectory("/").readFile("/proc/self/mountinfo", limit: 16 << 20) else { return [] }
        var out: [String] = []
        for line in String(decoding: text, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count > 4 else { continue }
            let point = unescape(String(fields[4]))
            if point == dir || point.hasPrefix(dir + "/") { out.append(point) }
        }
        return out.sorted { $0.count > $1.count }
    }

    /// Detaches every mount at or below `directory`; returns how many were detached.
    @discardableResult
    public static func unmountAll(under directory: String) -> Int {
        var count = 0
        for point in mounts(under: directory) where umount2(point, Int32(MNT_DETACH)) == 0 { count += 1 }
        return count
    }

    /// mountinfo escapes space, tab, newline and backslash as `\NNN` octal.
    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        let u = Array(s.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < u.count {
            if u[i] == UInt8(ascii: "\\"), i + 3 < u.count, let n = UInt8(String(decoding: u[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(n)
                i += 4
            } else {
                out.append(u[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension HostFiles {
    /// Removes `path` and everything below it without following symlinks; mounts below it are
    /// detached first, so a removal never reaches into a mounted filesystem. Returns the bytes
    /// of the regular files removed. A missing path is not an error.
    @discardableResult
    public static func removeTree(_ path: String) -> Int64 {
        MountTable.unmountAll(under: path)
        return remove(path)
    }

    private static func remove(_ path: String) -> Int64 {
        var st = stat()
        guard lstat(path, &st) == 0 else { return 0 }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            var total: Int64 = 0
            // A directory without search permission (a RUN may leave one) is opened up first.
            if st.st_mode & 0o700 != 0o700 { _ = chmod(path, 0o700) }
            for name in (try? list(path)) ?? [] { total += remove(path + "/" + name) }
            rmdir(path)
            return total
        }
        unlink(path)
        return (st.st_mode & S_IFMT) == S_IFREG ? Int64(st.st_size) : 0
    }

    /// Bytes the tree at `path` holds, as `du -sb` counts them: apparent sizes of every entry
    /// (directories and links included), each inode once, without following symlinks or
    /// crossing into other filesystems.
    public static func diskUsage(_ path: String) -> Int64 {
        var st = stat()
        guard lstat(path, &st) == 0 else { return 0 }
        var seen = Set<UInt64>()
        return usage(path, device: st.st_dev, seen: &seen)
    }

    private static func usage(_ path: String, device: dev_t, seen: inout Set<UInt64>) -> Int64 {
        var st = stat()
        guard lstat(path, &st) == 0, st.st_dev == device else { return 0 }
        if st.st_nlink > 1 && (st.st_mode & S_IFMT) != S_IFDIR {
            guard seen.insert(UInt64(st.st_ino)).inserted else { return 0 }
        }
        var total = Int64(st.st_size)
        if (st.st_mode & S_IFMT) == S_IFDIR {
            for name in (try? list(path)) ?? [] { total += usage(path + "/" + name, device: device, seen: &seen) }
        }
        return total
    }
}
