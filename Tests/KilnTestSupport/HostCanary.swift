import Foundation

/// A directory on the host that builds must never read or change: a secret file and a victim
/// file, and a fingerprint of everything in it to compare before and after an attack.
public final class HostCanary: Sendable {
    /// Its absolute host path.
    public let path: String
    /// The secret's content (must never show up in an image).
    public let secret: String
    private let directory: TemporaryDirectory

    /// A fresh canary under the system temp dir.
    public init() throws {
        directory = try TemporaryDirectory("kiln-canary")
        path = directory.path
        secret = "host-secret-\(UUID().uuidString)"
        try secret.write(toFile: path + "/secret.txt", atomically: false, encoding: .utf8)
        try "victim\n".write(toFile: path + "/victim", atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: path + "/sub", withIntermediateDirectories: true)
        try "deep\n".write(toFile: path + "/sub/deep.txt", atomically: false, encoding: .utf8)
    }

    /// Every entry below the canary with its type, mode, owner, size, mtime and content.
    public func fingerprint() throws -> [String] {
        var out: [String] = []
        let e = FileManager.default.enumerator(atPath: path)
        while let rel = e?.nextObject() as? String {
            var st = stat()
            let full = path + "/" + rel
            guard lstat(full, &st) == 0 else { continue }
            var line = "\(rel) mode=\(String(st.st_mode, radix: 8)) uid=\(st.st_uid) gid=\(st.st_gid) size=\(st.st_size) mtime=\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
            if (st.st_mode & S_IFMT) == S_IFREG, let d = FileManager.default.contents(atPath: full) {
                line += " content=\(d.base64EncodedString())"
            }
            out.append(line)
        }
        var st = stat()
        if lstat(path, &st) == 0 { out.append(". mode=\(String(st.st_mode, radix: 8)) mtime=\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)") }
        return out.sorted()
    }
}
