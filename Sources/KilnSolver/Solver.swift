import Foundation
import KilnOCI
import KilnStore
import KilnSystem
import KilnProgress

/// What running one vertex came to.
public enum StepResult: Sendable {
    /// It ran: the layer its change made (nil when it changed nothing).
    case layer(CachedLayer?)
    /// A layer of its inputs could not be fetched (a lazy cache hit whose source is gone): the
    /// steps that made it must run again before this one can.
    case unavailable(BlobUnavailable)
}

/// Runs one vertex.
public protocol VertexExecutor: Sendable {
    /// Executes `vertex`; `inputs` are the layer chains of its inputs, in order.
    func execute(_ vertex: Vertex, in graph: BuildGraph, inputs: [[CachedLayer]],
                 report: @escaping @Sendable (ProgressEvent) async -> Void) async throws -> StepResult

    /// `key` (the vertex's, its inputs' links possibly already replaced) with each stage the
    /// vertex reads files from (a `RUN --mount=from=`, a `COPY --from=<stage>`) replaced by the
    /// content of the files it reads, once `inputs` are solved; nil when it reads no stage. A
    /// step whose upstream changed but whose files did not is then still a hit (BuildKit's
    /// content-based cache keys).
    func contentKey(_ vertex: Vertex, key: CacheKey, inputs: [[CachedLayer]]) async throws -> ContentKey?
}

/// A key by content (see ``VertexExecutor/contentKey(_:key:inputs:)``) and the content roots
/// (`<digest>@-1`) its inputs link to.
public struct ContentKey: Sendable {
    /// The key.
    public var key: CacheKey
    /// The roots it links to, which a cache export writes as records of their own.
    public var roots: [CacheKey]

    /// A content key.
    public init(key: CacheKey, roots: [CacheKey]) {
        self.key = key
        self.roots = roots
    }
}

extension VertexExecutor {
    /// No content keys: steps are keyed by their definitions alone.
    public func contentKey(_ vertex: Vertex, key: CacheKey, inputs: [[CachedLayer]]) async throws -> ContentKey? { nil }
}

/// A step that failed, with its name.
public struct SolveError: Error, Sendable, CustomStringConvertible {
    /// The vertex name.
    public var step: String
    /// The underlying failure, as a message.
    public var message: String
    /// The underlying failure.
    public var underlying: any Error
    /// Where the step is written (`Dockerfile:3`), when known.
    public var location: String?
    /// `Dockerfile:N: step: message`.
    public var description: String { (location.map { "\($0): " } ?? "") + "\(step): \(message)" }
}

/// Evaluates a ``BuildGraph`` from the target backwards: a vertex whose key is in the local
/// cache is a hit and nothing upstream of it runs; otherwise its inputs are solved (in
/// parallel, bounded) and it is executed, and its result stored under its key.
///
/// Hits are lazy: their layers may live only in a registry. When such a layer cannot be
/// fetched (``BlobUnavailable``), every result holding it is forgotten and the steps that
/// made it run again, once per blob; only a base image's own layers are beyond recovery.
public actor Solver {
    private let graph: BuildGraph
    private let store: ContentStore
    private let executor: any VertexExecutor
    private let printer: any ProgressPrinter
    private let noCache: Bool
    /// Vertices that run even when cached (``uncachedVertices(_:)``).
    private let uncached: Set<Int>
    private var tasks: [Int: Task<[CachedLayer], any Error>] = [:]
    private var reported: Set<Int> = []
    /// Chains of finished vertices, to know which hold a blob that turned out unfetchable.
    private var chains: [Int: [CachedLayer]] = [:]
    /// Vertices found (or stored) by a content key: the key their dependents link to instead.
    private var effectiveKeys: [Int: Digest] = [:]
    /// The content keys computed for vertices that read other stages' files, by vertex.
    private var contentKeys: [Int: ContentKey] = [:]
    /// Unfetchable blobs whose results are being or were forgotten in the store.
    private var invalidations: [Digest: Task<[Digest], any Error>] = [:]
    /// Unfetchable blobs outputs have recovered from.
    private var exportRetries: Set<Digest> = []
    private let limiter: AsyncSemaphore
    /// Says why steps miss, when asked to (`--explain`).
    private let explainer: MissExplainer?

    /// What happened to each vertex.
    public private(set) var outcomes: [String: Outcome] = [:]
    /// The steps that ran although a cache held an earlier version of them, and why (with an
    /// explainer only), in the order they started.
    public private(set) var misses: [CacheMiss] = []
    private var explained: Set<Int> = []

    /// How a vertex was satisfied.
    public enum Outcome: Sendable, Equatable {
        /// Loaded from the cache.
        case cached
        /// Executed.
        case executed
    }

    /// A solver for `graph` using `store` for the cache and `executor` to run steps.
    public init(graph: BuildGraph, store: ContentStore, executor: any VertexExecutor, printer: any ProgressPrinter,
                noCache: Bool = false, parallelism: Int = 4, explainer: MissExplainer? = nil) {
        self.graph = graph
        self.explainer = explainer
        self.store = store
        self.executor = executor
        self.printer = printer
        self.noCache = noCache
        self.uncached = Self.uncachedVertices(graph)
        self.limiter = AsyncSemaphore(value: parallelism)
    }

    /// The steps of the `--no-cache-filter` stages and every step that depends on one: as in
    /// BuildKit, a step that ignores the cache does not offer its key to the steps after it.
    static func uncachedVertices(_ graph: BuildGraph) -> Set<Int> {
        var out = Set<Int>()
        guard !graph.plan.uncachedStages.isEmpty else { return out }
        for v in graph.vertices {
            if case .image = v.op { continue }
            if v.stage.map(graph.plan.uncachedStages.contains) == true || v.inputs.contains(where: out.contains) { out.insert(v.index) }
        }
        return out
    }

    /// Solves the target; returns its layer chain (empty for an empty scratch image).
    /// Cancelling the calling task stops every step (their tasks are not its children).
    public func solve() async throws -> [CachedLayer] {
        guard let target = graph.target else { return [] }
        return try await withTaskCancellationHandler {
            try await result(target.index)
        } onCancel: {
            Task { await self.cancelAll() }
        }
    }

    private var cancelled = false

    private func cancelAll() {
        cancelled = true
        for t in tasks.values { t.cancel() }
    }

    /// The layer chain of vertex `index`, from the cache or by running it.
    public func result(_ index: Int) async throws -> [CachedLayer] {
        if let t = tasks[index] { return try await t.value }
        let task = Task { try await self.compute(index) }
        tasks[index] = task
        if cancelled || Task.isCancelled { task.cancel() }
        return try await task.value
    }

    private func report(_ e: ProgressEvent) async { await printer.handle(e) }

    private func compute(_ index: Int) async throws -> [CachedLayer] {
        let v = graph.vertices[index]
        let start = Date()
        if case .image(let source) = v.op {
            await report(.vertex(VertexStatus(digest: v.key.id, name: v.name, started: start)))
            let chain = source.chain
            await report(.vertex(VertexStatus(digest: v.key.id, name: v.name, started: start, completed: Date())))
            return chain
        }
        let useCache = !noCache && !uncached.contains(index)
        if useCache, let hit = try await store.cachedResult(v.key.id) { return try await cached(v, hit) }
        var retried: [Digest: Int] = [:]
        while true {
            let inputs = try await solveInputs(v)
            let contentKey = useCache ? await self.contentKey(v, inputs: inputs) : nil
            if let contentKey, let hit = try await store.cachedResult(contentKey.id) {
                try await store.storeResult(key: v.key.id, recordDigest: v.key.recordDigest, description: v.name, layers: hit)
                try await keepRootLinks(v)
                effectiveKeys[index] = contentKey.id
                return try await cached(v, hit)
            }
            let started = Date()
            await report(.vertex(VertexStatus(digest: v.key.id, name: v.name, started: started)))
            // The explanation is looked up while the step runs, and said before it ends.
            let explaining = useCache && explainer != nil ? Task { await self.explain(v) } : nil
            let result: StepResult
            do {
                result = try await limiter.withPermit { [graph, executor, printer] in
                    try await executor.execute(v, in: graph, inputs: inputs) { e in await printer.handle(e) }
                }
                await explaining?.value
            } catch {
                await explaining?.value
                if error is CancellationError || Task.isCancelled {
                    await report(.vertex(VertexStatus(digest: v.key.id, name: v.name, started: started, completed: Date(), canceled: true)))
                    throw CancellationError()
                }
                throw await failed(v, started: started, error: error)
            }
            switch result {
            case .unavailable(let missing):
                // A few tries per blob: another step may have picked up a stale chain meanwhile.
                if retried[missing.digest, default: 0] < 3, try await forget(missing, step: v.name) {
                    retried[missing.digest, default: 0] += 1
                    continue
                }
                throw await failed(v, started: started, error: missing)
            case .layer(let layer):
                var chain = v.changesFirstInput ? inputs[0] : []
                if let layer { chain.append(layer) }
                try await store.storeResult(key: v.key.id, recordDigest: v.key.recordDigest, description: v.name, layers: chain,
                                            facts: MissExplainer.row(v.facts))
                if let contentKey { try await storeByContent(v, key: contentKey, chain: chain) }
                outcomes[v.name] = .executed
                await report(.vertex(VertexStatus(digest: v.key.id, name: v.name, started: started, completed: Date())))
                chains[index] = chain
                return chain
            }
        }
    }

    /// The key `v` is also known by once its inputs are solved: the links to inputs that were
    /// found by content replaced by those content keys, and the stages it reads files from by
    /// the content of those files. Nil when it is just `v.key`, or cannot be made (a source
    /// missing: the step then runs and says why).
    private func contentKey(_ v: Vertex, inputs: [[CachedLayer]]) async -> CacheKey? {
        var changed = false
        let links = v.key.inputs.map { alternatives in
            alternatives.map { alt -> KeyInput in
                for i in v.inputs where graph.vertices[i].key.id == alt.link {
                    if let e = effectiveKeys[i], e != alt.link { changed = true; return KeyInput(link: e, selector: alt.selector) }
                }
                return alt
            }
        }
        guard let derived = changed ? try? CacheKey(base: v.key.base, output: v.key.output, inputs: links) : v.key else { return nil }
        let content = (try? await executor.contentKey(v, key: derived, inputs: inputs)) ?? nil
        if let content { contentKeys[v.index] = content }
        return content?.key ?? (changed ? derived : nil)
    }

    /// Stores `v`'s result under its content key too, and the roots that key links to.
    private func storeByContent(_ v: Vertex, key: CacheKey, chain: [CachedLayer]) async throws {
        try await keepRootLinks(v)
        try await store.storeResult(key: key.id, recordDigest: key.recordDigest, description: v.name, layers: chain)
        effectiveKeys[v.index] = key.id
    }

    /// Records, for `v`'s key, the content roots its content key links to (BuildKit's
    /// content-based alternatives), so every later export of it writes them.
    private func keepRootLinks(_ v: Vertex) async throws {
        guard let content = contentKeys[v.index] else { return }
        var links: [RootLink] = []
        for root in content.roots {
            for (i, alternatives) in content.key.inputs.enumerated() where alternatives.contains(where: { $0.link == root.id }) {
                links.append(RootLink(input: i, record: root.recordDigest))
            }
        }
        try await store.storeRootLinks(links, for: v.key.id)
    }

    /// `v` satisfied by the cached `chain`: held against a concurrent prune for this build,
    /// its facts kept, reported cached with everything upstream.
    private func cached(_ v: Vertex, _ chain: [CachedLayer]) async throws -> [CachedLayer] {
        try await store.hold(chain.map(\.digest))
        await keepFacts(v)
        await reportCached(v.index)
        chains[v.index] = chain
        return chain
    }

    /// Reports why `v` misses (once, however often it is retried), when an explainer is set.
    private func explain(_ v: Vertex) async {
        guard let explainer, explained.insert(v.index).inserted else { return }
        let reasons = await explainer.explain(v, in: graph)
        guard !reasons.isEmpty else { return }
        misses.append(CacheMiss(step: v.name, reasons: reasons))
        await report(.cacheMiss(vertex: v.key.id, reasons: reasons))
    }

    /// Keeps the facts of a cached `v`'s key beside its result (a result imported, or stored
    /// before facts were), for a later build's `--explain`. A failure to store them costs only
    /// that explanation.
    private func keepFacts(_ v: Vertex) async {
        guard let row = MissExplainer.row(v.facts) else { return }
        try? await store.storeFactsIfMissing(row)
    }

    /// Reports `v` failed and returns the error naming it.
    private func failed(_ v: Vertex, started: Date, error: any Error) async -> SolveError {
        let message = ErrorText.describe(error)
        await report(.vertex(VertexStatus(digest: v.key.id, name: v.name, started: started, completed: Date(), error: message)))
        return SolveError(step: v.name, message: message, underlying: error, location: v.location)
    }

    /// The chains of `v`'s inputs, solved in parallel.
    private func solveInputs(_ v: Vertex) async throws -> [[CachedLayer]] {
        try await withThrowingTaskGroup(of: (Int, [CachedLayer]).self) { group in
            for (i, input) in v.inputs.enumerated() {
                group.addTask { (i, try await self.result(input)) }
            }
            var out = [[CachedLayer]](repeating: [], count: v.inputs.count)
            for try await (i, chain) in group { out[i] = chain }
            return out
        }
    }

    /// After `missing` could not be fetched: forgets every result holding it, in the store
    /// (once, however many steps meet the blob at the same time) and in this solve, so the steps
    /// that made it run again. False when that cannot help: the blob is a base image's own layer.
    private func forget(_ missing: BlobUnavailable, step: String) async throws -> Bool {
        let d = missing.digest
        for v in graph.vertices {
            if case .image(let source) = v.op, source.image.layers.contains(where: { $0.digest == d }) { return false }
        }
        if let running = invalidations[d] {
            _ = try await running.value
        } else {
            let task = Task { [store] in try await store.removeResults(needing: d) }
            invalidations[d] = task
            _ = try await task.value
            await report(.warning(vertex: nil, short: "\(missing); running the steps that made it again (\(step) needs it)", detail: []))
        }
        // Every caller clears before it retries (the actor may have run others in between).
        forgetChains(holding: d)
        return true
    }

    /// Drops finished vertices whose chain holds `digest` while the blob is not stored here.
    private func forgetChains(holding digest: Digest) {
        guard !store.contains(digest) else { return }
        for (i, chain) in chains where chain.contains(where: { $0.digest == digest }) {
            chains[i] = nil
            tasks[i] = nil
            if outcomes[graph.vertices[i].name] == .cached { outcomes[graph.vertices[i].name] = nil }
        }
    }

    /// Called when an output could not use the solved target because `missing` cannot be
    /// fetched: forgets the results holding it and solves the target again, so the steps that
    /// made it run. Throws `missing` when that cannot help (a base image's own layer, or a blob
    /// already recovered from once).
    public func recover(missing: BlobUnavailable) async throws -> [CachedLayer] {
        guard exportRetries.insert(missing.digest).inserted, try await forget(missing, step: "the export") else { throw missing }
        return try await solve()
    }

    /// Reports a hit and, as BuildKit does, every step upstream of it as cached too: their
    /// results are implied by the hit and none of them runs.
    private func reportCached(_ index: Int) async {
        guard reported.insert(index).inserted else { return }
        let v = graph.vertices[index]
        for i in v.inputs where tasks[i] == nil { await reportCached(i) }
        let now = Date()
        if case .image = v.op {
            await report(.vertex(VertexStatus(digest: v.key.id, name: v.name, started: now, completed: now)))
        } else {
            if outcomes[v.name] == nil { outcomes[v.name] = .cached }
            await report(.vertex(VertexStatus(digest: v.key.id, name: v.name, started: now, completed: now, cached: true)))
        }
    }

}
