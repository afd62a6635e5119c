import Foundation
import KilnStore
import KilnSystem

/// What the worker can use on this machine.
public enum WorkerInfo {
    /// Probe results.
    public struct Probe: Sendable {
        /// The snapshotter builds on this store get, and why.
        public var snapshotter: Snapshots.Choice
        /// `runc --version` first line.
        public var runc: String?
    }

    /// The snapshotter `store` gets (`requested`, else what a test mount shows) and runc.
    public static func probe(store: ContentStore, requested: SnapshotterKind?) async -> Probe {
        let choice = Snapshots.choose(for: store, requested: requested)
        let version = try? await Subprocess.run(["runc", "--version"])
        let runc = version.flatMap { $0.status == 0 ? $0.text.split(separator: "\n").first.map(String.init) : nil }
        return Probe(snapshotter: choice, runc: runc)
    }
}
