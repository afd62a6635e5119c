import KilnDockerfile
import KilnOCI

/// `RUN`: a command run in a container over the stage's filesystem, with its mounts.
public struct ExecOp: Sendable {
    /// The step as planned (environment, user, working directory, mounts, network).
    public let run: RunStep
    /// The process's argument vector — exec form as written, shell form through the stage's
    /// SHELL, heredocs handed to the shell — computed here once for the key, the container and
    /// the error message alike.
    public let argv: [String]

    /// Where a heredoc script with a shebang is mounted (read-only, executable).
    public static let scriptDirectory = "/dev/pipes"

    /// The heredoc run as a script file, if this RUN is one (name and content).
    public var script: Instruction.Heredoc? {
        guard argv.count == 1, argv[0].hasPrefix(Self.scriptDirectory + "/") else { return nil }
        return run.heredocs.first
    }

    /// The op for `run`.
    public init(run: RunStep) {
        self.run = run
        argv = Self.arguments(run)
    }

    static func arguments(_ run: RunStep) -> [String] {
        switch run.command {
        case .exec(let argv): return argv
        case .shell(let s):
            guard !run.heredocs.isEmpty else { return run.shell + [s] }
            // A RUN that is only a heredoc runs its body as the script.
            let onlyMarkers = s.split(separator: " ").allSatisfy { $0.hasPrefix("<<") }
            if onlyMarkers, let first = run.heredocs.first {
                // A lone heredoc with a shebang is a script file of its own, run directly (BuildKit).
                if run.heredocs.count == 1, first.content.hasPrefix("#!") { return [scriptDirectory + "/" + first.name] }
                return run.shell + [first.content]
            }
            var script = s
            for h in run.heredocs { script += "\n" + h.content + h.name }
            return run.shell + [script]
        }
    }

    /// Adds the vertex for `run` on top of `state`, keyed as BuildKit keys its exec op: the
    /// op's cache map (``BuildKitExec``), the stage's filesystem with selector `/`, and for
    /// the bind mounts' sources one input each — the context by the content of the paths
    /// mounted (BuildKit exports nothing else for it), a stage by its key with the paths as
    /// selector (a content alternative is added once the stage is solved).
    static func lower(_ run: RunStep, name: String, stage: PlannedStage, state: Int?,
                      into g: inout GraphUnderConstruction) throws(GraphError) -> Int {
        let exec = BuildKitExec(run: run, onBase: state != nil)
        var inputs = state.map { [[KeyInput(link: g.key($0), selector: BuildKitCacheMap.execSelector(["/"]))]] } ?? []
        var inputVertices = state.map { [$0] } ?? []
        var facts = self.facts(run, platform: stage.platform)
        for input in exec.inputs {
            let key: KeyInput
            switch input.source {
            case .stage(let from):
                guard let v = try g.stageResult(from, step: name) else { throw GraphError(description: "\(name): mount from=\(from) has no result") }
                key = KeyInput(link: g.key(v), selector: BuildKitCacheMap.execSelector(input.selectors))
                inputVertices.append(v)
            case .context:
                let paths = try BuildKitCacheMap.dedupePaths(input.selectors).map { p throws(GraphError) in
                    try g.context.resolveBindSource(String(p.dropFirst()), step: name)
                }
                key = KeyInput(link: try g.contentRoot(try g.context.buildKitChecksum(paths, step: name)), selector: nil)
            }
            inputs.append([key])
            facts[FactName.mountPrefix + input.targets.joined(separator: ",")] = StepFacts.hidden("\(input.source)\u{0}\(key.link)")
        }
        let op = ExecOp(run: run)
        let cacheMap = BuildKitCacheMap.exec(exec.cacheMapJSON(op), platform: stage.platform)
        let key = try CacheKey(base: g.stepDigest(cacheMap), inputs: inputs)
        return g.add(name: name, op: .exec(op), inputs: inputVertices, key: key, stage: stage, facts: facts)
    }

    /// The facts of a RUN's definition: its command, variables, place, user, network, secrets
    /// and mounts other than binds (whose facts name what they read).
    static func facts(_ run: RunStep, platform: Platform) -> [String: String] {
        let command: [String]
        switch run.command {
        case .exec(let argv): command = argv
        case .shell(let s): command = run.shell + [s]
        }
        let heredocs = run.heredocs.map { "\($0.name)\u{0}\($0.expand)\u{0}\($0.content)" }
        var facts = [FactName.command: StepFacts.hidden((command + heredocs).joined(separator: "\u{0}")),
                     FactName.workdir: run.workdir, FactName.user: run.user, FactName.network: run.network ?? "default",
                     FactName.platform: platform.description]
        for (k, v) in run.env { facts[FactName.envPrefix + k] = StepFacts.hidden(v) }
        for (k, v) in run.buildArgs { facts[FactName.argPrefix + k] = StepFacts.hidden(v) }
        if let h = run.hostname { facts[FactName.hostname] = StepFacts.hidden(h) }
        if !run.extraHosts.isEmpty {
            facts[FactName.extraHosts] = StepFacts.hidden(run.extraHosts.map { "\($0.0)=\($0.1)" }.joined(separator: "\u{0}"))
        }
        let secrets = run.parsedMounts.filter { $0.kind == .secret }.compactMap { $0.id ?? $0.source }.sorted()
        if !secrets.isEmpty { facts[FactName.secrets] = secrets.joined(separator: ",") }
        for m in run.parsedMounts where m.kind != .bind && m.kind != .secret {
            facts[FactName.mountPrefix + m.target] = StepFacts.hidden("\(m)")
        }
        return facts
    }
}
