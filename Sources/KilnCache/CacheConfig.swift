import Foundation
import KilnOCI
import KilnSolver

/// BuildKit's cache config v0 (`application/vnd.buildkit.cacheconfig.v0`): a forest of layer
/// chains and the cache-key graph.
public struct CacheConfig: Sendable, Equatable, Codable {
    /// A layer: a blob and the index of its parent (-1 for a base layer; missing means 0).
    public struct Layer: Sendable, Equatable, Codable {
        /// Blob digest.
        public var blob: Digest
        /// Parent layer index.
        public var parent: Int

        enum CodingKeys: String, CodingKey { case blob, parent }

        /// A layer entry.
        public init(blob: Digest, parent: Int) {
            self.blob = blob
            self.parent = parent
        }

        /// Decodes with BuildKit's omitempty rule: no `parent` means 0.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            blob = try c.decode(Digest.self, forKey: .blob)
            parent = try c.decodeIfPresent(Int.self, forKey: .parent) ?? 0
        }

        /// Encodes with the same rule.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(blob, forKey: .blob)
            if parent != 0 { try c.encode(parent, forKey: .parent) }
        }
    }

    /// One input alternative: a record and an optional selector.
    public struct Input: Sendable, Equatable, Codable {
        /// Selector digest string (omitted when empty).
        public var selector: String?
        /// Index of the linked record.
        public var link: Int
    }

    /// A result: a layer index whose chain is the snapshot.
    public struct Result: Sendable, Equatable, Codable {
        /// Layer index.
        public var layer: Int
        /// When it was created (RFC 3339).
        public var createdAt: String
    }

    /// A result given as an explicit list of layers.
    public struct ChainedResult: Sendable, Equatable, Codable {
        /// Layer indexes, base first.
        public var layers: [Int]
        /// When it was created.
        public var createdAt: String
    }

    /// One cache key.
    public struct Record: Sendable, Equatable, Codable {
        /// Results.
        public var layers: [Result]?
        /// Results as explicit chains.
        public var chains: [ChainedResult]?
        /// The key's digest: `sha256("<base>@<output>")`.
        public var digest: Digest
        /// Per input, alternatives.
        public var inputs: [[Input]]?
    }

    /// Layer chains.
    public var layers: [Layer]
    /// Records.
    public var records: [Record]
    /// Kiln's facts of each step's key, for `--explain` (BuildKit does not read the field).
    public var steps: [StepFacts]?

    enum CodingKeys: String, CodingKey { case layers, records, steps = "kiln.steps" }

    /// A config.
    public init(layers: [Layer], records: [Record], steps: [StepFacts]? = nil) {
        self.layers = layers
        self.records = records
        self.steps = steps
    }

    /// Decodes and checks indexes, input lists and loops as BuildKit's importer would.
    public static func decode(_ data: Data) throws(CacheImportError) -> CacheConfig {
        guard data.count <= 1 << 20 else { throw CacheImportError("cache config of \(data.count) bytes is over the 1 MiB limit") }
        let c: CacheConfig
        do {
            struct Raw: Decodable { var layers: [Layer]?; var records: [Record]? }
            // Facts a cache carries are a help, never a reason to refuse it.
            struct Facts: Decodable {
                var steps: [StepFacts]?
                enum CodingKeys: String, CodingKey { case steps = "kiln.steps" }
            }
            let raw = try JSONDecoder().decode(Raw.self, from: data)
            let facts = try? JSONDecoder().decode(Facts.self, from: data)
            c = CacheConfig(layers: raw.layers ?? [], records: raw.records ?? [], steps: facts?.steps)
        } catch {
            throw CacheImportError("cache config is not valid JSON: \(error)")
        }
        for (i, l) in c.layers.enumerated() where l.parent != -1 && (l.parent < 0 || l.parent >= c.layers.count || l.parent == i) {
            throw CacheImportError("cache config layer \(i) has an invalid parent \(l.parent)")
        }
        for (i, r) in c.records.enumerated() {
            for input in r.inputs ?? [] {
                guard !input.isEmpty else { throw CacheImportError("cache config record \(i) has an empty input") }
                for a in input where a.link < 0 || a.link >= c.records.count || a.link == i {
                    throw CacheImportError("cache config record \(i) links to invalid record \(a.link)")
                }
            }
            for res in r.layers ?? [] where res.layer < 0 || res.layer >= c.layers.count {
                throw CacheImportError("cache config record \(i) has an invalid result layer \(res.layer)")
            }
        }
        return c
    }

    /// The layer indexes of the chain ending at `index`, base first (nil on a loop).
    public func chain(_ index: Int) -> [Int]? {
        var out: [Int] = []
        var i = index
        var seen = Set<Int>()
        while i >= 0 {
            guard i < layers.count, seen.insert(i).inserted else { return nil }
            out.append(i)
            i = layers[i].parent
        }
        return out.reversed()
    }
}

/// A cache that cannot be imported or exported.
public struct CacheImportError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public var description: String
    init(_ d: String) { description = d }
}
