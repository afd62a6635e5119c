import Foundation
import KilnCache
import KilnOCI
import KilnProgress
import KilnRegistry
import KilnStore
import KilnSystem

/// Reads a build's `--cache-from` sources, all at the same time. One that is missing,
/// unreachable, malformed or slower than its budget prints a warning naming it and is left out:
/// a cache source never fails a build.
struct CacheImports: Sendable {
    let client: RegistryClient
    let store: ContentStore
    let printer: any ProgressPrinter

    /// The caches that could be read, in the order given (on equal times the first one wins).
    func load(_ sources: [CacheImportSource], budget: Duration) async -> [ImportedCache] {
        await withTaskGroup(of: (Int, ImportedCache?).self) { group in
            for (i, source) in sources.enumerated() {
                group.addTask { (i, await load(source, index: i, budget: budget)) }
            }
            var loaded = [ImportedCache?](repeating: nil, count: sources.count)
            for await (i, cache) in group { loaded[i] = cache }
            return loaded.compactMap { $0 }
        }
    }

    private func load(_ source: CacheImportSource, index: Int, budget: Duration) async -> ImportedCache? {
        let name: String
        switch source {
        case .registry(let ref): name = ref.description
        case .local(let src, _): name = src
        }
        // A vertex like BuildKit's; a source that cannot be read is a warning, not an error.
        let id = Digest.of(Data("kiln cache import \(index) \(name)".utf8))
        return await reportingVertex("importing cache manifest from \(name)", id: id, report: { await printer.handle($0) }) {
            () async -> ImportedCache? in
            do {
                return try await withTimeout(budget) { [client, store] in
                    switch source {
                    case .registry(let ref): return try await RegistryCacheImporter(client: client).load(ref)
                    case .local(let src, let tag): return try await RegistryCacheImporter.loadLocal(src, tag: tag, store: store)
                    }
                }
            } catch {
                if Task.isCancelled { return nil }
                await printer.handle(.warning(vertex: nil, short: "cannot import cache from \(name): \(ErrorText.describe(error))", detail: []))
                return nil
            }
        }
    }
}
