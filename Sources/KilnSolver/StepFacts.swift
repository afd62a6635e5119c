import Foundation
import KilnArchive
import KilnOCI
import KilnSystem

/// What one step's cache key is made of, input by input, so that a later build whose key
/// differs can say which input changed (`kiln build --explain`). Kept in the local cache index
/// and in exported caches (a field BuildKit does not read).
///
/// Values that may be private — commands, environment and build-arg values, file contents —
/// are kept as short digests; names, paths, modes, owners, image references and digests as
/// written.
public struct StepFacts: Sendable, Hashable, Codable {
    /// The step's cache key id.
    public var key: Digest
    /// The key id of the filesystem it starts from (nil: none, or a base image's root).
    public var parent: Digest?
    /// Where it stands in the Dockerfile (`stage/ordinal`, `image:REF`): the candidate of last
    /// resort when nothing shares its parent.
    public var slot: String
    /// The kind of operation: `image`, `exec`, `copy` or `mkdir`.
    public var op: String
    /// Fact name → value (see ``FactName``).
    public var values: [String: String]

    enum CodingKeys: String, CodingKey { case key, parent, slot, op, values = "facts" }

    /// Facts of a step.
    public init(key: Digest, parent: Digest?, slot: String, op: String, values: [String: String]) {
        (self.key, self.parent, self.slot, self.op, self.values) = (key, parent, slot, op, values)
    }

    /// A value kept as a short digest: enough to tell a change, not to read the value.
    public static func hidden(_ value: String) -> String {
        String(Digest.of(Data(value.utf8)).encoded.prefix(16))
    }
}

/// The names facts go by; ``MissReasons`` words a change of each.
public enum FactName {
    /// A base image's reference as written.
    public static let image = "image"
    /// A base image's manifest digest.
    public static let digest = "digest"
    /// The platform a step is built for.
    public static let platform = "platform"
    /// A RUN's command (hidden).
    public static let command = "command"
    /// A COPY/ADD or WORKDIR instruction without its sources' content (hidden).
    public static let instruction = "instruction"
    /// The working directory a RUN runs in.
    public static let workdir = "workdir"
    /// The user a step runs as.
    public static let user = "user"
    /// A RUN's network mode.
    public static let network = "network"
    /// A RUN's `--hostname` (hidden).
    public static let hostname = "hostname"
    /// A RUN's `--add-host` entries (hidden).
    public static let extraHosts = "add-host"
    /// The ids of the secrets a RUN mounts.
    public static let secrets = "secrets"
    /// `SOURCE_DATE_EPOCH`.
    public static let sourceDateEpoch = "source-date-epoch"
    /// An environment variable's value (hidden): `env:NAME`.
    public static let envPrefix = "env:"
    /// A build arg's value (hidden): `arg:NAME`.
    public static let argPrefix = "arg:"
    /// A context file a step reads: `file:PATH` (`file:DIR/` for a directory's files together).
    public static let filePrefix = "file:"
    /// A RUN mount: `mount:TARGET` (hidden: its options and what it reads).
    public static let mountPrefix = "mount:"
    /// Where a COPY's files come from, besides the context: `from:stage NAME`, `from:image REF`.
    public static let fromPrefix = "from:"
    /// A file `ADD` downloaded: `url:URL` (its digest).
    public static let urlPrefix = "url:"
}

extension StepFacts {
    /// At most this many `file:` facts per step: a larger context is described directory by
    /// directory, at the deepest level that fits.
    public static let fileFactLimit = 256

    /// One file fact: its name (`prefix` + path), the path's components, and its value.
    struct FileRow {
        var name: String
        var components: [String]
        var value: String
    }

    /// Facts for the context files a checksum covered, keyed `prefix` + path.
    static func files(_ entries: [BuildKitContentHash.Entry], prefix: String = FactName.filePrefix,
                      limit: Int = fileFactLimit) -> [String: String] {
        var rows: [String: FileRow] = [:]
        var maxDepth = 1
        for e in entries {
            let path = e.path.isEmpty ? "." : e.path
            let components = FSPath.components(path)
            if !e.path.isEmpty { maxDepth = max(maxDepth, components.count) }
            rows[prefix + path] = FileRow(name: prefix + path, components: components, value: fileValue(e))
        }
        guard rows.count > limit else { return rows.mapValues(\.value) }
        for depth in stride(from: maxDepth - 1, through: 1, by: -1) {
            let grouped = group(Array(rows.values), prefix: prefix, depth: depth)
            if grouped.count <= limit { return grouped }
        }
        let all = rows.values.map { $0.name + "\u{0}" + $0.value }.sorted().joined(separator: "\u{0}")
        return [prefix + "./": hidden(all)]
    }

    /// `DIGEST MODE UID:GID SIZE` for a file, `dir MODE UID:GID` for a directory.
    static func fileValue(_ e: BuildKitContentHash.Entry) -> String {
        let owner = "\(String(e.mode, radix: 8)) \(e.uid):\(e.gid)"
        guard let d = e.digest else { return "dir \(owner)" }
        return "\(d.encoded.prefix(16)) \(owner) \(e.size)"
    }

    /// Paths deeper than `depth` components folded into their directory (`file:DIR/`), whose
    /// value is a digest of everything below it.
    static func group(_ rows: [FileRow], prefix: String, depth: Int) -> [String: String] {
        var members: [String: [String]] = [:]
        var out: [String: String] = [:]
        for row in rows {
            if row.components.count <= depth { out[row.name] = row.value; continue }
            let dir = prefix + row.components.prefix(depth).joined(separator: "/") + "/"
            members[dir, default: []].append(row.name + "\u{0}" + row.value)
        }
        for (dir, list) in members { out[dir] = hidden(list.sorted().joined(separator: "\u{0}")) }
        return out
    }
}
