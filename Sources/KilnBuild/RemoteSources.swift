import Foundation
import KilnDockerfile
import KilnOCI
import KilnRegistry
import KilnSolver
import KilnStore
import KilnSystem
import KilnProgress

/// Downloads the URL sources of a plan's `ADD` steps into the content store before the graph
/// is built: a step's key is then made from what was downloaded, so a changed file at the same
/// URL is never a cache hit. `--checksum` is checked here.
public struct RemoteSources: Sendable {
    let client: RegistryClient
    let store: ContentStore

    /// A fetcher downloading with `client` into `store`.
    public init(client: RegistryClient, store: ContentStore) {
        self.client = client
        self.store = store
    }

    /// Every URL the plan's `ADD` steps name, downloaded (three at a time), by URL; each
    /// download is reported as a vertex named by its URL, as BuildKit shows it.
    public func fetch(_ plan: BuildPlan, report: @escaping @Sendable (ProgressEvent) async -> Void = { _ in }) async throws -> [String: RemoteFile] {
        var checksums: [String: [(Digest, String)]] = [:]  // url -> (expected, step)
        var urls: [String] = []
        for stage in plan.stages {
            for step in stage.steps {
                guard case .copy(let copy) = step.kind, copy.isAdd, copy.from == .context else { continue }
                for u in copy.sources where CopyStep.isURL(u) {
                    if !urls.contains(u) { urls.append(u) }
                    if let c = copy.checksum { checksums[u, default: []].append((c, step.vertexName ?? "ADD")) }
                }
            }
        }
        let downloaded = try await mapConcurrently(urls, limit: 3) { u in
            (u, try await reportingVertex(u, id: Digest.of(Data(u.utf8)), report: report) { try await self.download(u) })
        }
        let files = Dictionary(downloaded, uniquingKeysWith: { a, _ in a })
        for (u, expected) in checksums {
            guard let got = files[u]?.digest else { continue }
            for (digest, step) in expected where digest != got {
                throw BuildError("\(step): \(u) has digest \(got), but --checksum wants \(digest)")
            }
        }
        return files
    }

    private func download(_ url: String) async throws -> RemoteFile {
        // Ask whether the copy from an earlier build is still current before fetching it again.
        let previous = try await store.download(url)
        let tmp = store.newIngestPath()
        let outcome: DownloadOutcome
        do {
            outcome = try await client.download(url: url, to: tmp, etag: previous?.etag, lastModified: previous?.lastModified)
        } catch {
            unlink(tmp)
            throw BuildError("ADD \(url): \(ErrorText.describe(error))")
        }
        switch outcome {
        case .notModified:
            unlink(tmp)
            guard let previous else { throw BuildError("ADD \(url): the server answered 304 Not Modified to an unconditional request") }
            return RemoteFile(digest: previous.digest, fileName: previous.fileName, modified: previous.modified)
        case .downloaded(let file):
            try await store.commit(ingestPath: tmp, digest: file.digest, mediaType: "application/octet-stream")
            let record = DownloadRecord(url: url, etag: file.etag, lastModified: file.lastModifiedHeader, digest: file.digest,
                                        fileName: file.fileName, modified: file.lastModified ?? 0)
            try await store.storeDownload(record)
            return RemoteFile(digest: record.digest, fileName: record.fileName, modified: record.modified)
        }
    }
}
