import KilnOCI
import KilnSolver
import KilnStore

/// Builds a cache config from a build's key graph, vertex by vertex (inputs before their
/// users): each key a record linking the records of its inputs' alternatives (selectors kept,
/// BuildKit's content-based alternatives added), each exported result a layer chain sharing the
/// entries of chains it extends.
struct CacheConfigBuilder {
    let graph: BuildGraph
    private(set) var records: [CacheConfig.Record] = []
    private(set) var layers: [CacheConfig.Layer] = []
    /// The layers referenced, each once, encoded as asked.
    private(set) var exported: [CachedLayer] = []
    private var recordOf: [Digest: [Int]] = [:]
    private var layerIndex: [String: Int] = [:]
    private var converted: [Digest: CachedLayer] = [:]

    init(graph: BuildGraph) { self.graph = graph }

    /// A base image: a root record for its key and one for each alternative (its ChainID).
    mutating func addImage(_ v: Vertex) {
        var all = [root(v.key.id, digest: v.key.recordDigest)]
        for alt in v.alternativeKeys { all.append(root(alt.id, digest: alt.recordDigest)) }
        recordOf[v.key.id] = all
    }

    /// A step: its record, with `result` (when exported) as its layer chain.
    mutating func addStep(_ v: Vertex, result chain: [CachedLayer]?, convert: (CachedLayer) async throws -> CachedLayer) async throws {
        var inputs: [[CacheConfig.Input]] = []
        for index in v.key.inputs.indices { inputs.append(input(index, of: v)) }
        var result: [CacheConfig.Result]?
        if let chain, !chain.isEmpty {
            let top = try await addChain(chain, convert: convert)
            result = [CacheConfig.Result(layer: top, createdAt: Timestamp.rfc3339(chain.last?.createdAt ?? 0))]
        }
        records.append(CacheConfig.Record(layers: result, chains: nil, digest: v.key.recordDigest, inputs: inputs.isEmpty ? nil : inputs))
        recordOf[v.key.id] = [records.count - 1]
    }

    /// The alternatives of input `index` of `v`: its key's links, then the content roots found
    /// when that input was solved here or read from an imported cache.
    mutating func input(_ index: Int, of v: Vertex) -> [CacheConfig.Input] {
        var list: [CacheConfig.Input] = []
        for ki in v.key.inputs[index] {
            let links = recordOf[ki.link] ?? [root(ki.link, digest: graph.contentRoots[ki.link]?.recordDigest ?? ki.link)]
            for l in links { list.append(CacheConfig.Input(selector: ki.selector?.description, link: l)) }
        }
        for rl in graph.rootLinks[v.index] ?? [] where rl.input == index && !list.contains(where: { records[$0.link].digest == rl.record }) {
            list.append(CacheConfig.Input(selector: nil, link: root(rl.record, digest: rl.record)))
        }
        return list
    }

    /// The record of root key `id` (added once).
    mutating func root(_ id: Digest, digest: Digest) -> Int {
        if let r = recordOf[id]?.first { return r }
        records.append(CacheConfig.Record(layers: nil, chains: nil, digest: digest, inputs: nil))
        recordOf[id] = [records.count - 1]
        return records.count - 1
    }

    /// The index of the last layer of `chain`, adding the entries not there yet.
    mutating func addChain(_ chain: [CachedLayer], convert: (CachedLayer) async throws -> CachedLayer) async throws -> Int {
        var parent = -1
        for l in chain {
            let layer: CachedLayer
            if let c = converted[l.digest] { layer = c } else {
                layer = try await convert(l)
                converted[l.digest] = layer
            }
            let key = "\(layer.digest) \(parent)"
            if let i = layerIndex[key] { parent = i; continue }
            layers.append(CacheConfig.Layer(blob: layer.digest, parent: parent))
            layerIndex[key] = layers.count - 1
            if !exported.contains(where: { $0.digest == layer.digest }) { exported.append(layer) }
            parent = layers.count - 1
        }
        return parent
    }
}
