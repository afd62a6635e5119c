import ArgumentParser
import Foundation
import KilnBuild
import KilnCache
import KilnOCI
import KilnProgress
import KilnSystem

/// `kiln cache`: build caches in registries and layout directories.
struct RemoteCache: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache", abstract: "Inspect and prune build caches in registries.",
        subcommands: [InspectCache.self, PruneCache.self])
}

/// `kiln cache inspect REF`: what a cache holds.
struct InspectCache: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a build cache: layout, layers (size, compression, creation, the step that made each), chains and records.")

    @Argument(help: "The cache: REF, type=registry,ref=REF, or type=local,src=DIR[,tag=TAG].")
    var source: String

    @Option(help: "Output format: text or json.")
    var format: String = "text"

    @OptionGroup(title: "Registry options") var registry: RegistryOptions

    func run() async throws {
        guard ["text", "json"].contains(format) else { throw CLIError(description: "invalid --format '\(format)': use text or json") }
        let spec = try BuildRequest.cacheImport(parsing: source)
        let inspection: CacheInspection
        switch spec {
        case .registry(let ref):
            inspection = try await registry.withClient { client in
                CacheInspection(try await RegistryCacheImporter(client: client).load(ref), source: ref.description)
            }
        case .local(let src, let tag):
            inspection = CacheInspection(try await RegistryCacheImporter.loadLocal(src, tag: tag, store: nil), source: src)
        }
        if format == "json" {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            Console.write(String(decoding: try encoder.encode(inspection), as: UTF8.self) + "\n", to: STDOUT_FILENO)
        } else {
            Console.write(inspection.text, to: STDOUT_FILENO)
        }
    }
}

/// `kiln cache prune REPO`: delete old build caches from a repository.
struct PruneCache: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete a repository's build-cache manifests older than a cutoff, or all but the newest N, through the registry's DELETE API.",
        discussion: "Only build caches are deleted (tags whose manifest has a BuildKit cache config); images and other artifacts are never touched. The registry's own garbage collection then reclaims the blobs.")

    @Argument(help: "The repository (REGISTRY/NAME).")
    var repository: String

    @Option(name: .customLong("older-than"), help: "Delete caches whose newest layer is older than this (e.g. 72h, 30m, 7d).")
    var olderThan: String?

    @Option(help: "Keep the N newest caches whatever their age.")
    var keep: Int?

    @Flag(name: .customLong("dry-run"), help: "List what would be deleted; delete nothing.")
    var dryRun = false

    @OptionGroup(title: "Registry options") var registry: RegistryOptions

    func run() async throws {
        guard olderThan != nil || keep != nil else { throw CLIError(description: "kiln cache prune needs --older-than DURATION or --keep N") }
        if let keep, keep < 0 { throw CLIError(description: "invalid --keep \(keep): use 0 or more") }
        let cutoff = try olderThan.map { v throws(CLIError) -> Int64 in
            guard let s = Prune.duration(v), s >= 0 else { throw CLIError(description: "invalid --older-than '\(v)': use a duration such as 72h, 30m or 7d") }
            return Int64(s)
        }
        let ref: Reference
        do { ref = try Reference(parsing: repository) } catch { throw CLIError(description: "invalid repository '\(repository)': \(error)") }
        try await registry.withClient { client in
            let prune = CachePrune(client: client)
            let plan = try await prune.plan(ref, olderThan: cutoff, keep: keep)
            for s in plan.skipped { Console.write("kept \(ref.name):\(s.tag): \(s.reason)\n", to: STDOUT_FILENO) }
            let deleted = dryRun ? plan.delete : try await prune.run(plan, in: ref)
            let verb = dryRun ? "would delete" : "deleted"
            for e in deleted {
                let age = e.newest.map { Timestamp.rfc3339($0) } ?? "-"
                Console.write("\(verb) \(ref.name):\(e.tags.joined(separator: ",")) \(e.digest) (newest layer \(age), \(ByteFormat.human(e.bytes)))\n",
                              to: STDOUT_FILENO)
            }
            let bytes = deleted.reduce(0) { $0 + $1.bytes }
            Console.write("\(verb) \(deleted.count) cache\(deleted.count == 1 ? "" : "s") referencing \(ByteFormat.human(bytes)); kept \(plan.keep.count)\n",
                          to: STDOUT_FILENO)
        }
    }
}
