import Foundation
import KilnOCI

/// What a build asks of the Dockerfile.
public struct PlanOptions: Sendable {
    /// `--build-arg` values.
    public var buildArgs: [String: String]
    /// `--target` stage name, or the last stage.
    public var target: String?
    /// The platform built for.
    public var platform: Platform
    /// The platform building.
    public var buildPlatform: Platform
    /// The Dockerfile's name in messages.
    public var fileName: String
    /// Network for RUN steps without `--network` (`kiln build --network`).
    public var defaultNetwork: String?
    /// `--add-host` entries (name, address) every RUN sees in `/etc/hosts`.
    public var extraHosts: [(String, String)] = []
    /// `--build-context` sources by name: they replace a stage of that name, a `FROM NAME`
    /// image and a `COPY --from=NAME`.
    public var namedContexts: [String: NamedContext] = [:]
    /// `--no-cache-filter`: the stages (by name) whose steps always run.
    public var noCacheStages: [String] = []

    /// Options for a build.
    public init(buildArgs: [String: String] = [:], target: String? = nil, platform: Platform = .linuxAMD64,
                buildPlatform: Platform = .linuxAMD64, fileName: String = "Dockerfile", defaultNetwork: String? = nil) {
        self.defaultNetwork = defaultNetwork
        self.buildArgs = buildArgs
        self.target = target
        self.platform = platform
        self.buildPlatform = buildPlatform
        self.fileName = fileName
    }

    /// Proxy settings among the build args (`http_proxy`, `HTTPS_PROXY`, … in any case): every
    /// RUN gets them as environment without an ARG, and they are not part of any cache key.
    public var proxyEnv: [(String, String)] {
        Self.proxyNames.compactMap { name in
            buildArgs.keys.sorted().last { $0.uppercased() == name }.flatMap { k in buildArgs[k].map { (name, $0) } }
        }
    }

    /// The proxy settings a build arg may give, as RUN's environment names them.
    static let proxyNames = ["HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY"]

    /// Whether `name` is a proxy build arg or a builder setting (used by every RUN, never
    /// reported unused).
    static func isProxyArg(_ name: String) -> Bool {
        proxyNames.contains(name.uppercased()) || name == "BUILDKIT_SANDBOX_HOSTNAME"
    }
}

/// Resolves a parsed Dockerfile into a ``BuildPlan``: global and stage `ARG` scoping with
/// build args and the platform built-ins, `ENV` (on top of the base image's), expansion of
/// every instruction that expands, flag checks, the stages the target needs, and step names.
public struct BuildPlanner: Sendable {
    /// Options.
    public var options: PlanOptions
    /// `TARGETSTAGE`: the target's name, else the last stage's, else `default`.
    var targetStage = "default"

    /// Reads the config of a base image (`ref`, `platform`): its ENV seeds the stage's
    /// environment. `nil` means an empty config.
    public typealias ImageConfigLookup = @Sendable (String, Platform) async throws -> ImageConfig?

    /// A planner.
    public init(options: PlanOptions = PlanOptions()) { self.options = options }

    static let allowedFlags: [String: Set<String>] = [
        "FROM": ["platform"], "RUN": ["mount", "network", "security"],
        "COPY": ["from", "chown", "chmod", "link", "exclude", "parents"],
        "ADD": ["chown", "chmod", "link", "exclude", "keep-git-dir", "checksum", "unpack"],
        "HEALTHCHECK": ["interval", "timeout", "start-period", "start-interval", "retries"],
    ]
    static let vertexKeywords: Set<String> = ["RUN", "COPY", "ADD", "WORKDIR"]

    var builtins: [String: String] {
        let t = options.platform, b = options.buildPlatform
        return [
            "TARGETPLATFORM": t.description, "TARGETOS": t.os, "TARGETARCH": t.architecture, "TARGETVARIANT": t.variant ?? "",
            "BUILDPLATFORM": b.description, "BUILDOS": b.os, "BUILDARCH": b.architecture, "BUILDVARIANT": b.variant ?? "",
            "TARGETSTAGE": targetStage,
        ]
    }

    func error(_ line: Int, _ message: String) -> DockerfileError {
        DockerfileError(file: options.fileName, line: line, message)
    }

    struct RawStage {
        var index: Int
        var from: Instruction
        var name: String?
        var image: String
        var platform: Platform?
        var body: [Instruction]
        /// The `--build-context` directory the stage starts from, by name.
        var localContext: String?
    }

    /// Plans the build.
    public func plan(_ parsed: ParsedDockerfile, imageConfig: @escaping ImageConfigLookup) async throws -> BuildPlan {
        var planner = self
        let words = ShellWords(escape: parsed.escape)
        let lastName = parsed.instructions.last { $0.keyword == "FROM" }.flatMap { Self.stageName(of: $0, words: words) }
        planner.targetStage = options.target ?? lastName ?? "default"
        return try await planner.planStages(parsed, imageConfig: imageConfig)
    }

    private func planStages(_ parsed: ParsedDockerfile, imageConfig: @escaping ImageConfigLookup) async throws -> BuildPlan {
        let words = ShellWords(escape: parsed.escape)
        var warnings = parsed.warnings
        var usedArgs = Set<String>()

        // Global ARGs, then the stages.
        var globals: [String: String?] = [:]
        var raw: [RawStage] = []
        for ins in parsed.instructions {
            try checkFlags(ins)
            if ins.keyword == "FROM" {
                raw.append(try fromStage(ins, index: raw.count, words: words, globals: globals, used: &usedArgs))
            } else if raw.isEmpty {
                guard ins.keyword == "ARG" else {
                    throw error(ins.line, "\(ins.keyword) before the first FROM: only ARG may come before FROM")
                }
                for (name, def) in try argDeclarations(ins, words: words) {
                    let lookup: (String) -> String? = { n in globals[n].flatMap { $0 } ?? self.builtins[n] }
                    // A value given on the command line replaces the default unexpanded.
                    if let given = options.buildArgs[name] {
                        usedArgs.insert(name)
                        globals[name] = .some(given)
                        continue
                    }
                    let value = try def.map { d throws(DockerfileError) in try expand(d, words: words, line: ins.line, lookup) }
                    globals[name] = .some(value)
                }
            } else {
                raw[raw.count - 1].body.append(ins)
            }
        }
        guard !raw.isEmpty else { throw error(0, "no FROM instruction: a Dockerfile needs at least one stage") }
        applyNamedContexts(&raw)
        let uncached = try uncachedStages(raw)

        // The target and what it needs.
        let targetIndex: Int
        if let t = options.target {
            guard let i = raw.firstIndex(where: { $0.name == t.lowercased() }) else {
                throw error(0, "target stage \"\(t)\" could not be found" + Suggestion.didYouMean(t, among: raw.compactMap(\.name)))
            }
            targetIndex = i
        } else {
            targetIndex = raw.count - 1
        }
        var needed = Set<Int>()
        var stack = [targetIndex]
        while let i = stack.popLast() {
            guard needed.insert(i).inserted else { continue }
            raw[i].body = try await triggers(of: raw[i], in: raw, escape: parsed.escape, imageConfig: imageConfig) + raw[i].body
            stack.append(contentsOf: try dependencies(of: raw[i], in: raw, words: words, globals: globals))
        }

        var planned: [Int: PlannedStage] = [:]
        for i in needed.sorted() {
            planned[i] = try await resolve(raw[i], all: raw, planned: planned, words: words, globals: globals,
                                           used: &usedArgs, imageConfig: imageConfig)
        }
        for name in options.buildArgs.keys.sorted() where !usedArgs.contains(name) && builtins[name] == nil && !PlanOptions.isProxyArg(name) {
            warnings.append("build arg \(name) is not used by any stage built")
        }
        return BuildPlan(stages: needed.sorted().compactMap { planned[$0] }, warnings: warnings, uncachedStages: uncached)
    }

    /// The `--no-cache-filter` stages, by Dockerfile index; an unknown name is an error.
    private func uncachedStages(_ raw: [RawStage]) throws(DockerfileError) -> Set<Int> {
        var out = Set<Int>()
        for name in options.noCacheStages {
            guard let i = raw.firstIndex(where: { $0.name == name.lowercased() }) else {
                throw error(0, "--no-cache-filter: no stage named \"\(name)\"" + Suggestion.didYouMean(name, among: raw.compactMap(\.name)))
            }
            out.insert(i)
        }
        return out
    }

    private func checkFlags(_ ins: Instruction) throws(DockerfileError) {
        let allowed = Self.allowedFlags[ins.keyword] ?? []
        if ins.keyword == "ADD", ins.hasFlag("from") { throw error(ins.line, "ADD does not support --from") }
        for f in ins.flags where !allowed.contains(f.name) {
            throw error(ins.line, "\(ins.keyword): unknown flag --\(f.name)" + Suggestion.didYouMean(f.name, among: allowed.sorted()))
        }
    }

    /// The name `FROM image AS name` gives its stage (lower-cased; stage names are literal).
    static func stageName(of from: Instruction, words: ShellWords) -> String? {
        let parts = words.splitKeepingQuotes(from.arguments)
        return parts.count == 3 && parts[1].uppercased() == "AS" ? parts[2].lowercased() : nil
    }

    private func fromStage(_ ins: Instruction, index: Int, words: ShellWords, globals: [String: String?], used: inout Set<String>) throws(DockerfileError) -> RawStage {
        let parts = words.splitKeepingQuotes(ins.arguments)
        let lookup: (String) -> String? = { n in
            globals[n].flatMap { $0 } ?? self.builtins[n]
        }
        for p in parts where p.contains("$") {
            for (k, _) in globals where p.contains(k) { used.insert(k) }
        }
        guard parts.count == 1 || (parts.count == 3 && parts[1].uppercased() == "AS") else {
            throw error(ins.line, "FROM requires either one or three arguments (FROM image [AS name])")
        }
        let image = try expand(parts[0], words: words, line: ins.line, lookup)
        guard !image.isEmpty else { throw error(ins.line, "FROM: base name (\(parts[0])) should not be blank") }
        let name = Self.stageName(of: ins, words: words)
        if let n = name {
            guard n.first?.isLetter == true, n.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw error(ins.line, "invalid stage name '\(parts[2])'")
            }
        }
        var platform: Platform?
        if let p = ins.flag("platform") {
            let expanded = try expand(p, words: words, line: ins.line, lookup)
            do { platform = try Platform(parsing: expanded) } catch { throw self.error(ins.line, "FROM --platform: \(error.description)") }
        }
        return RawStage(index: index, from: ins, name: name, image: image, platform: platform, body: [], localContext: nil)
    }

    func stageIndex(_ value: String, before index: Int, in raw: [RawStage]) -> Int? {
        if let n = Int(value), n >= 0, n < index { return n }
        return raw[..<index].lastIndex { $0.name == value.lowercased() }
    }

    private func dependencies(of stage: RawStage, in raw: [RawStage], words: ShellWords, globals: [String: String?]) throws -> [Int] {
        var deps: [Int] = []
        if let i = stageIndex(stage.image, before: stage.index, in: raw) { deps.append(i) }
        let lookup: (String) -> String? = { n in globals[n].flatMap { $0 } ?? self.options.buildArgs[n] ?? self.builtins[n] }
        for ins in stage.body {
            if ins.keyword == "COPY", let from = ins.flag("from") {
                let v = try expand(from, words: words, line: ins.line, lookup)
                if let i = stageIndex(v, before: stage.index, in: raw) { deps.append(i) }
            }
            if ins.keyword == "RUN" {
                for m in ins.flagValues("mount") {
                    for kv in m.split(separator: ",") where kv.hasPrefix("from=") {
                        let v = try expand(String(kv.dropFirst(5)), words: words, line: ins.line, lookup)
                        if let i = stageIndex(v, before: stage.index, in: raw) { deps.append(i) }
                    }
                }
            }
        }
        return deps
    }

    func expand(_ word: String, words: ShellWords, line: Int, _ lookup: (String) -> String?) throws(DockerfileError) -> String {
        do { return try words.expand(word, lookup) } catch { throw self.error(line, error.message) }
    }

    /// `ARG a=1 b c="x y"` → [(a, "1"), (b, nil), (c, "\"x y\"")] (defaults unexpanded).
    func argDeclarations(_ ins: Instruction, words: ShellWords) throws(DockerfileError) -> [(String, String?)] {
        let parts = words.splitKeepingQuotes(ins.arguments)
        guard !parts.isEmpty else { throw error(ins.line, "ARG requires at least one argument") }
        return try parts.map { p throws(DockerfileError) in
            if let eq = p.firstIndex(of: "=") {
                let name = String(p[..<eq])
                guard Self.validName(name) else { throw error(ins.line, "ARG: invalid name '\(name)'") }
                return (name, String(p[p.index(after: eq)...]))
            }
            guard Self.validName(p) else { throw error(ins.line, "ARG: invalid name '\(p)'") }
            return (p, nil)
        }
    }

    static func validName(_ s: String) -> Bool {
        guard let f = s.first, f.isLetter || f == "_" else { return false }
        return s.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }
    }
}
