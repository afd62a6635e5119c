import Foundation
import KilnArchive
import KilnOCI
import KilnStore
import KilnSystem

/// Chains as overlay mounts of their unpacked layers — never a copy: a read-only view has the
/// chain's layer directories as lowers; a RUN adds an upper and a work directory, and the upper
/// directory is the step's change. Mounts live in this process's scratch (swept if it dies).
/// Where the kernel cannot take lowers one by one and a chain's lowers do not fit one mount
/// option string, the bottom of the chain is flattened once into one directory (by ChainID).
public actor OverlaySnapshotter: Snapshotter {
    public nonisolated let kind = SnapshotterKind.overlayfs
    public nonisolated let layers: UnpackedLayers
    private let store: ContentStore
    private var views: [Digest: Task<String, any Error>] = [:]
    /// Whether to use `mount(2)` with one option string even where the new API is there (tests).
    let legacyMounts: Bool

    /// A snapshotter over `layers`.
    public init(layers: UnpackedLayers, legacyMounts: Bool = !OverlayMount.takesLowersOneByOne) {
        self.layers = layers
        store = layers.store
        self.legacyMounts = legacyMounts
    }

    /// A read-only view of `chain`, mounted once per process.
    public func directory(for chain: [CachedLayer], report: TransferReporter?) async throws -> String {
        let id = ChainID.of(chain.map(\.diffID))
        if let t = views[id] { return try await t.value }
        let task = Task { try await self.mountView(chain, id: id, report: report) }
        views[id] = task
        do {
            return try await task.value
        } catch {
            views[id] = nil
            throw error
        }
    }

    private func mountView(_ chain: [CachedLayer], id: Digest, report: TransferReporter?) async throws -> String {
        let target = store.claim.scratch + "/views/" + id.encoded.prefix(24)
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        guard !chain.isEmpty else { return target }
        var lowers = try await lowerDirectories(chain, report: report)
        if lowers.count == 1 { lowers.append((try emptyDirectory(), 0)) }  // overlay needs two lowers without an upper
        try await mount(target, chain: chain, lowers: lowers, upper: nil, work: nil, report: report)
        return target
    }

    public func prepareRun(_ chain: [CachedLayer], report: TransferReporter?) async throws -> RunRoot {
        let work = store.newScratchPath("run")
        let (upper, scratch, merged) = (work + "/upper", work + "/work", work + "/merged")
        for d in [upper, scratch, merged] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        let lowers = chain.isEmpty ? [(try emptyDirectory(), 0)] : try await lowerDirectories(chain, report: report)
        let view: String
        do {
            try await mount(merged, chain: chain, lowers: lowers, upper: upper, work: scratch, report: report)
            // What the upper directory is compared with: the chain's read-only view.
            view = chain.isEmpty ? try emptyDirectory() : try await directory(for: chain, report: report)
        } catch {
            HostFiles.removeTree(work)
            throw error
        }
        return RunRoot(rootfs: merged, upper: upper, lower: view, work: work)
    }

    public func finish(_ root: RunRoot) async {
        umount2(root.rootfs, Int32(MNT_DETACH))
    }

    /// The chain's layer directories, top first; layers are fetched and unpacked in parallel.
    /// A layer that comes again lower down is left out there (overlayfs refuses a directory
    /// twice): everything it holds is already given, on top, by its higher copy.
    /// Each comes with its position in the chain.
    private func lowerDirectories(_ chain: [CachedLayer], report: TransferReporter?) async throws -> [Lower] {
        let layers = self.layers
        let dirs = try await mapConcurrently(chain, limit: 4) { try await layers.directory(for: $0, report: report) }
        var seen = Set<String>()
        return dirs.enumerated().reversed().filter { seen.insert($0.element).inserted }.map { ($0.element, $0.offset) }
    }

    /// A lower directory and the position in the chain of the layer it holds.
    typealias Lower = (dir: String, index: Int)

    private func emptyDirectory() throws -> String {
        let dir = store.claim.scratch + "/empty"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Mounts; where one option string cannot hold the lowers, the bottom of the chain is
    /// flattened so that the rest fits.
    private func mount(_ target: String, chain: [CachedLayer], lowers: [Lower], upper: String?, work: String?,
                       report: TransferReporter?) async throws {
        do {
            try OverlayMount.mount(at: target, lowers: lowers.map(\.dir), upper: upper, work: work, legacy: legacyMounts)
            return
        } catch {
            // Rethrown here, not filtered in the catch pattern: the flattening below awaits.
            guard error.tooManyLowers, !chain.isEmpty else { throw error }
        }
        do {
            // Split as a RUN's mount needs it (with an upper and a work directory), so that views
            // and RUNs over one chain share one flattened prefix.
            let run = store.claim.scratch + "/run-" + String(repeating: "0", count: 13)
            let keep = Self.layersThatFit(lowers.map(\.dir), upper: upper ?? run + "/upper", work: work ?? run + "/work",
                                          flatPath: store.layersDirectory + "/flat-" + String(repeating: "0", count: 64))
            // Everything below the lowest layer kept is flattened (copies of kept layers too).
            let bottom = Array(chain.prefix(keep == 0 ? chain.count : lowers[keep - 1].index))
            let flat = try await flattened(bottom, report: report)
            var fitted = lowers.prefix(keep).map(\.dir) + [flat]
            if upper == nil && fitted.count == 1 { fitted.append(try emptyDirectory()) }
            try OverlayMount.mount(at: target, lowers: fitted, upper: upper, work: work, legacy: legacyMounts)
        }
    }

    /// How many of the top lowers fit one option string next to one flattened directory.
    static func layersThatFit(_ lowers: [String], upper: String?, work: String?, flatPath: String) -> Int {
        var keep = lowers.count - 1
        while keep > 0, OverlayMount.legacyOptions(lowers: Array(lowers.prefix(keep)) + [flatPath], upper: upper, work: work).utf8.count
            > OverlayMount.legacyOptionLimit { keep -= 1 }
        return keep
    }

    /// The bottom of a chain applied into one directory (`layers/flat-<ChainID>`), made once.
    private func flattened(_ chain: [CachedLayer], report: TransferReporter?) async throws -> String {
        let name = "flat-" + ChainID.of(chain.map(\.diffID)).encoded
        let dir = store.layersDirectory + "/" + name
        try await store.hold(resources: [ContentStore.unpackedResource(name)])
        if FileManager.default.fileExists(atPath: dir) { return dir }
        let tmp = store.newScratchPath("flatten")
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        for layer in chain {
            let layerDir = try await layers.directory(for: layer, report: report)
            try await BlockingIO.run { try OverlayTree.merge(layerDir, into: tmp, linking: false) }
        }
        return try await layers.place(tmp, name: name, at: dir)
    }
}
