import ArgumentParser
import Foundation
import KilnBuild
import KilnOCI
import KilnProgress
import KilnRegistry
import KilnStore
import KilnSystem

/// `kiln build`: build a Dockerfile with a local cache that survives restarts.
struct Build: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build an image from a Dockerfile (steps reuse the local cache under --root).")

    @Option(help: "State directory (cache, content store, snapshots). Default: $KILN_ROOT or ~/.local/share/kiln.")
    var root: String?

    @Option(name: .shortAndLong, help: "Dockerfile path (default: CONTEXT/Dockerfile).")
    var file: String?

    @Option(name: .shortAndLong, help: "Image reference to name the result (repeatable).")
    var tag: [String] = []

    @Flag(help: "Push the image to every -t reference.")
    var push = false

    @Option(name: [.short, .customLong("output")], help: "Output: type=image|registry,name=REF[,push=true]; type=local|tar|oci|docker,dest=PATH (repeatable).")
    var output: [String] = []

    @Option(name: .customLong("metadata-file"), help: "Write build results (image digest and descriptor) as JSON to this file.")
    var metadataFile: String?

    @Option(name: .customLong("cache-to"), help: "Export the build cache: type=registry,ref=REF[,mode=min|max][,oci-mediatypes=][,image-manifest=][,compression=][,compression-level=][,force-compression=][,ignore-error=] (repeatable).")
    var cacheTo: [String] = []

    @Option(name: .customLong("cache-from"), help: "Import a build cache: type=registry,ref=REF or just REF (repeatable). A missing or unreachable cache only warns.")
    var cacheFrom: [String] = []

    @Option(help: "Stage to build (default: the last one).")
    var target: String?

    @Option(name: .customLong("build-arg"), help: "Build argument KEY=VALUE (repeatable; KEY alone takes it from the environment).")
    var buildArgs: [String] = []

    @Option(help: "Secret for RUN --mount=type=secret: id=NAME,src=FILE or id=NAME,env=VAR (repeatable). Never stored or logged.")
    var secret: [String] = []

    @Option(help: "Network for RUN steps without --network: default (the host's), host or none.")
    var network: String?

    @Flag(name: .customLong("no-cache"), help: "Run every step; do not use the cache.")
    var noCache = false

    @Option(help: "Progress output: auto, plain, tty, quiet or rawjson.")
    var progress: String = "auto"

    @Argument(help: "Build context directory.")
    var context: String

    @OptionGroup var registry: RegistryOptions

    func run() async throws {
        guard let mode = ProgressMode(rawValue: progress) else {
            throw CLIError(description: "invalid --progress '\(progress)': use auto, plain, tty, quiet or rawjson")
        }
        let request = try makeRequest()
        try OutputPaths.check(request, metadataFile: metadataFile)
        let store = try await StateDirectory.open(root)
        defer { store.claim.release() }
        let printer = mode.printer()
        let result = try await registry.withClient { client in
            try await withProgressTicks(printer) {
                try await BuildSession(store: store, client: client, snapshotter: try StateDirectory.requestedSnapshotter()).build(request, progress: printer)
            }
        }
        if let metadataFile { try result.metadata().write(to: URL(fileURLWithPath: metadataFile)) }
    }

    /// The flags as a build request; every value is checked here, before anything runs.
    func makeRequest() throws -> BuildRequest {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: context, isDirectory: &isDir), isDir.boolValue else {
            throw CLIError(description: "build context \(context) is not a directory")
        }
        let contextDir = URL(fileURLWithPath: context).standardizedFileURL.path
        // As buildx: `Dockerfile`, else a lowercase `dockerfile`, in the context.
        let lowercase = contextDir + "/dockerfile"
        let dockerfilePath = file ?? (!FileManager.default.fileExists(atPath: contextDir + "/Dockerfile")
            && FileManager.default.fileExists(atPath: lowercase) ? lowercase : contextDir + "/Dockerfile")
        guard let text = try? String(contentsOfFile: dockerfilePath, encoding: .utf8) else {
            throw CLIError(description: "cannot read Dockerfile \(dockerfilePath)")
        }
        if let n = network, !["default", "host", "none"].contains(n) {
            throw CLIError(description: "invalid --network '\(n)': use default, host or none")
        }
        var request = BuildRequest(context: contextDir, dockerfile: text)
        request.dockerfileName = FSPath.base(dockerfilePath)
        request.buildArgs = Self.buildArgs(buildArgs)
        request.target = target
        request.network = network
        request.noCache = noCache
        request.sourceDateEpoch = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"].flatMap(Int64.init)
        request.secrets = try Self.secrets(secret)
        request.tags = try tag.map { try Reference(parsing: $0) }
        if push {
            guard !request.tags.isEmpty else { throw CLIError(description: "--push needs at least one -t REF") }
            request.outputs.append(.image(refs: request.tags, push: true, options: ImageOutputOptions()))
        }
        request.outputs += try output.map { try BuildOutput(parsing: $0, tags: request.tags) }
        request.cacheExports = try cacheTo.map { try BuildRequest.cacheExport(parsing: $0) }
        request.cacheImports = try cacheFrom.map { try BuildRequest.cacheImport(parsing: $0) }
        request.cacheImportBudget = Self.cacheImportBudget
        request.assembleImage = metadataFile != nil
        return request
    }
}

extension Build {
    /// How long one `--cache-from` source may take before the build goes on without it
    /// (`KILN_CACHE_FROM_TIMEOUT`, seconds; 15 by default).
    static var cacheImportBudget: Duration {
        let env = ProcessInfo.processInfo.environment["KILN_CACHE_FROM_TIMEOUT"].flatMap(Double.init)
        return .milliseconds(Int64((env ?? 15) * 1000))
    }

    /// `KEY=VALUE`, or `KEY` alone to take it from the environment.
    static func buildArgs(_ specs: [String]) -> [String: String] {
        var args: [String: String] = [:]
        for a in specs {
            if let eq = a.firstIndex(of: "=") {
                args[String(a[..<eq])] = String(a[a.index(after: eq)...])
            } else if let v = ProcessInfo.processInfo.environment[a] {
                args[a] = v
            }
        }
        return args
    }

    /// `--secret` values, read into memory (never written anywhere): `src=FILE` or `env=VAR`;
    /// at most 500 KiB each, as BuildKit allows.
    static func secrets(_ specs: [String]) throws -> BuildSecrets {
        var out = BuildSecrets()
        for spec in specs {
            var fields: [String: String] = [:]
            for part in spec.split(separator: ",") {
                let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2 else { throw CLIError(description: "invalid --secret '\(spec)': use id=NAME,src=FILE or id=NAME,env=VAR") }
                guard ["id", "src", "source", "env", "type"].contains(kv[0]) else {
                    throw CLIError(description: "unknown key '\(kv[0])' in --secret '\(spec)' (use id, src or env)")
                }
                fields[kv[0]] = kv[1]
            }
            guard let id = fields["id"] else { throw CLIError(description: "invalid --secret '\(spec)': id= is required") }
            let value: [UInt8]
            if let src = fields["src"] ?? fields["source"] {
                guard let data = FileManager.default.contents(atPath: src) else { throw CLIError(description: "--secret id=\(id): cannot read \(src)") }
                value = Array(data)
            } else if let env = fields["env"] {
                guard let v = ProcessInfo.processInfo.environment[env] else {
                    throw CLIError(description: "--secret id=\(id): environment variable \(env) is not set")
                }
                value = Array(v.utf8)
            } else {
                throw CLIError(description: "invalid --secret '\(spec)': give src=FILE or env=VAR")
            }
            guard value.count <= 500 * 1024 else { throw CLIError(description: "--secret id=\(id): larger than 500 KiB") }
            out.values[id] = value
        }
        return out
    }
}

/// Where kiln keeps its state.
enum StateDirectory {
    static func resolve(_ explicit: String?) -> String {
        if let explicit { return URL(fileURLWithPath: explicit).standardizedFileURL.path }
        let env = ProcessInfo.processInfo.environment
        if let r = env["KILN_ROOT"], !r.isEmpty { return r }
        return (env["HOME"] ?? NSHomeDirectory()) + "/.local/share/kiln"
    }

    /// Opens the state directory for a command: claims it for this process and first removes
    /// what dead kiln processes left there (containers, mounts, temporary files), saying so.
    static func open(_ explicit: String?) async throws -> ContentStore {
        let (store, swept) = try await BuildState.open(resolve(explicit))
        if !swept.isEmpty { Console.write("note: \(swept)\n", to: STDERR_FILENO) }
        return store
    }

    /// The snapshotter `KILN_SNAPSHOTTER` asks for (`overlayfs` or `copy`); nil when unset.
    static func requestedSnapshotter() throws -> SnapshotterKind? {
        guard let value = ProcessInfo.processInfo.environment["KILN_SNAPSHOTTER"], !value.isEmpty else { return nil }
        guard let kind = SnapshotterKind(rawValue: value) else {
            throw CLIError(description: "KILN_SNAPSHOTTER=\(value): expected one of " + SnapshotterKind.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return kind
    }
}
