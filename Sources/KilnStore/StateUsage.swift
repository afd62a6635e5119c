import Foundation
import GRDB
import KilnSystem

/// Every byte kiln keeps under a state directory, by kind.
public struct StateUsage: Sendable, Equatable {
    /// Layer, config and download blobs.
    public var blobs: Int64 = 0
    /// Layers unpacked once each (overlay lower directories), and flattened prefixes.
    public var unpackedLayers: Int64 = 0
    /// Views of layer chains (the copying snapshotter's hard-link trees; older kiln's snapshots).
    public var snapshots: Int64 = 0
    /// `RUN --mount=type=cache` directories.
    public var cacheMounts: Int64 = 0
    /// Scratch and partial files of running builds.
    public var temporary: Int64 = 0
    /// The SQLite database and its journal.
    public var metadata: Int64 = 0
    /// Everything under the root (the above plus locks and runtime state).
    public var total: Int64 = 0
}

extension ContentStore {
    /// Measures the state directory (apparent sizes, as `du -sb` counts them).
    public func usage() async -> StateUsage {
        let root = self.root
        return (try? await Self.fileWork { () -> StateUsage in
            var u = StateUsage()
            u.blobs = HostFiles.diskUsage(root + "/blobs")
            u.unpackedLayers = HostFiles.diskUsage(root + "/layers")
            u.snapshots = HostFiles.diskUsage(root + "/snapshots") + HostFiles.diskUsage(root + "/views")
            u.cacheMounts = HostFiles.diskUsage(root + "/cache-mounts")
            u.temporary = HostFiles.diskUsage(root + "/tmp") + HostFiles.diskUsage(root + "/ingest")
            u.metadata = ["", "-wal", "-shm"].reduce(0) { $0 + HostFiles.diskUsage(root + "/metadata.db" + $1) }
            u.total = HostFiles.diskUsage(root)
            return u
        }) ?? StateUsage()
    }

    /// The lease resource naming the chain view directory `name` (under `views/`).
    public static func viewResource(_ name: String) -> String { "view:" + name }

    /// Removes every chain view no live process holds, and what older kiln versions left in
    /// `snapshots/`; returns the bytes freed. Views leave `views/` inside a write transaction, so
    /// a build taking a lease either sees its view kept or finds it gone and makes it again.
    public func pruneViews() async throws(StoreError) -> Int64 {
        let (root, trash) = (self.root, newScratchPath("pruned-views"))
        try await Self.fileWork { try FileManager.default.createDirectory(atPath: trash, withIntermediateDirectories: true) }
        try await writing { db in
            let leased = try Self.liveLeases(db, root: root, now: Self.now())
            for name in (try? HostFiles.list(root + "/views")) ?? [] where !leased.contains(Self.viewResource(name)) {
                rename("\(root)/views/\(name)", "\(trash)/\(name)")
            }
        }
        let legacy = root + "/snapshots"
        return try await Self.fileWork { HostFiles.removeTree(trash) + HostFiles.removeTree(legacy) }
    }

    /// Removes cache-mount directories no running step uses (and, with `unusedFor`, only those
    /// unused for longer); returns the bytes freed.
    public func pruneCacheMounts(unusedFor: TimeInterval? = nil) async -> Int64 {
        let dir = root + "/cache-mounts"
        return (try? await Self.fileWork { () -> Int64 in
            var freed: Int64 = 0
            let now = Date().timeIntervalSince1970
            for name in (try? HostFiles.list(dir)) ?? [] where !name.hasSuffix(".lock") {
                let lock = open("\(dir)/\(name).lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
                guard lock >= 0 else { continue }
                defer { close(lock) }
                guard flock(lock, LOCK_EX | LOCK_NB) == 0 else { continue }  // a step is using it
                var st = stat()
                if let unusedFor, fstat(lock, &st) == 0, now - TimeInterval(st.st_mtim.tv_sec) < unusedFor { continue }
                freed += HostFiles.removeTree("\(dir)/\(name)")
            }
            return freed
        }) ?? 0
    }
}
