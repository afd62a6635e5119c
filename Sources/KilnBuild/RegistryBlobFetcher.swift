import Foundation
import Synchronization
import KilnArchive
import KilnOCI
import KilnRegistry
import KilnStore
import KilnSystem

/// The ``BlobFetcher`` of a build: blobs come from the content store, or — for lazily cached
/// results and base image layers — from the first repository known to hold them that serves
/// them (verified while downloading). Concurrent requests for one blob share one download,
/// which readers can follow as it arrives.
public actor RegistryBlobFetcher: BlobFetcher {
    /// The store blobs land in.
    public nonisolated let store: ContentStore
    private let client: RegistryClient
    private var fetching: [Digest: (task: Task<Void, any Error>, file: GrowingFile)] = [:]
    /// The callers still waiting on each download (by ticket); when the last one is cancelled,
    /// the download is.
    private var waiters: [Digest: Set<Int>] = [:]
    private var nextTicket = 0

    /// A fetcher into `store` through `client`.
    public init(store: ContentStore, client: RegistryClient) {
        self.store = store
        self.client = client
    }

    public func fetch(_ layer: CachedLayer, report: TransferReporter?) async throws -> String {
        if !store.contains(layer.digest) {
            try await awaitDownload(of: layer) { try await self.startDownload(layer, report: report).task.value }
        }
        return store.path(for: layer.digest)
    }

    public func fetch(_ layer: CachedLayer, report: TransferReporter?,
                      reading read: @escaping @Sendable (any ByteSource) throws -> Void) async throws -> String {
        let path = store.path(for: layer.digest)
        guard !store.contains(layer.digest) else {
            try await BlockingIO.run { try read(try FileSource(path: path)) }
            return path
        }
        let (task, file) = startDownload(layer, report: report)
        try await awaitDownload(of: layer) {
            async let reading: Void = BlockingIO.run { try read(file.reader()) }
            let downloaded = await task.result
            var readFailure: (any Error)?
            do { try await reading } catch { readFailure = error }
            try downloaded.get()
            if let readFailure { throw readFailure }
        }
        return path
    }

    public func fetchVerified(_ layer: CachedLayer, report: TransferReporter?) async throws -> String {
        let path = try await fetch(layer, report: report)
        guard try await store.verify(layer.digest) == false else { return path }
        try await store.discardCorrupt(layer.digest)
        await report?(layer.digest.description, "stored layer \(layer.digest.encoded.prefix(12)) was corrupt; fetching it again", 0, 0)
        return try await fetch(layer, report: report)
    }

    /// Runs `body` as one waiter of `layer`'s download: a cancelled caller stops waiting, and
    /// the download itself stops once no caller waits for it any more.
    private func awaitDownload(of layer: CachedLayer, _ body: () async throws -> Void) async throws {
        let digest = layer.digest
        nextTicket += 1
        let ticket = nextTicket
        waiters[digest, default: []].insert(ticket)
        defer { waiterLeft(digest, ticket: ticket, cancelled: false) }
        try await withTaskCancellationHandler {
            try await body()
        } onCancel: {
            Task { await self.waiterLeft(digest, ticket: ticket, cancelled: true) }
        }
    }

    /// Counts a waiter out; a cancelled last waiter cancels the download it was waiting for.
    private func waiterLeft(_ digest: Digest, ticket: Int, cancelled: Bool) {
        guard var tickets = waiters[digest], tickets.remove(ticket) != nil else { return }
        waiters[digest] = tickets.isEmpty ? nil : tickets
        if cancelled, tickets.isEmpty, let inflight = fetching[digest] { inflight.task.cancel() }
    }

    /// The download of `layer` under way, or a new one.
    private func startDownload(_ layer: CachedLayer, report: TransferReporter?) -> (task: Task<Void, any Error>, file: GrowingFile) {
        if let inflight = fetching[layer.digest] { return inflight }
        let file = GrowingFile()
        let task = Task {
            do {
                try await self.download(layer, report: report, into: file)
                self.downloadEnded(layer.digest)
            } catch {
                file.fail(error)
                self.downloadEnded(layer.digest)
                throw error
            }
        }
        fetching[layer.digest] = (task, file)
        return (task, file)
    }

    private func downloadEnded(_ digest: Digest) { fetching[digest] = nil }

    /// Tries every repository known to hold the blob, the layer's own source first.
    private func download(_ layer: CachedLayer, report: TransferReporter?, into file: GrowingFile) async throws {
        var sources: [String] = []
        if let s = layer.source { sources.append(s) }
        for s in (try? await store.sources(layer.digest)) ?? [] where !sources.contains(s) { sources.append(s) }
        var reason = "no repository is known to hold it"
        for source in sources {
            let tmp = store.newIngestPath()
            do {
                let repo = try Reference(parsing: source)
                let progress = PullProgress(layer: layer, source: source, report: report)
                let served = try await client.fetchBlob(Descriptor(mediaType: layer.mediaType, digest: layer.digest, size: layer.size), from: repo, to: tmp,
                                           written: { path, bytes in
                                               file.wrote(bytes, to: path)
                                               progress.wrote(bytes)
                                           })
                try await store.commit(ingestPath: tmp, digest: layer.digest, mediaType: layer.mediaType, diffID: layer.diffID)
                file.finish(at: store.path(for: layer.digest))
                let via = served.name == repo.name ? "" : " via mirror \(served.name)"
                await report?(layer.digest.description, "pulled \(layer.digest.encoded.prefix(12)) from \(source)\(via)", layer.size, layer.size)
                return
            } catch {
                unlink(tmp)
                if Task.isCancelled { throw CancellationError() }
                reason = ErrorText.describe(error)
            }
        }
        throw BlobUnavailable(digest: layer.digest, sources: sources, reason: reason)
    }
}

/// Reports how far a pull has come, at most every 200 ms, for live displays (the final
/// `pulled …` report comes from the download itself).
final class PullProgress: Sendable {
    private let layer: CachedLayer
    private let source: String
    private let report: TransferReporter?
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    init(layer: CachedLayer, source: String, report: TransferReporter?) {
        (self.layer, self.source, self.report) = (layer, source, report)
    }

    /// Called after each write with the bytes in the file so far.
    func wrote(_ bytes: Int64) {
        guard let report, bytes < layer.size else { return }
        let now = ContinuousClock.now
        let due = last.withLock { l -> Bool in
            if let l, now - l < .milliseconds(200) { return false }
            l = now
            return true
        }
        guard due else { return }
        let (id, name, total) = (layer.digest.description, "pulling \(layer.digest.encoded.prefix(12)) from \(source)", layer.size)
        Task { await report(id, name, bytes, total) }
    }
}
