import Foundation
import KilnOCI
import KilnRegistry
import KilnSystem

/// `kiln cache prune`: the build-cache manifests of a repository to delete — those whose
/// newest layer is older than a cutoff, or all but the newest N — found by tag, and deleted by
/// digest through the registry's DELETE API (a digest only when every tag naming it goes).
/// A tag that is not a build cache (an image, a signature) is never touched.
public struct CachePrune: Sendable {
    /// One build cache found under a tag.
    public struct Entry: Sendable, Equatable {
        /// Tags naming it.
        public var tags: [String]
        /// Its manifest or index digest.
        public var digest: Digest
        /// Its newest layer's `buildkit/createdat` (seconds), nil when no layer says.
        public var newest: Int64?
        /// Bytes it references: config and layers.
        public var bytes: Int64
    }

    /// What a prune found and chose.
    public struct Plan: Sendable {
        /// Caches to delete, newest first.
        public var delete: [Entry]
        /// Caches kept, newest first.
        public var keep: [Entry]
        /// Tags skipped: not a build cache, or unreadable (with why).
        public var skipped: [(tag: String, reason: String)]
    }

    let client: RegistryClient

    /// A prune through `client`.
    public init(client: RegistryClient) { self.client = client }

    /// Finds the caches of `repository` and chooses: older than `olderThan` seconds (before
    /// `now`) and not among the `keep` newest. Caches with no layer times are kept.
    public func plan(_ repository: Reference, olderThan: Int64?, keep: Int?, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> Plan {
        var byDigest: [Digest: Entry] = [:]
        var skipped: [(String, String)] = []
        for tag in try await client.tags(repository).sorted() {
            do {
                let fetched = try await client.manifest(try repository.withTag(tag))
                guard let entry = try Self.cacheEntry(fetched, tag: tag) else {
                    skipped.append((tag, "not a build cache"))
                    continue
                }
                byDigest[entry.digest, default: Entry(tags: [], digest: entry.digest, newest: entry.newest, bytes: entry.bytes)].tags.append(tag)
            } catch {
                skipped.append((tag, ErrorText.describe(error)))
            }
        }
        // Newest first; caches with no layer times last, and never deleted.
        let entries = byDigest.values.sorted { ($0.newest ?? -1, $0.digest.description) > ($1.newest ?? -1, $1.digest.description) }
        var plan = Plan(delete: [], keep: [], skipped: skipped)
        for (i, e) in entries.enumerated() {
            let protectedByKeep = keep.map { i < $0 } ?? (olderThan == nil)
            let old = olderThan.map { cutoff in e.newest.map { $0 <= now - cutoff } ?? false } ?? (e.newest != nil)
            if !protectedByKeep && old { plan.delete.append(e) } else { plan.keep.append(e) }
        }
        return plan
    }

    /// Deletes the chosen caches; returns those deleted.
    public func run(_ plan: Plan, in repository: Reference) async throws -> [Entry] {
        var done: [Entry] = []
        for e in plan.delete {
            do {
                try await client.deleteManifest(e.digest, in: repository)
            } catch {
                if let status = Self.refusal(error) {
                    throw CacheImportError("\(repository.registry) refuses to delete manifests (HTTP \(status)); enable deletion on that registry "
                                           + "(distribution: storage.delete.enabled: true)" + (done.isEmpty ? "; nothing was deleted" : ""))
                }
                throw error
            }
            done.append(e)
        }
        return done
    }

    /// The status of a registry's refusal to delete (405 when deletion is disabled), if `error` is one.
    static func refusal(_ error: RegistryError) -> Int? {
        guard case .http(_, _, let status, _, _) = error, status == 405 || status == 403 else { return nil }
        return status
    }

    /// The cache a fetched manifest is, if it is one: an image manifest whose config is a
    /// BuildKit cache config, or an index listing one.
    static func cacheEntry(_ fetched: RegistryClient.FetchedManifest, tag: String) throws -> Entry? {
        var layers: [Descriptor]
        let config: Descriptor
        switch try fetched.document() {
        case .manifest(let m):
            guard m.config.mediaType == MediaType.buildkitCacheConfig else { return nil }
            (layers, config) = (m.layers, m.config)
        case .index(let i):
            guard let c = i.manifests.first(where: { $0.mediaType == MediaType.buildkitCacheConfig }) else { return nil }
            layers = i.manifests.filter { $0.mediaType != MediaType.buildkitCacheConfig }
            config = c
        }
        let times = layers.compactMap { $0.annotations?["buildkit/createdat"].flatMap(Timestamp.parseRFC3339) }
        return Entry(tags: [tag], digest: fetched.digest, newest: times.max(), bytes: config.size + layers.reduce(0) { $0 + $1.size })
    }
}
