/// A parsed `RUN --mount=…` option.
public struct RunMount: Sendable, Equatable {
    /// The mount kinds Kiln supports.
    public enum Kind: String, Sendable {
        /// A directory kept between builds (per `id`).
        case cache
        /// Files from the context or another stage.
        case bind
        /// An empty in-memory filesystem.
        case tmpfs
        /// A secret file from `kiln build --secret`.
        case secret
    }

    /// The kind.
    public var kind: Kind
    /// Where it appears in the container.
    public var target: String
    /// Cache or secret id.
    public var id: String?
    /// Path in the source (bind, cache).
    public var source: String?
    /// Stage (name or index) for `bind`/`cache` `from=`.
    public var from: String?
    /// `sharing=shared|private|locked` for caches.
    public var sharing: String
    /// Read-only.
    public var readOnly: Bool
    /// Owner and mode for created cache dirs and secret files.
    public var uid: UInt32?
    /// Group.
    public var gid: UInt32?
    /// Mode (octal).
    public var mode: UInt32?
    /// A missing secret fails the step.
    public var required: Bool
    /// tmpfs size in bytes.
    public var size: Int64?
    /// For secrets: the environment variable that also (or, without a target, only) gets it.
    public var env: String?
    /// Whether the target was written (a secret with only `env=` mounts no file).
    public var targetGiven = true

    /// The keys a mount spec may use.
    static let knownKeys: Set<String> = ["type", "target", "dst", "destination", "source", "src", "from", "id", "sharing",
                                         "readonly", "ro", "rw", "readwrite", "required", "size", "uid", "gid", "mode", "env"]

    /// Parses `type=cache,target=/root/.cache,sharing=locked` and the like.
    public static func parse(_ spec: String, line: Int, file: String = "Dockerfile") throws(DockerfileError) -> RunMount {
        var fields: [String: String] = [:]
        var flags: Set<String> = []
        for part in spec.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            if kv.count == 2 { fields[kv[0].lowercased()] = kv[1] } else { flags.insert(kv[0].lowercased()) }
        }
        func err(_ m: String) -> DockerfileError { DockerfileError(file: file, line: line, "RUN --mount=\(spec): \(m)") }
        for key in fields.keys.sorted() + flags.sorted() where !knownKeys.contains(key) {
            throw err("unexpected key '\(key)'" + Suggestion.didYouMean(key, among: knownKeys.sorted()))
        }
        let kind = Kind(rawValue: fields["type"] ?? "bind")
        guard let kind else { throw err("unsupported type '\(fields["type"] ?? "")' (use cache, bind, tmpfs or secret)") }
        var target = fields["target"] ?? fields["dst"] ?? fields["destination"]
        if kind == .secret, target == nil, let id = fields["id"] ?? fields["source"].map({ ($0 as String).split(separator: "/").last.map(String.init) ?? $0 }) {
            target = "/run/secrets/" + id
        }
        guard let target, target.hasPrefix("/") || !target.isEmpty else { throw err("target is required") }
        let sharing = fields["sharing"] ?? "shared"
        guard ["shared", "private", "locked"].contains(sharing) else { throw err("sharing must be shared, private or locked") }
        func octal(_ k: String) throws(DockerfileError) -> UInt32? {
            guard let v = fields[k] else { return nil }
            guard let n = UInt32(v, radix: 8) else { throw err("\(k)=\(v) is not octal") }
            return n
        }
        func number(_ k: String) throws(DockerfileError) -> UInt32? {
            guard let v = fields[k] else { return nil }
            guard let n = UInt32(v) else { throw err("\(k)=\(v) is not a number") }
            return n
        }
        let ro = flags.contains("readonly") || flags.contains("ro") || fields["readonly"] == "true" || fields["ro"] == "true"
        let rw = flags.contains("rw") || flags.contains("readwrite") || fields["rw"] == "true"
        var size: Int64?
        if let s = fields["size"] {
            let mult: Int64 = s.hasSuffix("m") || s.hasSuffix("M") ? 1 << 20 : (s.hasSuffix("g") || s.hasSuffix("G") ? 1 << 30 : 1)
            guard let n = Int64(mult == 1 ? s : String(s.dropLast())) else { throw err("size=\(s) is not a size") }
            size = n * mult
        }
        var mount = RunMount(
            kind: kind, target: target.hasPrefix("/") ? target : "/" + target, id: fields["id"], source: fields["source"] ?? fields["src"],
            from: fields["from"], sharing: sharing, readOnly: kind == .bind ? !rw : ro, uid: try number("uid"), gid: try number("gid"),
            mode: try octal("mode"), required: flags.contains("required") || fields["required"] == "true", size: size)
        mount.env = fields["env"]
        mount.targetGiven = fields["target"] ?? fields["dst"] ?? fields["destination"] != nil
        return mount
    }
}
