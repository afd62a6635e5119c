import KilnStore
import KilnWorker

/// A state directory, opened for builds and the commands that inspect or prune it.
public enum BuildState {
    /// Opens (creating when needed) the state directory `root` and claims it for this process,
    /// after removing what dead kiln processes left there — their containers, mounts and
    /// temporary files. Returns the store and what was cleaned up.
    public static func open(_ root: String) async throws -> (store: ContentStore, swept: SweepReport) {
        let store = try ContentStore(root: root)
        return (store, await store.sweepAbandoned(reaper: RuncReaper()))
    }
}

/// What this machine gives the worker (`kiln info`).
public typealias WorkerInfo = KilnWorker.WorkerInfo

/// The two snapshotters (`KILN_SNAPSHOTTER`).
public typealias SnapshotterKind = KilnWorker.SnapshotterKind
