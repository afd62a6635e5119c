import Foundation
import KilnOCI
import KilnStore

/// Why a step that runs missed the cache (`kiln build --explain`): its facts compared with the
/// nearest earlier version of it that a cache holds — local or imported — found first among
/// the steps that started from the same filesystem with the same kind of operation, then among
/// those that stood in the same place of the Dockerfile.
public struct MissExplainer: Sendable {
    let store: ContentStore
    let imported: [StepFacts]
    let importedByKey: [Digest: StepFacts]

    /// An explainer over the local cache index and the facts the imported caches carry.
    public init(store: ContentStore, imported: [StepFacts]) {
        self.store = store
        self.imported = imported
        var byKey: [Digest: StepFacts] = [:]
        for f in imported { byKey[f.key] = f }
        importedByKey = byKey
    }

    /// The reasons `v` misses; empty when no cache held an earlier version of it.
    public func explain(_ v: Vertex, in graph: BuildGraph) async -> [String] {
        let current = v.facts
        if importedByKey[current.key] != nil {
            return ["an imported cache has this step's key but no result for it (exported with mode=min)"]
        }
        guard let earlier = await nearest(current) else { return [] }
        var reasons = MissReasons.compare(current, with: earlier)
        if earlier.parent != current.parent { reasons.insert(await parentReason(v, in: graph, earlierParent: earlier.parent), at: 0) }
        return reasons.isEmpty ? ["an input Kiln does not describe changed"] : reasons
    }

    /// The candidate with the fewest differences (the newest of those): first among the
    /// steps with the same parent, then among those in the same slot.
    func nearest(_ current: StepFacts) async -> StepFacts? {
        let local = ((try? await store.factsCandidates(parent: current.parent, slot: current.slot)) ?? []).compactMap(Self.decode)
        let all = (local + imported).filter { $0.op == current.op && $0.key != current.key }
        let sameParent = current.parent == nil ? [] : all.filter { $0.parent == current.parent }
        let pool = sameParent.isEmpty ? all.filter { $0.slot == current.slot } : sameParent
        // Stable: local rows come newest first, before the imported ones.
        return pool.enumerated().min { a, b in (distance(current, a.element), a.offset) < (distance(current, b.element), b.offset) }?.element
    }

    func distance(_ a: StepFacts, _ b: StepFacts) -> Int {
        Set(a.values.keys).union(b.values.keys).filter { a.values[$0] != b.values[$0] }.count + (a.parent == b.parent ? 0 : 1)
    }

    /// Why the filesystem `v` starts from is not the one its earlier version started from.
    func parentReason(_ v: Vertex, in graph: BuildGraph, earlierParent: Digest?) async -> String {
        guard v.changesFirstInput, let first = v.inputs.first else { return "the stage no longer starts from the same filesystem" }
        let parent = graph.vertices[first]
        guard case .image = parent.op else { return "the step before it changed (\(parent.name))" }
        var earlier: StepFacts?
        if let earlierParent {
            earlier = importedByKey[earlierParent]
            if earlier == nil, let row = try? await store.facts(earlierParent) { earlier = Self.decode(row) }
        }
        return MissReasons.baseImage(current: parent.facts, earlier: earlier)
    }

    static func decode(_ row: StoredFacts) -> StepFacts? { try? JSONDecoder().decode(StepFacts.self, from: Data(row.json.utf8)) }

    /// The row the local cache index keeps for `facts`.
    public static func row(_ facts: StepFacts) -> StoredFacts? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(facts) else { return nil }
        return StoredFacts(key: facts.key, parent: facts.parent, slot: facts.slot, json: String(decoding: data, as: UTF8.self))
    }
}

/// A step that ran although a cache held an earlier version of it, and why.
public struct CacheMiss: Sendable, Equatable {
    /// The step's name.
    public var step: String
    /// What changed, one reason per input.
    public var reasons: [String]

    /// A miss.
    public init(step: String, reasons: [String]) {
        self.step = step
        self.reasons = reasons
    }
}
