import KilnOCI

/// A Dockerfile resolved for one build: variables expanded, flags checked, only the stages the
/// target needs, each step typed and named as BuildKit names it.
public struct BuildPlan: Sendable {
    /// The stages to build, dependencies before dependants; the last one is the target.
    public var stages: [PlannedStage]
    /// Warnings (unused build args, ignored directives…).
    public var warnings: [String]
    /// Stages (Dockerfile indices) whose steps run even when cached (`--no-cache-filter`).
    public var uncachedStages: Set<Int> = []
    /// The stage that is the build's result.
    public var target: PlannedStage { stages[stages.count - 1] }

    /// The planned stage with Dockerfile index `index`.
    public func stage(index: Int) -> PlannedStage? { stages.first { $0.index == index } }
}

/// One `FROM` section.
public struct PlannedStage: Sendable {
    /// The `PATH` of a stage with no base image (and of RUN steps whose image sets none).
    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// Position in the Dockerfile (0-based), used by `COPY --from=<index>`.
    public var index: Int
    /// `AS name`, lower-cased, if given.
    public var name: String?
    /// The name in step names: the stage name, or `stage-N`.
    public var displayName: String { name ?? "stage-\(index)" }
    /// What the stage starts from.
    public var base: StageBase
    /// The platform the stage builds for.
    public var platform: Platform
    /// Vertex name of the FROM step: `[name 1/n] FROM ref`.
    public var fromName: String
    /// The steps after FROM, in order.
    public var steps: [PlannedStep]
    /// Environment at the end of the stage (image ENV plus ENV instructions).
    public var env: [(String, String)]
    /// Dockerfile line of the FROM.
    public var line: Int
    /// Working directory at the end of the stage.
    public var workdir: String
    /// User at the end of the stage.
    public var user: String
    /// SHELL at the end of the stage.
    public var shell: [String]
}

/// What a stage starts from.
public enum StageBase: Sendable, Equatable {
    /// An image reference (expanded), with an explicit `--platform` if given.
    case image(String, platform: Platform?)
    /// Another stage (Dockerfile index).
    case stage(Int)
    /// `FROM scratch`.
    case scratch
    /// A `--build-context` directory, by name: its files are the stage's filesystem.
    case named(String)
}

/// One instruction after FROM.
public struct PlannedStep: Sendable {
    /// The instruction as written.
    public var instruction: Instruction
    /// `[stage i/n] INSTRUCTION args` for steps that make a vertex; `nil` for metadata-only steps.
    public var vertexName: String?
    /// What the step does.
    public var kind: StepKind
    /// The `USER` in effect at this step (empty: root).
    public var user: String = ""
}

/// A command in shell or exec form.
public enum CommandForm: Sendable, Equatable {
    /// Shell form: run through the stage's SHELL.
    case shell(String)
    /// Exec form: the argument vector.
    case exec([String])
}

/// What a step does.
public enum StepKind: Sendable {
    /// `RUN`.
    case run(RunStep)
    /// `COPY` or `ADD`.
    case copy(CopyStep)
    /// `WORKDIR` (creates the directory).
    case workdir(String)
    /// `ENV` pairs.
    case env([(String, String)])
    /// `ARG` declaration with its resolved value (nil when unset).
    case arg(String, String?)
    /// `LABEL` pairs.
    case label([(String, String)])
    /// `USER`.
    case user(String)
    /// `EXPOSE` ports (`80/tcp`).
    case expose([String])
    /// `VOLUME` paths.
    case volume([String])
    /// `ENTRYPOINT`.
    case entrypoint(CommandForm)
    /// `CMD`.
    case cmd(CommandForm)
    /// `SHELL`.
    case shell([String])
    /// `STOPSIGNAL`.
    case stopSignal(String)
    /// `HEALTHCHECK` (kept as the image config's JSON object), or `nil` for `HEALTHCHECK NONE`.
    case healthcheck(JSONValue)
    /// `ONBUILD` trigger text.
    case onbuild(String)
    /// `MAINTAINER` (becomes the `author` field).
    case maintainer(String)
}

/// A `RUN` step, resolved.
public struct RunStep: Sendable {
    /// The command.
    public var command: CommandForm
    /// The shell for shell form.
    public var shell: [String]
    /// Heredocs attached to the instruction (with `expand` honoured at run time by the shell).
    public var heredocs: [Instruction.Heredoc]
    /// `--mount` specs, raw (`type=cache,target=/x`), expanded.
    public var mounts: [String]
    /// The same mounts, parsed and checked.
    public var parsedMounts: [RunMount] = []
    /// `--network` (`default`, `none`, `host`).
    public var network: String?
    /// Build args in scope, passed to the command as environment (they are part of its key).
    public var buildArgs: [(String, String)]
    /// The environment at this step (image ENV and ENV instructions so far).
    public var env: [(String, String)]
    /// The working directory at this step.
    public var workdir: String
    /// The user at this step (empty: the image's default, root).
    public var user: String
    /// Proxy settings from the build args, passed to the command but not part of its key.
    public var proxyEnv: [(String, String)] = []
    /// The container's hostname (`BUILDKIT_SANDBOX_HOSTNAME`), when set.
    public var hostname: String?
    /// `--add-host` entries for the container's `/etc/hosts` (name, address), in order.
    public var extraHosts: [(String, String)] = []
}

/// A `COPY` or `ADD` step, resolved.
public struct CopyStep: Sendable {
    /// `ADD` (auto-extracts local tars) rather than `COPY`.
    public var isAdd: Bool
    /// Source paths (or URLs for ADD), expanded.
    public var sources: [String]
    /// Inline sources from heredocs (name → content).
    public var heredocs: [Instruction.Heredoc]
    /// Destination, expanded, absolute or relative to WORKDIR.
    public var destination: String
    /// Where sources come from.
    public var from: CopyFrom
    /// `--chown`.
    public var chown: String?
    /// `--chmod`.
    public var chmod: ChmodSpec?
    /// `--link`.
    public var link: Bool
    /// `--exclude` patterns.
    public var exclude: [String]
    /// The working directory at this step (relative destinations resolve against it).
    public var workdir: String
    /// `ADD --checksum`: the digest every URL source must have.
    public var checksum: Digest? = nil
    /// `ADD --unpack`: whether archives are extracted (default: local ones yes, URLs no).
    public var unpack: Bool? = nil
    /// `--parents`: each source keeps its path (below a `/./` pivot, if any) under the destination.
    public var parents = false

    /// Whether `source` is a URL (ADD downloads it) rather than a path.
    public static func isURL(_ source: String) -> Bool {
        source.hasPrefix("http://") || source.hasPrefix("https://")
    }
}

/// The source of a COPY.
public enum CopyFrom: Sendable, Equatable {
    /// The build context.
    case context
    /// An earlier stage (Dockerfile index).
    case stage(Int)
    /// An image reference.
    case image(String)
    /// A `--build-context` directory, by name.
    case named(String)
}
