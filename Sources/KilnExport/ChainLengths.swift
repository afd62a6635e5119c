import KilnSolver
import KilnStore

extension ImageAssembler {
    /// Fills ``chainLengths`` and ``layerCounts`` from the cache index: how many layers each
    /// step's result has (every executed or cached step's chain is recorded under its key).
    public mutating func learnChains(from graph: BuildGraph, store: ContentStore) async throws {
        for v in graph.vertices {
            switch v.op {
            case .image(let source): chainLengths[v.name] = source.image.layers.count
            default:
                if let chain = try await store.cachedResult(v.key.id) { chainLengths[v.name] = chain.count }
            }
        }
        for (stage, vertex) in graph.stageResults {
            layerCounts[stage] = chainLengths[graph.vertices[vertex].name] ?? 0
        }
    }
}
