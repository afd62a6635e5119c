import Foundation
import KilnArchive
import KilnDockerfile
import KilnOCI
import KilnSystem

/// COPY, ADD and WORKDIR as BuildKit's Dockerfile frontend writes their file ops, and as the
/// op's cache map hashes them (`file.go` CacheMap: a copy source from another input reduced to
/// its base name, `[input, secondary input, output]` indexes unless they are the usual chain).
///
/// Kiln-only variants — `COPY --link` and `--parents` (other ops in BuildKit), a COPY mixing
/// heredocs and files, `ADD` of a URL (an HTTP source in BuildKit) — add a `kiln` action BuildKit
/// never writes: their keys are stable and never equal to one of BuildKit's.
enum BuildKitFile {
    /// The JSON of a copy action, field by field in `FileActionCopy` order.
    static func copyAction(_ copy: CopyStep, src: String, dest: String, heredoc: Bool) -> GoJSON {
        let mode: Int64 = copy.chmod?.octal.map(Int64.init) ?? -1
        let modeStr = copy.chmod.flatMap { $0.octal == nil ? $0.description : nil }
        let unpack = copy.isAdd && !heredoc && (copy.unpack ?? true)
        return .fields([
            ("src", .string(src)), ("dest", .string(dest)), ("owner", owner(copy.chown)), ("mode", .int(mode)),
            ("followSymlink", heredoc ? nil : .bool(true)), ("dirCopyContents", heredoc ? nil : .bool(true)),
            ("attemptUnpackDockerCompatibility", unpack ? .bool(true) : nil), ("createDestPath", .bool(true)),
            ("allowWildcard", heredoc ? nil : .bool(true)), ("allowEmptyWildcard", heredoc ? nil : .bool(true)),
            ("timestamp", .int(-1)),
            ("exclude_patterns", copy.exclude.isEmpty ? nil : .array(copy.exclude.map(GoJSON.string))),
            ("modeStr", modeStr.map(GoJSON.string)),
        ])
    }

    /// `--chown`'s owner: each of user and group by id when numeric, else by name (whose
    /// lookup reads the destination's `/etc/passwd` and `/etc/group`: input 0).
    static func owner(_ chown: String?) -> GoJSON? {
        guard let chown, !chown.isEmpty else { return nil }
        let parts = chown.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        func user(_ s: String) -> GoJSON? {
            guard !s.isEmpty else { return nil }
            if let id = UInt32(s) { return .fields([("User", .fields([("byId", id == 0 ? nil : .int(Int64(id)))]))]) }
            return .fields([("User", .fields([("byName", .fields([("name", .string(s))]))]))])
        }
        return .fields([("user", user(parts[0])), ("group", parts.count > 1 ? user(parts[1]) : nil)])
    }

    /// WORKDIR's mkdir action: the directory and its parents, 0755, owned by the USER in effect.
    static func mkdirAction(path: String, user: String) -> GoJSON {
        .fields([("path", .string(path)), ("mode", .int(0o755)), ("makeParents", .bool(true)), ("owner", owner(user)),
                 ("timestamp", .int(-1))])
    }

    /// A heredoc's mkfile action: the file `/NAME`, 0644, with its content.
    static func mkfileAction(_ heredoc: Instruction.Heredoc) -> GoJSON {
        .fields([("path", .string("/" + heredoc.name)), ("mode", .int(0o644)), ("data", .bytes(Data(heredoc.content.utf8))),
                 ("timestamp", .int(-1))])
    }

    /// The `[input, secondary input, output]` of each of `count` chained actions, BuildKit's
    /// numbering: the first reads input 0 (or nothing: -1), each later one the action before
    /// (`inputs + i - 1`), every one its own source (`secondary(i)`), only the last has output 0.
    static func indexes(count: Int, onBase: Bool, inputs: Int, secondary: (Int) -> Int) -> [[Int]] {
        (0..<count).map { i in
            [i == 0 ? (onBase ? 0 : -1) : inputs + i - 1, secondary(i), i == count - 1 ? 0 : -1]
        }
    }

    /// The content checksum BuildKit gives a heredoc's file in its mkfile op's result.
    static func heredocChecksum(_ heredoc: Instruction.Heredoc) -> Digest {
        BuildKitContentHash.fileChecksum(mode: 0o644, content: Data(heredoc.content.utf8))
    }

    /// A copy source as BuildKit names it in the action: the base name of its clean absolute
    /// path (`/` for the root).
    static func baseName(_ source: String) -> String {
        let clean = selectorPath(source)
        return clean == "/" ? "/" : FSPath.base(clean)
    }

    /// The clean absolute path of a copy source, as its selector holds it.
    static func selectorPath(_ source: String) -> String { FSPath.join("/", DockerIgnore.clean(source)) }
}
