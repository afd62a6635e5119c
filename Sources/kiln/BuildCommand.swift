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

    @OptionGroup(title: "Build options") var inputs: BuildInputOptions
    @OptionGroup(title: "Output options") var outputs: BuildOutputOptions
    @OptionGroup(title: "Cache options") var cache: BuildCacheOptions
    @OptionGroup(title: "Progress and state") var display: BuildDisplayOptions
    @OptionGroup(title: "Registry options") var registry: RegistryOptions

    @Argument(help: "Build context directory.")
    var context: String

    func run() async throws {
        let mode = try progressMode()
        let request = try makeRequest()
        try OutputPaths.check(request, metadataFile: outputs.metadataFile)
        if let iid = outputs.iidfile { try OutputPaths.fileInExistingDirectory(iid, what: "--iidfile \(iid)") }
        let store = try await StateDirectory.open(display.root)
        defer { store.claim.release() }
        let printer = mode.printer()
        let result = try await registry.withClient { client in
            try await withProgressTicks(printer) {
                try await BuildSession(store: store, client: client, snapshotter: try StateDirectory.requestedSnapshotter()).build(request, progress: printer)
            }
        }
        if let metadataFile = outputs.metadataFile { try result.metadata().write(to: URL(fileURLWithPath: metadataFile)) }
        // As buildx: the image ID is the config digest, written with no newline.
        let imageID = result.configDigest?.description ?? ""
        if let iid = outputs.iidfile { try Data(imageID.utf8).write(to: URL(fileURLWithPath: iid)) }
        if display.quiet { Console.write(imageID + "\n", to: STDOUT_FILENO) }
    }

    private func progressMode() throws -> ProgressMode {
        guard let mode = ProgressMode(rawValue: display.progress) else {
            throw CLIError(description: "invalid --progress '\(display.progress)': use auto, plain, tty, quiet or rawjson")
        }
        return display.quiet ? .quiet : mode
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
        let dockerfilePath = inputs.file ?? (!FileManager.default.fileExists(atPath: contextDir + "/Dockerfile")
            && FileManager.default.fileExists(atPath: lowercase) ? lowercase : contextDir + "/Dockerfile")
        guard let text = try? String(contentsOfFile: dockerfilePath, encoding: .utf8) else {
            throw CLIError(description: "cannot read Dockerfile \(dockerfilePath)")
        }
        if let n = inputs.network, !["default", "host", "none"].contains(n) {
            throw CLIError(description: "invalid --network '\(n)': use default, host or none")
        }
        var request = BuildRequest(context: contextDir, dockerfile: text)
        request.dockerfileName = FSPath.base(dockerfilePath)
        try applyInputs(to: &request)
        try applyOutputs(to: &request)
        request.cacheExports = try cache.cacheTo.map { try BuildRequest.cacheExport(parsing: $0) }
        request.cacheImports = try cache.cacheFrom.map { try BuildRequest.cacheImport(parsing: $0) }
        request.cacheImportBudget = Self.cacheImportBudget
        request.explain = cache.explain
        return request
    }

    private func applyInputs(to request: inout BuildRequest) throws {
        if let p = inputs.platform { try BuildFlags.checkPlatform(p) }
        request.buildArgs = BuildFlags.buildArgs(inputs.buildArgs)
        request.target = inputs.target
        request.network = inputs.network
        request.noCache = inputs.noCache
        request.noCacheStages = inputs.noCacheFilter.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) } }
        if let bad = request.noCacheStages.first(where: \.isEmpty) { throw CLIError(description: "invalid --no-cache-filter '\(bad)': name a stage") }
        request.sourceDateEpoch = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"].flatMap(Int64.init)
        request.secrets = try BuildFlags.secrets(inputs.secret)
        request.extraHosts = try inputs.addHosts.map(BuildFlags.host)
        for spec in inputs.buildContexts {
            let (name, context) = try BuildFlags.namedContext(spec)
            request.namedContexts[name] = context
        }
    }

    private func applyOutputs(to request: inout BuildRequest) throws {
        request.tags = try outputs.tag.map { try Reference(parsing: $0) }
        if outputs.push {
            guard !request.tags.isEmpty else { throw CLIError(description: "--push needs at least one -t REF") }
            request.outputs.append(.image(refs: request.tags, push: true, options: ImageOutputOptions()))
        }
        request.outputs += try outputs.output.map { try BuildOutput(parsing: $0, tags: request.tags) }
        request.labels = try outputs.label.map { try BuildFlags.keyValue($0, flag: "--label") }
        request.annotations = try ImageAnnotations(parsing: outputs.annotation, platform: .linuxAMD64)
        if !request.annotations.indexDescriptor.isEmpty, request.outputs.contains(where: { if case .image = $0 { true } else { false } }) {
            throw CLIError(description: "--annotation index-descriptor: applies to type=oci outputs only (a registry has no index.json)")
        }
        request.assembleImage = outputs.metadataFile != nil || outputs.iidfile != nil || display.quiet
    }
}

extension Build {
    /// How long one `--cache-from` source may take before the build goes on without it
    /// (`KILN_CACHE_FROM_TIMEOUT`, seconds; 15 by default).
    static var cacheImportBudget: Duration {
        let env = ProcessInfo.processInfo.environment["KILN_CACHE_FROM_TIMEOUT"].flatMap(Double.init)
        return .milliseconds(Int64((env ?? 15) * 1000))
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
