import Foundation
import KilnArchive
import KilnOCI
import KilnStore
import KilnSystem

/// The fallback where overlayfs cannot be mounted. Layers are still unpacked once each; a
/// chain's view (`ROOT/views/<ChainID>`) is a tree of hard links to its layers' files, made once
/// and shared (never written: it shares inodes with the layers). A RUN gets a copy of the view
/// (reflinked where the filesystem can), and its change is the difference between the two.
public actor CopySnapshotter: Snapshotter {
    public nonisolated let kind = SnapshotterKind.copy
    public nonisolated let layers: UnpackedLayers
    private let store: ContentStore
    private var inflight: [Digest: Task<String, any Error>] = [:]
    /// Views leased by this process (a lease lasts as long as the process).
    private var held: Set<Digest> = []

    /// A snapshotter over `layers`.
    public init(layers: UnpackedLayers) {
        self.layers = layers
        store = layers.store
    }

    /// The chain's view, made once per root and leased by this process.
    public func directory(for chain: [CachedLayer], report: TransferReporter?) async throws -> String {
        let id = ChainID.of(chain.map(\.diffID))
        let name = id.encoded
        let dir = store.root + "/views/" + name
        if !held.contains(id) {
            try await store.hold(resources: [ContentStore.viewResource(name)])
            held.insert(id)
        }
        if FileManager.default.fileExists(atPath: dir) { return dir }
        if let t = inflight[id] { return try await t.value }
        let task = Task { try await self.makeView(chain, at: dir, report: report) }
        inflight[id] = task
        defer { inflight[id] = nil }
        return try await task.value
    }

    private func makeView(_ chain: [CachedLayer], at dir: String, report: TransferReporter?) async throws -> String {
        let layers = self.layers
        let dirs = try await mapConcurrently(chain, limit: 4) { try await layers.directory(for: $0, report: report) }
        let tmp = store.newScratchPath("view")
        do {
            try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
            for d in dirs { try await BlockingIO.run { try OverlayTree.merge(d, into: tmp, linking: true) } }
            try FileManager.default.createDirectory(atPath: store.root + "/views", withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            if rename(tmp, dir) != 0 {
                guard errno == EEXIST || errno == ENOTEMPTY else { throw WorkerError("\(dir): \(errnoText(errno))") }
                HostFiles.removeTree(tmp)
            }
        } catch {
            HostFiles.removeTree(tmp)
            throw error
        }
        return dir
    }

    public func prepareRun(_ chain: [CachedLayer], report: TransferReporter?) async throws -> RunRoot {
        let view = try await directory(for: chain, report: report)
        let work = store.newScratchPath("run")
        let merged = work + "/merged"
        try FileManager.default.createDirectory(atPath: merged, withIntermediateDirectories: true)
        do {
            try await Subprocess.check(["cp", "-a", "--reflink=auto", view + "/.", merged + "/"])
        } catch {
            HostFiles.removeTree(work)
            throw error
        }
        return RunRoot(rootfs: merged, upper: nil, lower: view, work: work)
    }

    public func finish(_ root: RunRoot) async {}
}
