import Foundation
import KilnDockerfile
import KilnOCI

/// The graph while ``GraphBuilder`` lowers a plan into it: what a step's op reads (earlier
/// vertices, stage results, the context, downloads) and where it adds its vertex.
struct GraphUnderConstruction {
    let plan: BuildPlan
    let images: [String: ResolvedImage]
    let context: BuildContext
    let namedContexts: [String: BuildContext]
    let sourceDateEpoch: Int64?
    let remoteFiles: [String: RemoteFile]
    var vertices: [Vertex] = []
    var stageResults: [Int: Int] = [:]
    var imageVertices: [String: Int] = [:]
    var contentRoots: [Digest: CacheKey] = [:]
    /// How many vertices each stage has had so far (their ordinals make their slots).
    var stageOrdinals: [Int: Int] = [:]

    /// The key id of vertex `index`.
    func key(_ index: Int) -> Digest { vertices[index].key.id }

    /// Adds a vertex with the facts its key is made of (see ``StepFacts``); `stage` gives its
    /// slot (nil: a base image, slotted by reference). Returns its index.
    mutating func add(name: String, op: VertexOp, inputs: [Int], key: CacheKey, alternatives: [CacheKey] = [],
                      stage: PlannedStage?, facts: [String: String]) -> Int {
        var values = facts
        let slot: String
        if let stage {
            let ordinal = stageOrdinals[stage.index, default: 0]
            stageOrdinals[stage.index] = ordinal + 1
            slot = "\(stage.displayName)/\(ordinal)"
            if let e = sourceDateEpoch { values[FactName.sourceDateEpoch] = String(e) }
        } else {
            slot = "image:" + (facts[FactName.image] ?? name)
        }
        var v = Vertex(index: vertices.count, name: name, op: op, inputs: inputs, key: key, alternativeKeys: alternatives,
                       facts: StepFacts(key: key.id, parent: nil, slot: slot, op: op.kind, values: values))
        if v.changesFirstInput, let first = inputs.first { v.facts.parent = vertices[first].key.id }
        vertices.append(v)
        return vertices.count - 1
    }

    /// Registers the content root `<content>@-1`; returns its key id.
    mutating func contentRoot(_ content: Digest) throws(GraphError) -> Digest {
        let root = try CacheKey.contentRoot(content)
        contentRoots[root.id] = root
        return root.id
    }

    /// A BuildKit cache map digest, with `SOURCE_DATE_EPOCH` folded in when one is set (layers
    /// clamp mtimes to it, so it changes what every step makes; BuildKit's key has no place
    /// for it).
    func stepDigest(_ cacheMap: Digest) -> Digest {
        guard let e = sourceDateEpoch else { return cacheMap }
        return Digest.of(Data("\(cacheMap)\u{0}source-date-epoch=\(e)".utf8))
    }

    /// The vertex of base image `ref` (added once, however many steps use it).
    mutating func image(_ ref: String, name: String) throws(GraphError) -> Int {
        if let v = imageVertices[ref] { return v }
        guard let img = images[ref] else { throw GraphError(description: "\(name): base image \(ref) was not resolved") }
        let (key, alternative) = try ImageSourceOp.keys(img)
        let v = add(name: name, op: .image(ImageSourceOp(image: img)), inputs: [], key: key, alternatives: [alternative],
                    stage: nil, facts: ImageSourceOp.facts(img))
        imageVertices[ref] = v
        return v
    }

    /// The result vertex of the stage named (or numbered) `from` (nil for an empty scratch stage).
    func stageResult(_ from: String, step: String) throws(GraphError) -> Int? {
        guard let i = plan.stages.first(where: { $0.name == from.lowercased() || String($0.index) == from })?.index else {
            throw GraphError(description: "\(step): no stage \(from)")
        }
        return stageResults[i]
    }

    /// The finished graph.
    func graph() -> BuildGraph {
        BuildGraph(vertices: vertices, stageResults: stageResults, plan: plan, contentRoots: contentRoots, remoteFiles: remoteFiles)
    }
}
