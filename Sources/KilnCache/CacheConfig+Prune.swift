import Foundation
import KilnOCI

extension CacheConfig {
    /// The config without key-only records no importer can use: a record without results
    /// matters only as a link on the way to one with results, and of records with identical
    /// digest and inputs one is enough. Returns the config and how many records went.
    public func droppingRedundantKeys() -> (CacheConfig, dropped: Int) {
        // Keep records with results and everything they link to, transitively.
        var keep = Set<Int>()
        var stack = records.indices.filter { !(records[$0].layers ?? []).isEmpty || !(records[$0].chains ?? []).isEmpty }
        while let i = stack.popLast() {
            guard keep.insert(i).inserted else { continue }
            for input in records[i].inputs ?? [] { stack.append(contentsOf: input.map(\.link)) }
        }
        // Renumber inputs first (links may point forward); key-only duplicates collapse onto
        // the first of them.
        var order: [Int] = []
        var visited = Set<Int>()
        func visit(_ i: Int) {
            guard visited.insert(i).inserted else { return }
            for input in records[i].inputs ?? [] { for a in input { visit(a.link) } }
            order.append(i)
        }
        for i in records.indices where keep.contains(i) { visit(i) }
        var newIndex: [Int: Int] = [:]
        var out: [Record] = []
        var seen: [String: Int] = [:]
        for i in order {
            var r = records[i]
            r.inputs = r.inputs.map { $0.map { alternatives in
                var list: [Input] = []
                for a in alternatives {
                    guard let link = newIndex[a.link] else { continue }
                    let input = Input(selector: a.selector, link: link)
                    if !list.contains(input) { list.append(input) }
                }
                return list
            } }
            let keyOnly = (r.layers ?? []).isEmpty && (r.chains ?? []).isEmpty
            let signature = keyOnly ? Self.signature(r) : nil
            if let signature, let existing = seen[signature] {
                newIndex[i] = existing
                continue
            }
            out.append(r)
            newIndex[i] = out.count - 1
            if let signature { seen[signature] = out.count - 1 }
        }
        return (CacheConfig(layers: layers, records: out, steps: steps), records.count - out.count)
    }

    /// Identity of a key-only record: its digest and its (renumbered) inputs.
    private static func signature(_ r: Record) -> String {
        let inputs = (r.inputs ?? []).map { $0.map { "\($0.link)/\($0.selector ?? "")" }.sorted().joined(separator: ",") }
        return r.digest.description + "|" + inputs.joined(separator: ";")
    }
}
