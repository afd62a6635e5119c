import KilnDockerfile
import KilnOCI
import KilnSystem

/// A RUN as BuildKit's Dockerfile frontend writes its exec op, and as the op's cache map
/// hashes it (`exec.go` CacheMap: mount selectors cleared, a cache mount's non-default id and
/// sharing cleared, a lone root mount dropped, proxy variables left out).
///
/// Kiln-only variants — options BuildKit's frontend would express with other ops (a cache
/// mount with `uid`/`gid`/`mode` or `from`, a secret as an environment variable), the
/// addresses of `--add-host` entries (BuildKit leaves them out of its key; Kiln keeps them so
/// a changed address is never a hit) — add a `kiln` field BuildKit never writes: their keys
/// are stable and never equal to one of BuildKit's.
public struct BuildKitExec: Sendable {
    /// Where a mount reads from, besides the stage's own filesystem (input 0).
    public enum Source: Hashable, Sendable {
        /// The build context (a bind mount without `from`).
        case context
        /// Another stage's result, by stage name or index as written.
        case stage(String)
    }

    /// One input after the root: its source and the paths its mounts select, in mount order.
    public struct Input: Sendable {
        /// Where it reads from.
        public var source: Source
        /// The paths its mounts select (`/` + source), in mount order.
        public var selectors: [String]
        /// The targets of the mounts reading it.
        public var targets: [String]
    }

    let run: RunStep
    let onBase: Bool
    /// The inputs after the root, in the order the mounts (sorted by target) first use them.
    public private(set) var inputs: [Input] = []

    /// The op of `run`, on the stage's filesystem when `onBase`.
    public init(run: RunStep, onBase: Bool) {
        self.run = run
        self.onBase = onBase
        for m in sortedMounts where m.kind == .bind {
            let source: Source = m.from.map { .stage($0) } ?? .context
            let selector = BuildKitFile.selectorPath(m.source ?? "")
            if let i = inputs.firstIndex(where: { $0.source == source }) {
                inputs[i].selectors.append(selector)
                inputs[i].targets.append(m.target)
            } else {
                inputs.append(Input(source: source, selectors: [selector], targets: [m.target]))
            }
        }
    }

    /// The mounts other than secrets, sorted by target as BuildKit's LLB sorts them.
    var sortedMounts: [RunMount] {
        run.parsedMounts.filter { $0.kind != .secret }.sorted { $0.target < $1.target }
    }

    /// The JSON of `op` (this RUN's) as its cache map hashes it.
    func cacheMapJSON(_ op: ExecOp) -> GoJSON {
        var kiln: [(String, GoJSON?)] = []
        var mounts: [GoJSON] = [.fields([("input", onBase ? nil : .int(-1)), ("dest", .string("/"))])]
        for m in sortedMounts {
            let (json, extra) = mount(m)
            mounts.append(json)
            if let extra { kiln.append((m.target, extra)) }
        }
        for m in run.parsedMounts where m.kind == .secret {
            if m.env != nil { kiln.append(("secretenv " + (m.id ?? ""), .string(m.env ?? ""))) }
            guard m.env == nil || m.targetGiven else { continue }
            mounts.append(.fields([
                ("input", .int(-1)), ("dest", .string(m.target)), ("mountType", .int(1)),
                ("secretOpt", .fields([("ID", .string(m.id ?? m.source ?? "")), ("uid", nonZero(m.uid)), ("gid", nonZero(m.gid)),
                                       ("mode", .int(Int64(m.mode ?? 0o400))), ("optional", m.required ? nil : .bool(true))])),
            ]))
        }
        if let script = op.script {
            // A heredoc with a shebang runs as a file BuildKit would mount from another op.
            kiln.append(("script", .string("\(script.name)\u{0}\(script.content)")))
        }
        if !run.extraHosts.isEmpty { kiln.append(("add-host", .array(run.extraHosts.map { .string("\($0.0)=\($0.1)") }))) }
        let network: GoJSON? = switch run.network ?? "default" {
        case "host": .int(1)
        case "none": .int(2)
        default: nil
        }
        return .fields([
            ("meta", meta(argv: op.argv)),
            ("mounts", mounts.count == 1 ? nil : .array(mounts)),
            ("network", network),
            ("kiln", kiln.isEmpty ? nil : .fields(kiln)),
        ])
    }

    func meta(argv: [String]) -> GoJSON {
        let env = run.env.map { "\($0.0)=\($0.1)" } + run.buildArgs.map { "\($0.0)=\($0.1)" }
        return .fields([
            ("args", .array(argv.map(GoJSON.string))),
            ("env", env.isEmpty ? nil : .array(env.map(GoJSON.string))),
            ("cwd", run.workdir.isEmpty ? nil : .string(run.workdir)),
            ("user", run.user.isEmpty ? nil : .string(run.user)),
            ("extraHosts", run.extraHosts.isEmpty ? nil : .array(run.extraHosts.map { .fields([("Host", .string($0.0))]) })),
            ("hostname", (run.hostname ?? "").isEmpty ? nil : .string(run.hostname ?? "")),
            ("removeMountStubsRecursive", .bool(true)),
        ])
    }

    /// A mount's JSON, and what of it only Kiln's key holds.
    func mount(_ m: RunMount) -> (GoJSON, GoJSON?) {
        switch m.kind {
        case .bind:
            let source: Source = m.from.map { .stage($0) } ?? .context
            let index = (inputs.firstIndex { $0.source == source } ?? 0) + (onBase ? 1 : 0)
            return (.fields([("input", index == 0 ? nil : .int(Int64(index))), ("dest", .string(m.target)), ("output", .int(-1)),
                             ("readonly", m.readOnly ? .bool(true) : nil)]), nil)
        case .cache:
            let defaultID = m.id == nil || FSPath.join("/", m.id ?? "") == m.target
            let sharing: Int64 = m.sharing == "private" ? 1 : m.sharing == "locked" ? 2 : 0
            // BuildKit's key keeps a cache mount's id only when it is the default one.
            let opt: GoJSON = defaultID && sharing == 0 ? .fields([("ID", .string("/" + (m.id ?? m.target)))]) : .object([])
            var extra: GoJSON?
            if m.from != nil || m.uid != nil || m.gid != nil || m.mode != nil {
                extra = .string("from=\(m.from ?? "") uid=\(m.uid.map(String.init) ?? "") gid=\(m.gid.map(String.init) ?? "") mode=\(m.mode.map { String($0, radix: 8) } ?? "")")
            }
            return (.fields([("input", .int(-1)), ("dest", .string(m.target)), ("output", .int(-1)), ("readonly", m.readOnly ? .bool(true) : nil),
                             ("mountType", .int(3)), ("cacheOpt", opt)]), extra)
        case .tmpfs:
            return (.fields([("input", .int(-1)), ("dest", .string(m.target)), ("output", .int(-1)), ("mountType", .int(4)),
                             ("TmpfsOpt", .fields([("size", m.size.flatMap { $0 == 0 ? nil : .int($0) })]))]), nil)
        case .secret:
            return (.object([]), nil)
        }
    }

    func nonZero(_ n: UInt32?) -> GoJSON? { (n ?? 0) == 0 ? nil : .int(Int64(n ?? 0)) }
}
