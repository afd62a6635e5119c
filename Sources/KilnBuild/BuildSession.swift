import Foundation
import KilnCache
import KilnDockerfile
import KilnExport
import KilnOCI
import KilnProgress
import KilnRegistry
import KilnSolver
import KilnStore
import KilnWorker

/// Runs builds: the one place that knows the whole path of a build, top-down —
/// plan → sources (base images, `ADD` downloads) → graph → cache import → solve → outputs and
/// cache exports → recovery (a lazily cached layer that cannot be fetched makes the steps that
/// made it run again). The CLI, the tests and any other client build through it.
public struct BuildSession: Sendable {
    /// The content store and cache of the state directory.
    public let store: ContentStore
    /// The registry client for base images, caches and pushes.
    public let client: RegistryClient
    /// The snapshotter asked for; nil chooses by what the machine can do.
    public let snapshotter: SnapshotterKind?

    /// A session over `store`, talking to registries through `client`, on `snapshotter`
    /// (nil: overlayfs where it mounts, else the copying fallback).
    public init(store: ContentStore, client: RegistryClient, snapshotter: SnapshotterKind? = nil) {
        self.store = store
        self.client = client
        self.snapshotter = snapshotter
    }

    /// Builds `request`, reporting to `progress`; returns what was made.
    public func build(_ request: BuildRequest, progress: any ProgressPrinter) async throws -> BuildResult {
        try await finishing(progress) { warnings in
            try await run(try await prepare(request, warnings: warnings), warnings: warnings)
        }
    }

    /// The first half of a build: the plan, its sources (base images resolved, `ADD` URLs
    /// downloaded) and the graph of steps with their cache keys. Nothing runs yet.
    public func prepare(_ request: BuildRequest, progress: any ProgressPrinter) async throws -> PreparedBuild {
        try await prepare(request, warnings: WarningLog(printer: progress))
    }

    /// The second half: cache imports, the steps that miss, the outputs and cache exports.
    public func build(_ prepared: PreparedBuild, progress: any ProgressPrinter) async throws -> BuildResult {
        try await finishing(progress) { warnings in try await run(prepared, warnings: warnings) }
    }

    private func finishing(_ progress: any ProgressPrinter, _ body: (WarningLog) async throws -> BuildResult) async throws -> BuildResult {
        let warnings = WarningLog(printer: progress)
        do {
            let result = try await body(warnings)
            await progress.finish()
            return result
        } catch {
            await progress.finish()
            throw error
        }
    }

    private func prepare(_ request: BuildRequest, warnings: WarningLog) async throws -> PreparedBuild {
        let (plan, images) = try await self.plan(request, warnings: warnings)
        let context = BuildContext(directory: request.context, dockerfileName: request.dockerfileName)
        if let problem = context.ignore.problems.first { throw BuildError(".dockerignore: \(problem)") }
        var builder = GraphBuilder(context: context, sourceDateEpoch: request.sourceDateEpoch)
        builder.fileName = request.dockerfileName
        builder.namedContexts = request.localContexts
        builder.remoteFiles = try await RemoteSources(client: client, store: store).fetch(plan) { await warnings.handle($0) }
        return PreparedBuild(request: request, context: context, plan: plan, images: images, graph: try builder.build(plan, images: images))
    }

    private func run(_ prepared: PreparedBuild, warnings: WarningLog) async throws -> BuildResult {
        let (request, graph) = (prepared.request, prepared.graph)
        var cacheMounts: [String: CachedLayer] = [:]
        var importedFacts: [StepFacts] = []
        if !request.noCache, !request.cacheImports.isEmpty {
            let caches = await CacheImports(client: client, store: store, printer: warnings).load(request.cacheImports, budget: request.cacheImportBudget)
            try await RegistryCacheImporter.seed(caches, graph: graph, store: store)
            await warnOfUnmatched(caches, graph: graph, warnings: warnings)
            // The first source listed that carries a cache mount wins.
            for cache in caches.reversed() { cacheMounts.merge(RegistryCacheImporter.cacheMounts(cache)) { $1 } }
            importedFacts = caches.flatMap { $0.config.steps ?? [] }
        }
        let fetcher = RegistryBlobFetcher(store: store, client: client)
        let snapshots = Snapshots.make(fetcher: fetcher, kind: Snapshots.choose(for: store, requested: snapshotter).kind)
        var worker = Worker(store: store, snapshots: snapshots, context: prepared.context, secrets: request.secrets,
                            sourceDateEpoch: request.sourceDateEpoch, noCache: request.noCache)
        worker.namedContexts = request.localContexts
        if !cacheMounts.isEmpty { worker.cacheMountSeeds = CacheMountSeeds(layers: cacheMounts, fetcher: fetcher) }
        let explainer = request.explain ? MissExplainer(store: store, imported: importedFacts) : nil
        let solver = Solver(graph: graph, store: store, executor: worker, printer: warnings, noCache: request.noCache, explainer: explainer)
        var outputs = BuildOutputs(context: ExportContext(client: client, fetcher: fetcher), filesystems: snapshots, plan: prepared.plan,
                                   images: prepared.images, graph: graph, request: request, printer: warnings)
        var chain: [CachedLayer]
        do {
            chain = try await solver.solve()
            outputs.graph = try await graph.withRootLinks(from: store)
        } catch {
            // The steps that completed are still worth sharing: the next build after a fix
            // starts from them. An interrupted build exports nothing.
            if let linked = try? await graph.withRootLinks(from: store) { outputs.graph = linked }
            if !(error is CancellationError), !Task.isCancelled { await outputs.exportCacheOfFailedBuild() }
            throw error
        }
        while true {
            switch try await outputs.run(chain: chain) {
            case .written(var result):
                result.chain = chain
                result.steps = await solver.outcomes
                result.cacheMisses = request.explain ? await solver.misses : nil
                result.warnings = await warnings.messages
                return result
            case .unavailable(let missing):
                // A lazily cached layer no source serves: the steps that made it run again.
                chain = try await solver.recover(missing: missing)
                outputs.graph = try await graph.withRootLinks(from: store)
            }
        }
    }

    /// A cache that matches no step at all is worth a word even when nothing asked for one: it
    /// was written for other inputs, or by a builder whose keys differ.
    private func warnOfUnmatched(_ caches: [ImportedCache], graph: BuildGraph, warnings: WarningLog) async {
        let steps = graph.vertices.filter { if case .image = $0.op { false } else { true } }.count
        guard steps > 0 else { return }
        for cache in caches where RegistryCacheImporter.matchedSteps(cache, graph: graph) == 0 {
            await warnings.handle(.warning(vertex: nil, short: "cache \(cache.name) matched none of the \(steps) step\(steps == 1 ? "" : "s"): it was written for other inputs or by another builder",
                                           detail: []))
        }
    }

    /// The plan, with every base image (`FROM`, `COPY --from=<image>`) resolved.
    private func plan(_ request: BuildRequest, warnings: WarningLog) async throws -> (BuildPlan, [String: ResolvedImage]) {
        let parsed = try DockerfileParser(fileName: request.dockerfileName).parse(request.dockerfile)
        let resolver = ImageResolver(client: client, store: store)
        var options = PlanOptions(buildArgs: request.buildArgs, target: request.target, fileName: request.dockerfileName,
                                  defaultNetwork: request.network)
        options.extraHosts = request.extraHosts
        options.namedContexts = request.namedContexts
        options.noCacheStages = request.noCacheStages
        let plan = try await BuildPlanner(options: options).plan(parsed) { ref, platform in
            try await resolver.resolve(ref, platform: platform).config
        }
        for w in plan.warnings { await warnings.handle(.warning(vertex: nil, short: w, detail: [])) }
        if !request.tags.isEmpty && request.outputs.isEmpty {
            let names = request.tags.map(\.description).joined(separator: ", ")
            await warnings.handle(.warning(vertex: nil, short: "no output requested: the result of \(names) stays in the build cache", detail: []))
        }
        return (plan, await resolver.resolved)
    }
}

/// A build planned and keyed, not yet run (see ``BuildSession/prepare(_:progress:)``).
public struct PreparedBuild: Sendable {
    /// What was asked.
    public let request: BuildRequest
    /// The build context.
    public let context: BuildContext
    /// The Dockerfile resolved: stages, steps, variables.
    public let plan: BuildPlan
    /// The base images, by reference as written.
    public let images: [String: ResolvedImage]
    /// The steps with their cache keys.
    public let graph: BuildGraph
}

/// Passes progress on, keeping the warnings for the result.
actor WarningLog: ProgressPrinter {
    let printer: any ProgressPrinter
    private(set) var messages: [String] = []

    init(printer: any ProgressPrinter) { self.printer = printer }

    func handle(_ event: ProgressEvent) async {
        if case .warning(_, let short, _) = event { messages.append(short) }
        await printer.handle(event)
    }

    func finish() async {}
}
