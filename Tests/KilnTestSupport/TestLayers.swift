import Foundation
import KilnArchive
import KilnOCI
import KilnStore

/// Reading what builds made, independently of the code that made it.
public enum TestLayers {
    /// The entries of a stored gzip layer, with the text of each regular file.
    public static func entries(_ layer: CachedLayer, root: String) throws -> [String: (TarEntry, String)] {
        let store = try ContentStore(root: root)
        defer { store.claim.release() }
        let reader = TarReader(source: try GunzipSource(source: FileSource(path: store.path(for: layer.digest))))
        var out: [String: (TarEntry, String)] = [:]
        while let e = try reader.next() {
            let data = e.kind == .regular ? String(decoding: try reader.content.readExactly(Int(e.size)), as: UTF8.self) : ""
            out[e.path] = (e, data)
        }
        return out
    }

    /// What a COPY of `rel` under `root` reads — kind, mode, owner, content, link target of
    /// every entry — computed without the checksum code it checks.
    public static func oracle(_ root: String, _ rel: String) -> String {
        var out: [String] = []
        func walk(_ r: String) {
            let p = root + "/" + r
            var st = stat()
            guard lstat(p, &st) == 0 else { out.append("\(r):absent"); return }
            let fmt = st.st_mode & S_IFMT
            var line = "\(r):\(fmt):\(st.st_mode & 0o7777):\(st.st_uid):\(st.st_gid)"
            if fmt == S_IFREG { line += ":" + Digest.of((try? Data(contentsOf: URL(fileURLWithPath: p))) ?? Data()).encoded }
            if fmt == S_IFLNK { line += ":" + ((try? FileManager.default.destinationOfSymbolicLink(atPath: p)) ?? "?") }
            out.append(line)
            if fmt == S_IFDIR {
                for n in ((try? FileManager.default.contentsOfDirectory(atPath: p)) ?? []).sorted() { walk(r + "/" + n) }
            }
        }
        walk(rel)
        return out.joined(separator: "\n")
    }
}
