import Foundation
import KilnOCI
import KilnSystem

extension BuildPlanner {
    /// Variables visible inside a stage: ENV (image's and the stage's) over declared ARGs.
    struct Scope {
        var env: [(String, String)] = []
        var args: [(String, String?)] = []
        func lookup(_ name: String) -> String? {
            if let e = env.last(where: { $0.0 == name }) { return e.1 }
            if let a = args.last(where: { $0.0 == name }) { return a.1 }
            return nil
        }
        mutating func setEnv(_ k: String, _ v: String) {
            if let i = env.firstIndex(where: { $0.0 == k }) { env[i].1 = v } else { env.append((k, v)) }
        }
    }

    /// A stage while it is planned: what its base gives it and what each step changes for the
    /// steps after it.
    struct StageState {
        var scope = Scope()
        var base: StageBase = .scratch
        var shell = ["/bin/sh", "-c"]
        var workdir = "/"
        var user = ""
    }

    /// Everything planning one stage's steps reads.
    struct StageInputs {
        let stage: RawStage
        let raw: [RawStage]
        let words: ShellWords
        let globals: [String: String?]
        let platform: Platform
        let imageConfig: ImageConfigLookup
    }

    func resolve(_ stage: RawStage, all raw: [RawStage], planned: [Int: PlannedStage], words: ShellWords,
                 globals: [String: String?], used: inout Set<String>, imageConfig: @escaping ImageConfigLookup) async throws -> PlannedStage {
        let platform = stage.platform ?? options.platform
        let inputs = StageInputs(stage: stage, raw: raw, words: words, globals: globals, platform: platform, imageConfig: imageConfig)
        var state = try await startingState(of: stage, raw: raw, planned: planned, platform: platform, imageConfig: imageConfig)
        // FROM counts as a step unless it is scratch (nothing to pull), as BuildKit numbers them.
        let fromCounts = stage.image.lowercased() != "scratch"
        let total = (fromCounts ? 1 : 0) + stage.body.filter { Self.vertexKeywords.contains($0.keyword) }.count
        let display = stage.name ?? "stage-\(stage.index)"
        var number = fromCounts ? 1 : 0
        var steps: [PlannedStep] = []
        for ins in stage.body {
            var name: String?
            if Self.vertexKeywords.contains(ins.keyword) {
                number += 1
                name = "[\(display) \(number)/\(total)] \(displayed(ins, scope: state.scope, words: words))"
            }
            let kind = try await step(ins, state: &state, inputs: inputs, used: &used)
            steps.append(PlannedStep(instruction: ins, vertexName: name, kind: kind, user: state.user))
        }
        return PlannedStage(index: stage.index, name: stage.name, base: state.base, platform: platform,
                            fromName: "[\(display) 1/\(total)] FROM \(stage.image)", steps: steps, env: state.scope.env,
                            line: stage.from.line, workdir: state.workdir, user: state.user, shell: state.shell)
    }

    /// An instruction's arguments as its step's name shows them: the stage's ENV substituted,
    /// secrets passed as environment (`--mount=type=secret,env=X`) masked as `****`.
    private func displayed(_ ins: Instruction, scope: Scope, words: ShellWords) -> String {
        var masked = Set<String>()
        for raw in ins.flagValues("mount") {
            let fields = raw.split(separator: ",").map { $0.lowercased() }
            guard fields.contains("type=secret") else { continue }
            for f in raw.split(separator: ",") where f.lowercased().hasPrefix("env=") { masked.insert(String(f.dropFirst(4))) }
        }
        // The keyword upper-cased, as BuildKit names steps.
        let text = ins.keyword + ins.original.dropFirst(ins.keyword.count)
        return words.display(text) { name in
            masked.contains(name) ? "****" : scope.env.last(where: { $0.0 == name })?.1
        }
    }

    /// What a stage starts from: scratch, an earlier stage's end state, or a base image's config
    /// (its ENV, SHELL, WORKDIR and USER).
    private func startingState(of stage: RawStage, raw: [RawStage], planned: [Int: PlannedStage], platform: Platform,
                               imageConfig: ImageConfigLookup) async throws -> StageState {
        var state = StageState()
        if let name = stage.localContext {
            state.base = .named(name)
            state.scope.env = [("PATH", PlannedStage.defaultPath)]
            return state
        }
        if stage.image.lowercased() == "scratch" {
            state.scope.env = [("PATH", PlannedStage.defaultPath)]
            return state
        }
        if let i = stageIndex(stage.image, before: stage.index, in: raw), let dep = planned[i] {
            state.base = .stage(i)
            state.scope.env = dep.env
            (state.workdir, state.user, state.shell) = (dep.workdir, dep.user, dep.shell)
            return state
        }
        state.base = .image(stage.image, platform: stage.platform)
        if let config = try await config(of: stage.image, platform, line: stage.from.line, imageConfig) {
            let rt = config.runtime
            for e in rt.env ?? [] {
                let kv = e.split(separator: "=", maxSplits: 1)
                state.scope.setEnv(String(kv[0]), kv.count > 1 ? String(kv[1]) : "")
            }
            if let s = rt.shell, !s.isEmpty { state.shell = s }
            if let w = rt.workingDir, !w.isEmpty { state.workdir = w }
            state.user = rt.user ?? ""
        }
        return state
    }

    /// One instruction of a stage: what it does, with the stage's state updated for the next.
    private func step(_ ins: Instruction, state: inout StageState, inputs: StageInputs, used: inout Set<String>) async throws -> StepKind {
        let scope = state.scope
        let lookup: (String) -> String? = { scope.lookup($0) }
        let words = inputs.words
        func expanded(_ text: String) throws(DockerfileError) -> String { try expand(text, words: words, line: ins.line, lookup) }
        switch ins.keyword {
        case "ARG":
            return try arg(ins, scope: &state.scope, words: words, globals: inputs.globals, used: &used)
        case "ENV":
            let pairs = try keyValues(ins, words: words, lookup: lookup, legacy: true)
            for (k, v) in pairs { state.scope.setEnv(k, v) }
            return .env(pairs)
        case "LABEL":
            return .label(try keyValues(ins, words: words, lookup: lookup, legacy: true))
        case "RUN":
            return .run(try run(ins, state: state, inputs: inputs, lookup: lookup))
        case "COPY", "ADD":
            var c = try copyStep(ins, words: words, lookup: lookup, stage: inputs.stage, raw: inputs.raw)
            c.workdir = state.workdir
            // An image named by --from is resolved like a FROM image (its config is not used).
            if case .image(let ref) = c.from { _ = try await config(of: ref, inputs.platform, line: ins.line, inputs.imageConfig) }
            return .copy(c)
        case "WORKDIR":
            let path = try expanded(ins.arguments)
            guard !path.isEmpty else { throw error(ins.line, "WORKDIR requires exactly one argument") }
            state.workdir = FSPath.join(state.workdir, path)
            return .workdir(state.workdir)
        case "USER":
            // One word as written; what it expands to may be empty (root).
            guard words.splitKeepingQuotes(ins.arguments).count == 1 else { throw error(ins.line, "USER requires exactly one argument") }
            let u = try expanded(ins.arguments)
            state.user = u
            return .user(u)
        case "SHELL":
            guard let s = ins.json, !s.isEmpty else { throw error(ins.line, "SHELL requires the arguments to be in JSON form") }
            state.shell = s
            return .shell(s)
        default:
            return try metadata(ins, words: words, lookup: lookup)
        }
    }

    /// `ARG`: each declared name takes its build arg, its default, the global value or a built-in.
    private func arg(_ ins: Instruction, scope: inout Scope, words: ShellWords, globals: [String: String?],
                     used: inout Set<String>) throws(DockerfileError) -> StepKind {
        var last: StepKind = .arg("", nil)
        for (argName, def) in try argDeclarations(ins, words: words) {
            let current = scope
            var value: String?
            if let v = options.buildArgs[argName] {
                value = v
                used.insert(argName)
            } else if let d = def {
                value = try expand(d, words: words, line: ins.line) { current.lookup($0) }
            } else if let g = globals[argName] {
                value = g
            } else {
                value = builtins[argName]
            }
            scope.args.append((argName, value))
            last = .arg(argName, value)
        }
        return last
    }

    /// `RUN`: the command with its mounts, network, and the environment and args in scope.
    private func run(_ ins: Instruction, state: StageState, inputs: StageInputs, lookup: (String) -> String?) throws(DockerfileError) -> RunStep {
        guard !ins.arguments.isEmpty else { throw error(ins.line, "RUN requires at least one argument") }
        let words = inputs.words
        let command: CommandForm = ins.json.map(CommandForm.exec) ?? .shell(ins.arguments)
        for raw in ins.flagValues("mount") {
            for field in raw.split(separator: ",") where field.lowercased().hasPrefix("from=") {
                try refuseExpansion(String(field.dropFirst(5)), words: words, line: ins.line,
                                    "RUN --mount from= does not support variable expansion; define a stage for it instead")
            }
        }
        let mounts = try ins.flagValues("mount").map { m throws(DockerfileError) in try expand(m, words: words, line: ins.line, lookup) }
        let network = try ins.flag("network").map { n throws(DockerfileError) in try expand(n, words: words, line: ins.line, lookup) }
            ?? options.defaultNetwork
        if let n = network, !["default", "none", "host"].contains(n) {
            throw error(ins.line, "RUN --network=\(n): must be default, none or host")
        }
        let scope = state.scope
        // Each name once, where it was first declared, with its latest value.
        var args: [(String, String)] = []
        for (name, value) in scope.args where !scope.env.contains(where: { $0.0 == name }) {
            if let i = args.firstIndex(where: { $0.0 == name }) {
                if let value { args[i].1 = value }
            } else if let value {
                args.append((name, value))
            }
        }
        var runStep = RunStep(command: command, shell: state.shell, heredocs: ins.heredocs, mounts: mounts, network: network,
                              buildArgs: args, env: scope.env, workdir: state.workdir, user: state.user)
        runStep.proxyEnv = options.proxyEnv
        runStep.hostname = options.buildArgs["BUILDKIT_SANDBOX_HOSTNAME"]
        runStep.extraHosts = options.extraHosts
        runStep.parsedMounts = try mounts.map { m throws(DockerfileError) in try RunMount.parse(m, line: ins.line, file: options.fileName) }
        for m in runStep.parsedMounts where m.kind == .bind || m.kind == .cache {
            if let f = m.from, stageIndex(f, before: inputs.stage.index, in: inputs.raw) == nil {
                throw error(ins.line, "RUN --mount from=\(f): no earlier stage of that name")
            }
        }
        return runStep
    }

    /// Instructions that only change the image config.
    private func metadata(_ ins: Instruction, words: ShellWords, lookup: (String) -> String?) throws(DockerfileError) -> StepKind {
        func expanded(_ text: String) throws(DockerfileError) -> String { try expand(text, words: words, line: ins.line, lookup) }
        switch ins.keyword {
        case "EXPOSE":
            let ports = try expandWords(ins.arguments, words: words, line: ins.line, lookup)
            guard !ports.isEmpty else { throw error(ins.line, "EXPOSE requires at least one argument") }
            var keys: [String] = []
            for p in ports { keys += try exposedPorts(p, line: ins.line) }
            return .expose(keys)
        case "VOLUME":
            let vols: [String]
            if let json = ins.json { vols = json } else { vols = try expandWords(ins.arguments, words: words, line: ins.line, lookup) }
            guard !vols.isEmpty, vols.allSatisfy({ !$0.isEmpty }) else { throw error(ins.line, "VOLUME specified can not be an empty string") }
            return .volume(vols)
        case "ENTRYPOINT":
            return .entrypoint(ins.json.map(CommandForm.exec) ?? .shell(ins.arguments))
        case "CMD":
            return .cmd(ins.json.map(CommandForm.exec) ?? .shell(ins.arguments))
        case "STOPSIGNAL":
            let s = try expanded(ins.arguments)
            guard !s.isEmpty else { throw error(ins.line, "STOPSIGNAL requires exactly one argument") }
            return .stopSignal(s)
        case "HEALTHCHECK":
            return .healthcheck(try healthcheck(ins))
        case "ONBUILD":
            let trigger = Self.triggerText(ins)
            let first = trigger.prefix(while: { $0 != " " }).uppercased()
            guard !trigger.isEmpty else { throw error(ins.line, "ONBUILD requires at least one argument") }
            guard !["ONBUILD", "FROM", "MAINTAINER"].contains(first) else {
                throw error(ins.line, "\(first) isn't allowed as an ONBUILD trigger")
            }
            return .onbuild(trigger)
        case "MAINTAINER":
            guard !ins.arguments.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw error(ins.line, "MAINTAINER requires exactly one argument")
            }
            return .maintainer(ins.arguments)
        default:
            throw error(ins.line, "unexpected \(ins.keyword)")
        }
    }

    func expandWords(_ text: String, words: ShellWords, line: Int, _ lookup: (String) -> String?) throws(DockerfileError) -> [String] {
        do { return try words.expandWords(text, lookup) } catch { throw self.error(line, error.message) }
    }

    /// `k=v k2="v 2"`, or for ENV the legacy `ENV key value with spaces`.
    func keyValues(_ ins: Instruction, words: ShellWords, lookup: (String) -> String?, legacy: Bool) throws(DockerfileError) -> [(String, String)] {
        let parts = words.splitKeepingQuotes(ins.arguments)
        guard !parts.isEmpty else { throw error(ins.line, "\(ins.keyword) requires at least one argument") }
        if legacy, let first = parts.first, !first.contains("=") {
            guard parts.count >= 2 else { throw error(ins.line, "\(ins.keyword) must have two arguments") }
            let rest = ins.arguments.drop(while: { $0 != " " && $0 != "\t" }).drop(while: { $0 == " " || $0 == "\t" })
            return [(first, try expand(String(rest), words: words, line: ins.line, lookup))]
        }
        return try parts.map { p throws(DockerfileError) in
            guard let eq = p.firstIndex(of: "=") else {
                throw error(ins.line, "\(ins.keyword): '\(p)' is not key=value")
            }
            let key = try expand(String(p[..<eq]), words: words, line: ins.line, lookup)
            guard !key.isEmpty else { throw error(ins.line, "\(ins.keyword) names can not be blank") }
            return (key, try expand(String(p[p.index(after: eq)...]), words: words, line: ins.line, lookup))
        }
    }

    /// Where a COPY reads: the context, or what `--from` names — an earlier stage, a
    /// `--build-context`, else an image.
    private func copySource(_ ins: Instruction, words: ShellWords, lookup: (String) -> String?, stage: RawStage,
                            raw: [RawStage]) throws(DockerfileError) -> CopyFrom {
        guard let f = ins.flag("from") else { return .context }
        guard ins.keyword == "COPY" else { throw error(ins.line, "ADD does not support --from") }
        try refuseExpansion(f, words: words, line: ins.line,
                            "variable expansion is not supported for --from; define a new stage with FROM using a global ARG instead")
        let v = try expand(f, words: words, line: ins.line, lookup)
        if let i = stageIndex(v, before: stage.index, in: raw) { return .stage(i) }
        if let (name, context) = namedContext(v) { return context.imageReference.map { .image($0) } ?? .named(name) }
        if Int(v) != nil || raw[stage.index...].contains(where: { $0.name == v.lowercased() }) {
            throw error(ins.line, "COPY --from=\(v): stage \(v) is not an earlier stage")
        }
        return .image(v)
    }

    func copyStep(_ ins: Instruction, words: ShellWords, lookup: (String) -> String?, stage: RawStage, raw: [RawStage]) throws(DockerfileError) -> CopyStep {
        var args: [String]
        if let j = ins.json {
            args = try j.map { a throws(DockerfileError) in try expand("\"\(a.replacingOccurrences(of: "\"", with: "\\\""))\"", words: words, line: ins.line, lookup) }
        } else {
            args = try words.splitKeepingQuotes(ins.arguments).map { w throws(DockerfileError) in
                w.hasPrefix("<<") ? w : try expand(w, words: words, line: ins.line, lookup)
            }
        }
        let heredocNames = Set(ins.heredocs.map(\.name))
        args = args.filter { a in
            !(a.hasPrefix("<<") && heredocNames.contains(a.trimmingCharacters(in: CharacterSet(charactersIn: "<-\"'"))))
        }
        guard args.count >= (ins.heredocs.isEmpty ? 2 : 1) else {
            throw error(ins.line, "\(ins.keyword) requires at least two arguments, but only \(args.count) provided")
        }
        let dest = args.removeLast()
        let from = try copySource(ins, words: words, lookup: lookup, stage: stage, raw: raw)
        var chmod: ChmodSpec?
        if let c = ins.flag("chmod") {
            let v = try expand(c, words: words, line: ins.line, lookup)
            guard let m = ChmodSpec(v) else { throw error(ins.line, "\(ins.keyword) --chmod=\(v): invalid mode (octal, or symbolic as go-w or u=rw,g=r)") }
            chmod = m
        }
        let chown = try ins.flag("chown").map { c throws(DockerfileError) in try expand(c, words: words, line: ins.line, lookup) }
        let exclude = try ins.flagValues("exclude").map { e throws(DockerfileError) in try expand(e, words: words, line: ins.line, lookup) }
        let link = ins.flags.contains { $0.name == "link" && ($0.value == nil || $0.value == "true") }
        // Bodies of unquoted heredocs take the stage's variables (quotes and escapes stay).
        let heredocs = try ins.heredocs.map { h throws(DockerfileError) -> Instruction.Heredoc in
            guard h.expand else { return h }
            var out = h
            do throws(ShellWordError) { out.content = try words.expandRaw(h.content, lookup) } catch { throw self.error(ins.line, error.message) }
            return out
        }
        var step = CopyStep(isAdd: ins.keyword == "ADD", sources: args, heredocs: heredocs, destination: dest, from: from,
                            chown: chown, chmod: chmod, link: link, exclude: exclude, workdir: "/")
        step.parents = ins.flags.contains { $0.name == "parents" && ($0.value == nil || $0.value == "true") }
        let gitSource = args.first { $0.hasPrefix("git@") || $0.hasPrefix("git://") || (CopyStep.isURL($0) && $0.hasSuffix(".git")) }
        if let s = gitSource ?? (ins.hasFlag("keep-git-dir") ? "--keep-git-dir" : nil) {
            throw error(ins.line, "\(ins.keyword) \(s): git sources are not supported")
        }
        if ins.keyword == "COPY", let u = args.first(where: CopyStep.isURL) {
            throw error(ins.line, "COPY \(u): COPY takes no URLs; use ADD")
        }
        // user:password@ in a URL would end up in cache keys, progress and logs: refused.
        if args.contains(where: { CopyStep.isURL($0) && (URLComponents(string: $0)?.user != nil) }) {
            throw error(ins.line, "\(ins.keyword): URLs with credentials (user:password@) are not supported; they would be stored and printed")
        }
        if let c = ins.flag("checksum") {
            let v = try expand(c, words: words, line: ins.line, lookup)
            guard let d = try? Digest(parsing: v) else { throw error(ins.line, "ADD --checksum=\(v): not a digest (sha256:<64 hex>)") }
            guard !args.isEmpty, args.allSatisfy(CopyStep.isURL) else {
                throw error(ins.line, "ADD --checksum applies to URL sources only")
            }
            step.checksum = d
        }
        if let u = ins.flags.first(where: { $0.name == "unpack" }) {
            switch u.value ?? "true" {
            case "true": step.unpack = true
            case "false": step.unpack = false
            default: throw error(ins.line, "ADD --unpack=\(u.value ?? ""): use true or false")
            }
        }
        return step
    }

    /// The container ports one EXPOSE word names, as BuildKit reads it: `[[ip:]host:]port[-end][/proto]`
    /// (an IPv6 address in brackets, checked like the host port, then ignored); a range gives
    /// one key per port.
    func exposedPorts(_ p: String, line: Int) throws(DockerfileError) -> [String] {
        func invalid(_ why: String) -> DockerfileError { error(line, "EXPOSE: invalid port '\(p)': \(why)") }
        let parts = p.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let n = parts.count
        var ip = n >= 3 ? parts[..<(n - 2)].joined(separator: ":") : ""
        let host = n >= 2 ? parts[n - 2] : ""
        let last = parts[n - 1].split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let (portText, protoText) = (last[0], last.count > 1 ? last[1] : nil)
        let proto = (protoText ?? "").isEmpty ? "tcp" : (protoText ?? "").lowercased()
        guard !portText.isEmpty else { throw invalid("no port specified") }
        guard ["tcp", "udp", "sctp"].contains(proto) else { throw invalid("invalid proto: \(protoText ?? "")") }
        if ip.hasPrefix("[") {
            guard ip.hasSuffix("]") else { throw invalid("invalid IP address \(ip)") }
            ip = String(ip.dropFirst().dropLast())
        }
        guard ip.isEmpty || Self.isIPAddress(ip) else { throw invalid("invalid IP address: \(ip)") }
        guard let (low, high) = Self.portRange(portText) else { throw invalid("invalid containerPort: \(portText)") }
        if !host.isEmpty {
            guard let (hostLow, hostHigh) = Self.portRange(host) else { throw invalid("invalid hostPort: \(host)") }
            guard hostHigh - hostLow == high - low || low == high else {
                throw invalid("invalid ranges specified for container and host Ports: \(portText) and \(host)")
            }
        }
        return (low...high).map { "\($0)/\(proto)" }
    }

    /// Throws `message` when `text` holds anything the lexer would expand (`$X`, quotes, escapes).
    func refuseExpansion(_ text: String, words: ShellWords, line: Int, _ message: String) throws(DockerfileError) {
        let unchanged = (try? words.expand(text) { _ in nil }) == text
        guard unchanged else { throw error(line, message + " (\(text))") }
    }

    /// Whether `text` is an IPv4 or IPv6 address.
    static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    /// `8000` or `8000-9000`, each 0…65535, in order.
    static func portRange(_ text: String) -> (Int, Int)? {
        let bounds = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard let low = Int(bounds[0]), (0...65535).contains(low) else { return nil }
        guard bounds.count == 2, bounds[1] != bounds[0] else { return (low, low) }
        guard let high = Int(bounds[1]), (0...65535).contains(high), high >= low else { return nil }
        return (low, high)
    }

    func healthcheck(_ ins: Instruction) throws(DockerfileError) -> JSONValue {
        let trimmed = ins.arguments.trimmingCharacters(in: .whitespaces)
        if trimmed.uppercased() == "NONE" {
            guard ins.flags.isEmpty else { throw error(ins.line, "HEALTHCHECK NONE takes no options") }
            return .object(["Test": .array([.string("NONE")])])
        }
        guard trimmed.uppercased().hasPrefix("CMD") else { throw error(ins.line, "HEALTHCHECK: unknown type, use CMD or NONE") }
        let rest = String(trimmed.dropFirst(3)).trimmingCharacters(in: .whitespaces)
        guard !rest.isEmpty else { throw error(ins.line, "HEALTHCHECK CMD requires a command") }
        var test: [JSONValue]
        if rest.hasPrefix("["), let data = rest.data(using: .utf8), let arr = try? JSONSerialization.jsonObject(with: data) as? [String] {
            test = [.string("CMD")] + arr.map(JSONValue.string)
        } else {
            test = [.string("CMD-SHELL"), .string(rest)]
        }
        var obj: [String: JSONValue] = ["Test": .array(test)]
        for (flag, key) in [("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"), ("start-interval", "StartInterval")] {
            if let v = ins.flag(flag) {
                guard let ns = Self.parseDuration(v) else { throw error(ins.line, "HEALTHCHECK --\(flag)=\(v): invalid duration") }
                guard ns == 0 || ns >= 1_000_000 else { throw error(ins.line, "HEALTHCHECK --\(flag)=\(v) cannot be less than 1ms") }
                obj[key] = .int(ns)
            }
        }
        if let r = ins.flag("retries") {
            guard let n = Int64(r), n >= 0 else { throw error(ins.line, "HEALTHCHECK --retries=\(r): must be a non-negative integer") }
            obj["Retries"] = .int(n)
        }
        return .object(obj)
    }

    /// Go-style durations (`30s`, `1m30s`, `500ms`, `1h`) in nanoseconds.
    static func parseDuration(_ s: String) -> Int64? {
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        var rest = Substring(s)
        var total = 0.0
        guard !rest.isEmpty else { return nil }
        if rest == "0" { return 0 }
        while !rest.isEmpty {
            let num = rest.prefix(while: { $0.isNumber || $0 == "." })
            guard let v = Double(num) else { return nil }
            rest = rest.dropFirst(num.count)
            guard let unit = units.sorted(by: { $0.0.count > $1.0.count }).first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(unit.0.count)
            total += v * unit.1
        }
        return Int64(total)
    }
}
