import Foundation
import GRDB
import KilnSystem

/// Every byte kiln keeps under a state directory, by kind.
public struct StateUsage: Sendable, Equatable {
    /// Layer, config and download blobs.
    public var blobs: Int64 = 0
    /// Unpacked filesystems of layer chains.
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
            u.snapshots = HostFiles.diskUsage(root + "/snapshots")
            u.cacheMounts = HostFiles.diskUsage(root + "/cache-mounts")
            u.temporary = HostFiles.diskUsage(root + "/tmp") + HostFiles.diskUsage(root + "/ingest")
            u.metadata = ["", "-wal", "-shm"].reduce(0) { $0 + HostFiles.diskUsage(root + "/metadata.db" + $1) }
            u.total = HostFiles.diskUsage(root)
            return u
        }) ?? StateUsage()
    }

    /// The lease resource naming the snapshot directory `name`.
    public static func snapshotResource(_ name: String) -> String { "snapshot:" + name }

    /// Removes every snapshot directory no live process holds; returns the bytes freed. The
    /// directories leave `snapshots/` inside a write transaction, so a build taking a lease
    /// either sees its snapshot kept or finds it gone and makes it again.
    public func pruneSnapshots() async throws(StoreError) -> Int64 {
        let (root, trash) = (self.root, newScratchPath("pruned-snapshots"))
        try await Self.fileWork { try FileManager.default.createDirectory(atPath: trash, withIntermediateDirectories: true) }
        try await writing { db in
            let leased = try Self.liveLeases(db, root: root, now: Self.now())
            for name in (try? HostFiles.list(root + "/snapshots")) ?? [] where !leased.contains(Self.snapshotResource(name)) {
                rename("\(root)/snapshots/\(name)", "\(trash)/\(name)")
            }
        }
        return try await Self.fileWork { HostFiles.removeTree(trash) }
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
