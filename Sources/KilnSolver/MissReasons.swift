/// Words the differences between a step's facts and those of an earlier version of it, as
/// `--explain` prints them: the input that changed, by name.
public enum MissReasons {
    /// At most this many context files are named; the rest are counted.
    static let namedFiles = 3

    /// One reason per changed fact, the step's own definition first, then its variables, then
    /// what it reads.
    public static func compare(_ current: StepFacts, with earlier: StepFacts) -> [String] {
        let names = Set(current.values.keys).union(earlier.values.keys)
            .filter { current.values[$0] != earlier.values[$0] }
            .sorted { (rank($0), $0) < (rank($1), $1) }
        var reasons: [String] = []
        var files: [String] = []
        for name in names {
            let (old, new) = (earlier.values[name], current.values[name])
            if name.hasPrefix(FactName.filePrefix) {
                files.append(fileReason(String(name.dropFirst(FactName.filePrefix.count)), old: old, new: new))
            } else {
                reasons.append(reason(name, old: old, new: new))
            }
        }
        if files.count > namedFiles {
            let rest = files.count - namedFiles
            files = Array(files.prefix(namedFiles)) + ["\(rest) more context file\(rest == 1 ? "" : "s") changed"]
        }
        return reasons + files
    }

    /// The base image a step starts from is another one than the earlier version's.
    public static func baseImage(current: StepFacts, earlier: StepFacts?) -> String {
        let ref = current.values[FactName.image] ?? "?"
        let new = short(current.values[FactName.digest])
        guard let earlier, earlier.op == "image" else { return "base image \(ref) changed (now \(new))" }
        let oldRef = earlier.values[FactName.image] ?? "?"
        if oldRef != ref { return "base image changed (\(oldRef) → \(ref))" }
        return "base image \(ref) changed (\(short(earlier.values[FactName.digest])) → \(new))"
    }

    /// A digest shortened as buildx shows one: `sha256:` and 12 hex digits.
    static func short(_ digest: String?) -> String {
        guard let digest else { return "?" }
        guard let colon = digest.firstIndex(of: ":") else { return String(digest.prefix(12)) }
        return String(digest[...colon]) + String(digest[digest.index(after: colon)...].prefix(12))
    }

    static func rank(_ name: String) -> Int {
        let order = [FactName.image, FactName.digest, FactName.command, FactName.instruction, FactName.platform,
                     FactName.argPrefix, FactName.envPrefix, FactName.workdir, FactName.user, FactName.network,
                     FactName.hostname, FactName.extraHosts, FactName.secrets, FactName.sourceDateEpoch,
                     FactName.mountPrefix, FactName.fromPrefix, FactName.urlPrefix, FactName.filePrefix]
        return order.firstIndex { name == $0 || ($0.hasSuffix(":") && name.hasPrefix($0)) } ?? order.count
    }

    /// `added`, `removed` or `changed` for a fact present in one version or both.
    static func change(_ old: String?, _ new: String?) -> String {
        old == nil ? "added" : new == nil ? "removed" : "changed"
    }

    static func reason(_ name: String, old: String?, new: String?) -> String {
        let shown = { (v: String?) in v.map { $0.isEmpty ? "(default)" : $0 } ?? "none" }
        let plain = { (label: String) in "\(label) changed (\(shown(old)) → \(shown(new)))" }
        for (prefix, label) in [(FactName.argPrefix, "build arg"), (FactName.envPrefix, "environment variable"),
                                (FactName.mountPrefix, "mount at"), (FactName.urlPrefix, "downloaded file")] where name.hasPrefix(prefix) {
            let subject = name.dropFirst(prefix.count)
            if prefix == FactName.argPrefix, old == nil || new == nil { return "build arg \(subject) \(old == nil ? "set" : "no longer set")" }
            return "\(label) \(subject) \(change(old, new))"
        }
        if name.hasPrefix(FactName.fromPrefix) {
            let source = name.dropFirst(FactName.fromPrefix.count)
            return old == nil ? "now copies from \(source)" : new == nil ? "no longer copies from \(source)" : "the files from \(source) changed"
        }
        switch name {
        case FactName.command: return "the command changed"
        case FactName.instruction: return "the instruction changed"
        case FactName.platform: return plain("platform")
        case FactName.workdir: return plain("working directory")
        case FactName.user: return plain("user")
        case FactName.network: return plain("network")
        case FactName.hostname: return "hostname \(change(old, new))"
        case FactName.extraHosts: return "--add-host entries changed"
        case FactName.secrets: return plain("secret ids")
        case FactName.sourceDateEpoch: return plain("SOURCE_DATE_EPOCH")
        case FactName.image: return plain("base image")
        case FactName.digest: return "base image digest changed (\(short(old)) → \(short(new)))"
        default: return "\(name) \(change(old, new))"
        }
    }

    /// `context file PATH: added | removed | content changed | mode changed (644 → 755) | …`.
    static func fileReason(_ path: String, old: String?, new: String?) -> String {
        let isDirectory = (old ?? new ?? "").hasPrefix("dir ")
        let subject = path.hasSuffix("/") ? "context files under \(path)" : "context \(isDirectory ? "directory" : "file") \(path)"
        guard let old, let new else { return "\(subject): \(old == nil ? "added" : "removed")" }
        if path.hasSuffix("/") { return "\(subject): changed" }
        let (o, n) = (old.split(separator: " "), new.split(separator: " "))
        guard o.count >= 3, n.count >= 3 else { return "\(subject): changed" }
        var parts: [String] = []
        if o[1] != n[1] { parts.append("mode changed (\(o[1]) → \(n[1]))") }
        if o[2] != n[2] { parts.append("owner changed (\(o[2]) → \(n[2]))") }
        let sizeChanged = o.count > 3 && n.count > 3 && o[3] != n[3]
        if o[0] != n[0], parts.isEmpty || sizeChanged { parts.insert("content changed", at: 0) }
        if parts.isEmpty { parts.append("changed") }
        return "\(subject): " + parts.joined(separator: ", ")
    }
}
