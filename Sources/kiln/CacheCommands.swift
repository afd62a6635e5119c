import ArgumentParser
import Foundation
import KilnOCI
import KilnStore
import KilnSystem

/// `kiln du`: what the local cache holds.
struct DiskUsage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "du", abstract: "Show the local build cache and its size.")

    @Option(help: "State directory (default: $KILN_ROOT or ~/.local/share/kiln).")
    var root: String?

    @Flag(name: .shortAndLong, help: "List every cached step.")
    var verbose = false

    func run() async throws {
        let store = try await StateDirectory.open(root)
        defer { store.claim.release() }
        let entries = try await store.cacheEntries()
        var sizes: [Digest: Int64] = [:]
        for e in entries { for l in e.layers where store.contains(l.digest) { sizes[l.digest] = l.size } }
        if verbose {
            print("ID".padding(toLength: 14, withPad: " ", startingAt: 0) + "LAST USED".padding(toLength: 22, withPad: " ", startingAt: 0) + "STEP")
            for e in entries {
                let used = Timestamp.rfc3339(e.lastUsedAt)
                print(String(e.key.encoded.prefix(12)).padding(toLength: 14, withPad: " ", startingAt: 0)
                      + used.padding(toLength: 22, withPad: " ", startingAt: 0) + e.description)
            }
        }
        let u = await store.usage()
        print("cached steps:      \(entries.count)")
        print("layers referenced: \(sizes.count) (\(ByteFormat.human(sizes.values.reduce(0, +))) stored)")
        print("blobs:             \(ByteFormat.human(u.blobs))")
        print("unpacked layers:   \(ByteFormat.human(u.unpackedLayers))")
        print("chain views:       \(ByteFormat.human(u.snapshots))")
        print("cache mounts:      \(ByteFormat.human(u.cacheMounts))")
        print("temporary:         \(ByteFormat.human(u.temporary)) (running builds)")
        print("metadata:          \(ByteFormat.human(u.metadata))")
        print("total:             \(ByteFormat.human(u.total)) (everything under \(store.root))")
    }
}

/// `kiln prune`: drop cached steps and unreferenced blobs.
struct Prune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove cached steps and the blobs only they used.")

    @Option(help: "State directory (default: $KILN_ROOT or ~/.local/share/kiln).")
    var root: String?

    @Flag(help: "Remove the whole cache.")
    var all = false

    @Option(name: .customLong("keep-storage"), help: "Keep at most this much (e.g. 500MB, 10GB), most recently used first.")
    var keepStorage: String?

    @Option(help: "until=DURATION: remove steps unused for longer (e.g. 24h, 30m).")
    var filter: [String] = []

    func run() async throws {
        let store = try await StateDirectory.open(root)
        defer { store.claim.release() }
        var until: TimeInterval?
        for f in filter {
            guard f.hasPrefix("until="), let d = Self.duration(String(f.dropFirst(6))) else {
                throw CLIError(description: "invalid --filter '\(f)': use until=DURATION (e.g. until=24h)")
            }
            until = d
        }
        let keep = try keepStorage.map { s throws(CLIError) -> Int64 in
            guard let v = Self.size(s) else { throw CLIError(description: "invalid --keep-storage '\(s)' (e.g. 500MB, 10GB)") }
            return v
        }
        let entries = try await store.cacheEntries()  // most recently used first
        let now = Int64(Date().timeIntervalSince1970)
        var remove: [Digest] = []
        var kept: Int64 = 0
        var seen = Set<Digest>()
        for e in entries {
            var drop = all
            if let until, now - e.lastUsedAt > Int64(until) { drop = true }
            if !drop, let keep {
                let added = e.layers.filter { !seen.contains($0.digest) && store.contains($0.digest) }.reduce(0) { $0 + $1.size }
                if kept + added > keep { drop = true } else { kept += added }
            }
            if drop { remove.append(e.key) } else { e.layers.forEach { seen.insert($0.digest) } }
        }
        try await store.removeResults(remove)
        let report = try await store.garbageCollect(keeping: try await store.referencedBlobs())
        // Unpacked layers and views are derived from blobs and made again when needed; what
        // running builds hold stays.
        let unpacked = try await store.pruneUnpackedLayers(all: all)
        let views = try await store.pruneViews()
        let caches = all || until != nil ? await store.pruneCacheMounts(unusedFor: all ? nil : until) : 0
        let freed = report.bytesFreed + unpacked + views + caches
        print("removed \(remove.count) cached step(s), \(report.blobsRemoved) blob(s); reclaimed \(ByteFormat.human(freed))")
    }

    static func duration(_ s: String) -> TimeInterval? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        guard let u = s.last, let mult = units[u], let v = Double(s.dropLast()) else { return Double(s) }
        return v * mult
    }

    static func size(_ s: String) -> Int64? {
        let upper = s.uppercased()
        for (suffix, mult) in [("KB", 1000.0), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("KIB", 1024.0), ("MIB", 1048576.0), ("GIB", 1073741824.0), ("B", 1.0)] {
            if upper.hasSuffix(suffix), let v = Double(upper.dropLast(suffix.count)) { return Int64(v * mult) }
        }
        return Int64(s)
    }
}
