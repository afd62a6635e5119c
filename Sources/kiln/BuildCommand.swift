import ArgumentParser
import Foundation
import KilnArchive
import KilnDockerfile
import KilnCache
import KilnExport
import KilnOCI
import KilnRegistry
import KilnSolver
import KilnStore
import KilnWorker
import KilnSystem
import KilnProgress

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
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: context, isDirectory: &isDir), isDir.boolValue else {
            throw CLIError(description: "build context \(context) is not a directory")
        }
        let contextDir = URL(fileURLWithPath: context).standardizedFileURL.path
        let dockerfilePath = file ?? contextDir + "/Dockerfile"
        guard let text = try? String(contentsOfFile: dockerfilePath, encoding: .utf8) else {
            throw CLIError(description: "cannot read Dockerfile \(dockerfilePath)")
        }
        var args: [String: String] = [:]
        for a in buildArgs {
            if let eq = a.firstIndex(of: "=") {
                args[String(a[..<eq])] = String(a[a.index(after: eq)...])
            } else if let v = ProcessInfo.processInfo.environment[a] {
                args[a] = v
            }
        }
        let tags = try tag.map { try Reference(parsing: $0) }
        if let n = network, !["default", "host", "none"].contains(n) {
            throw CLIError(description: "invalid --network '\(n)': use default, host or none")
        }
        let secrets = try Self.secrets(secret)
        let outputs = try output.map { spec throws -> OutputSpec in
            do { return try OutputSpec(parsing: spec) } catch let e as ExportError { throw CLIError(description: e.description) }
        }
        var pushRefs = push ? tags : []
        var pushGroups: [PushGroup] = push ? [PushGroup(refs: tags, options: ImageOutputOptions())] : []
        for o in outputs where o.type == "image" || o.type == "registry" {
            let names = (o.attributes["name"] ?? "").split(separator: ",").map(String.init).filter { !$0.isEmpty }
            let refs = try (names.isEmpty ? tags : names.map { try Reference(parsing: $0) })
            guard !refs.isEmpty else { throw CLIError(description: "output type=\(o.type) needs name= or -t") }
            let options = try Self.imageOptions(o.attributes)
            if o.type == "registry" || o.attributes["push"] == "true" {
                pushRefs += refs
                pushGroups.append(PushGroup(refs: refs, options: options))
            }
        }
        if push && tags.isEmpty { throw CLIError(description: "--push needs at least one -t REF") }
        let epoch = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"].flatMap(Int64.init)
        // Cache specs are checked before anything runs or is pushed.
        let cacheExports = try cacheTo.map { spec throws -> CacheExportTarget in
            do { return try CacheSpec.export(spec) } catch let e as CacheSpecError { throw CLIError(description: e.description) }
        }
        let cacheImports = try cacheFrom.map { spec throws -> CacheImportSource in
            do { return try CacheSpec.import(spec) } catch let e as CacheSpecError { throw CLIError(description: e.description) }
        }
        let metadataPath = metadataFile
        let dockerfileName = FSPath.base(dockerfilePath)
        let parsed = try DockerfileParser(fileName: dockerfileName).parse(text)
        try OutputPaths.check(outputs: outputs, cacheExports: cacheExports, metadataFile: metadataPath)
        let store = try await StateDirectory.open(root)
        defer { store.claim.release() }
        let printer = mode.printer()
        let options = PlanOptions(buildArgs: args, target: target, fileName: dockerfileName, defaultNetwork: network)
        let noCache = self.noCache

        try await registry.withClient { client in
            let resolver = ImageResolver(client: client, store: store)
            let plan = try await BuildPlanner(options: options).plan(parsed) { ref, platform in
                try await resolver.resolve(ref, platform: platform).config
            }
            for w in plan.warnings { await printer.handle(.warning(vertex: nil, short: w, detail: [])) }
            if !tags.isEmpty && pushRefs.isEmpty && outputs.isEmpty {
                await printer.handle(.warning(vertex: nil, short: "no output requested: the result of \(tags.map(\.description).joined(separator: ", ")) stays in the build cache", detail: []))
            }
            let ignore = DockerIgnore(contextDirectory: contextDir, dockerfileName: dockerfileName)
            var graphBuilder = GraphBuilder(contextDirectory: contextDir, ignore: ignore, sourceDateEpoch: epoch)
            graphBuilder.remoteFiles = try await RemoteSources(client: client, store: store).fetch(plan) { await printer.handle($0) }
            let graph = try graphBuilder.build(plan, images: await resolver.resolved)
            let materializer = Materializer(store: store, client: client)
            let worker = Worker(store: store, materializer: materializer,
                                contextDirectory: contextDir, ignore: ignore, secrets: secrets, sourceDateEpoch: epoch)
            if !noCache, !cacheImports.isEmpty {
                let caches = await Self.loadCaches(cacheImports, client: client, store: store, printer: printer)
                try await RegistryCacheImporter.seed(caches, graph: graph, store: store)
            }
            let solver = Solver(graph: graph, store: store, executor: worker, printer: printer, noCache: noCache)
            do {
                var chain = try await solver.solve()
                let names = (tags.map(\.description) + pushRefs.map(\.description)).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
                let outputsRun = BuildOutputs(
                    client: client, store: store, materializer: materializer, plan: plan, images: await resolver.resolved,
                    graph: graph, sourceDateEpoch: epoch, pushGroups: pushGroups, outputs: outputs, names: names,
                    cacheExports: cacheExports, assembleImage: !pushRefs.isEmpty || !outputs.isEmpty || metadataPath != nil,
                    printer: printer)
                var results: OutputResults
                while true {
                    do {
                        results = try await outputsRun.run(chain: chain)
                        break
                    } catch {
                        // A lazily cached layer that cannot be fetched: run its step again.
                        chain = try await solver.recover(from: error)
                    }
                }
                if let metadataPath {
                    let data = try JSONSerialization.data(withJSONObject: try results.metadata(), options: [.sortedKeys, .withoutEscapingSlashes])
                    try data.write(to: URL(fileURLWithPath: metadataPath))
                }
            } catch {
                await printer.finish()
                throw error
            }
            await printer.finish()
        }
    }
}

extension Build {
    /// How long one `--cache-from` source may take before the build goes on without it
    /// (`KILN_CACHE_FROM_TIMEOUT`, seconds; 15 by default).
    static var cacheImportBudget: Duration {
        let env = ProcessInfo.processInfo.environment["KILN_CACHE_FROM_TIMEOUT"].flatMap(Double.init)
        return .milliseconds(Int64((env ?? 15) * 1000))
    }

    /// Reads every `--cache-from` source at the same time; one that is missing, unreachable,
    /// malformed or slower than ``cacheImportBudget`` prints a warning naming it and is left out.
    static func loadCaches(_ sources: [CacheImportSource], client: RegistryClient, store: ContentStore,
                           printer: any ProgressPrinter) async -> [ImportedCache] {
        let budget = cacheImportBudget
        return await withTaskGroup(of: (Int, ImportedCache?).self) { group in
            for (i, source) in sources.enumerated() {
                group.addTask {
                    let name: String
                    switch source {
                    case .registry(let ref): name = ref.description
                    case .local(let src, _): name = src
                    }
                    // A vertex like BuildKit's; a source that cannot be read is a warning, not an error.
                    let id = Digest.of(Data("kiln cache import \(i) \(name)".utf8))
                    let cache = await reportingVertex("importing cache manifest from \(name)", id: id, report: { await printer.handle($0) }) {
                        () async -> ImportedCache? in
                        do {
                            return try await withTimeout(budget) {
                                switch source {
                                case .registry(let ref):
                                    return try await RegistryCacheImporter(client: client).load(ref)
                                case .local(let src, let tag):
                                    return try await RegistryCacheImporter.loadLocal(src, tag: tag, store: store)
                                }
                            }
                        } catch {
                            if Task.isCancelled { return nil }
                            await printer.handle(.warning(vertex: nil, short: "cannot import cache from \(name): \(ErrorText.describe(error))", detail: []))
                            return nil
                        }
                    }
                    return (i, cache)
                }
            }
            var loaded = [ImportedCache?](repeating: nil, count: sources.count)
            for await (i, cache) in group { loaded[i] = cache }
            // In the order given: on equal times the first source wins.
            return loaded.compactMap { $0 }
        }
    }

    static func imageOptions(_ attributes: [String: String]) throws -> ImageOutputOptions {
        do {
            return try ImageOutputOptions(attributes: attributes)
        } catch {
            throw CLIError(description: error.description)
        }
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
        let store = try ContentStore(root: resolve(explicit))
        let swept = await store.sweepAbandoned(reaper: RuncReaper())
        if !swept.isEmpty { Console.write("note: \(swept)\n", to: STDERR_FILENO) }
        return store
    }
}
