import Foundation
import KilnStore
import KilnSystem

/// A RUN's root filesystem over a chain, ready for runc.
public struct RunRoot: Sendable {
    /// The container's root (`merged`).
    public let rootfs: String
    /// The overlay upper directory: the step's change, walked alone (nil for the copying
    /// fallback, whose change is the difference of all of `rootfs` from `lower`).
    public let upper: String?
    /// The chain's own filesystem, read-only: what the change is the difference from.
    public let lower: String
    /// This step's directory (upper, work, merged): removed when the step is done.
    public let work: String
}

/// The two ways of turning chains into filesystems.
public enum SnapshotterKind: String, Sendable, CaseIterable {
    /// Overlay mounts of the unpacked layers.
    case overlayfs
    /// Hard-linked views of the unpacked layers, copied for a RUN.
    case copy
}

/// Turns layer chains into filesystems: read-only views (COPY sources and destinations, tar
/// outputs) and writable roots for RUN. Two kinds, chosen by what the machine can do.
public protocol Snapshotter: ChainFilesystems {
    /// Which kind it is.
    var kind: SnapshotterKind { get }
    /// The unpacked layers the snapshotter stands on.
    var layers: UnpackedLayers { get }
    /// A writable root over `chain` for a RUN; ``finish(_:)`` unmounts it.
    func prepareRun(_ chain: [CachedLayer], report: TransferReporter?) async throws -> RunRoot
    /// Unmounts a RUN's root (its directories stay for packing; the caller removes them).
    func finish(_ root: RunRoot) async
}

/// How the worker builds filesystems on this machine.
public enum Snapshots {
    /// Which snapshotter a store gets, and why.
    public struct Choice: Sendable {
        /// The kind chosen.
        public var kind: SnapshotterKind
        /// Why, when it is not overlayfs chosen by itself (for `kiln info`).
        public var reason: String?
    }

    /// A snapshotter of `kind` for `fetcher`'s store.
    public static func make(fetcher: any BlobFetcher, kind: SnapshotterKind) -> any Snapshotter {
        let layers = UnpackedLayers(fetcher: fetcher)
        switch kind {
        case .overlayfs: return OverlaySnapshotter(layers: layers)
        case .copy: return CopySnapshotter(layers: layers)
        }
    }

    /// `requested` when given, else overlayfs where a test mount in the store's scratch
    /// directory works (as root, on this kernel, over this filesystem), else the copying fallback.
    public static func choose(for store: ContentStore, requested: SnapshotterKind? = nil) -> Choice {
        if let requested { return Choice(kind: requested, reason: requested == .copy ? "requested" : nil) }
        if let failure = overlayFailure(in: store.claim.scratch) {
            return Choice(kind: .copy, reason: "overlayfs cannot be mounted here: \(failure)")
        }
        return Choice(kind: .overlayfs, reason: nil)
    }

    /// Why an overlay mount fails in `directory`; nil when it works.
    public static func overlayFailure(in directory: String) -> String? {
        let base = directory + "/overlay-probe-\(UInt32.random(in: 0...UInt32.max))"
        for d in ["", "/l", "/u", "/w", "/m"] { mkdir(base + d, 0o700) }
        defer { HostFiles.removeTree(base) }
        do {
            try OverlayMount.mount(at: base + "/m", lowers: [base + "/l"], upper: base + "/u", work: base + "/w")
        } catch {
            return error.reason
        }
        umount2(base + "/m", Int32(MNT_DETACH))
        return nil
    }
}
