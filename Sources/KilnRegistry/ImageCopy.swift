import Foundation
import KilnOCI
import KilnSystem

/// Copies an image or an index, with every blob it references, from one reference to another.
///
/// Within one registry blobs are mounted across repositories (no bytes move); between
/// registries each blob streams through a verified temporary file, never through memory.
/// Manifest bytes are pushed unchanged, so digests are preserved.
public struct ImageCopy: Sendable {
    /// Where to copy from.
    public var source: Reference
    /// Where to copy to. A tag is kept; without one the source's tag or digest is used.
    public var destination: Reference
    /// Directory for temporary blob files (the system's by default).
    public var temporaryDirectory: String
    /// Blobs copied at once.
    public var parallelism: Int

    /// What a copy did.
    public struct Report: Sendable, Hashable {
        /// Digest of the top-level manifest or index.
        public var digest: Digest
        /// Its media type.
        public var mediaType: String
        /// Its size.
        public var size: Int64
        /// Blobs the destination already had.
        public var blobsExisting = 0
        /// Blobs linked by cross-repository mount.
        public var blobsMounted = 0
        /// Blobs whose bytes were uploaded.
        public var blobsUploaded = 0
        /// Bytes uploaded for those blobs.
        public var bytesUploaded: Int64 = 0
        /// Manifests pushed (children of an index included).
        public var manifestsPushed = 0
    }

    /// A copy operation.
    public init(source: Reference, destination: Reference, temporaryDirectory: String = NSTemporaryDirectory(), parallelism: Int = 4) {
        self.source = source
        self.destination = destination
        self.temporaryDirectory = temporaryDirectory
        self.parallelism = max(1, parallelism)
    }

    /// Runs the copy with `client`.
    public func run(with client: RegistryClient) async throws(RegistryError) -> Report {
        let scratch = FSPath.under(temporaryDirectory, "kiln-copy-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        } catch {
            throw RegistryError.localIO(path: scratch, reason: "cannot create: \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(atPath: scratch) }

        let top = try await client.manifest(source)
        var report = Report(digest: top.digest, mediaType: top.mediaType, size: Int64(top.data.count))
        try await copyTree(top, client: client, scratch: scratch, report: &report)
        let target: Reference
        if destination.tag != nil || destination.digest != nil {
            target = destination.tag != nil ? destination : destination.withDigest(top.digest)
        } else {
            target = destination.withDigest(top.digest)
        }
        try await client.putManifest(top.data, mediaType: top.mediaType, to: target)
        report.manifestsPushed += 1
        return report
    }

    private func copyTree(_ fetched: RegistryClient.FetchedManifest, client: RegistryClient, scratch: String, report: inout Report) async throws(RegistryError) {
        let document: ManifestDocument
        do {
            document = try fetched.document()
        } catch {
            throw RegistryError.document(url: source.description, error)
        }
        switch document {
        case .index(let index):
            for child in index.manifests {
                guard MediaType.isManifest(child.mediaType) || MediaType.isIndex(child.mediaType) else {
                    // BuildKit cache indexes list layers and a cache config directly.
                    try await copyBlobs([child], client: client, scratch: scratch, report: &report)
                    continue
                }
                let childRef = source.withDigest(child.digest)
                let sub = try await client.manifest(childRef)
                try await copyTree(sub, client: client, scratch: scratch, report: &report)
                try await client.putManifest(sub.data, mediaType: sub.mediaType, to: destination.withDigest(sub.digest).untagged())
                report.manifestsPushed += 1
            }
        case .manifest(let manifest):
            let blobs = [manifest.config] + manifest.layers.filter { !(MediaType.isNonDistributable($0.mediaType) && !($0.urls ?? []).isEmpty) }
            try await copyBlobs(blobs, client: client, scratch: scratch, report: &report)
        }
    }

    private func copyBlobs(_ blobs: [Descriptor], client: RegistryClient, scratch: String, report: inout Report) async throws(RegistryError) {
        var unique: [Descriptor] = []
        var seen = Set<Digest>()
        for b in blobs where seen.insert(b.digest).inserted { unique.append(b) }
        let source = self.source, destination = self.destination, parallelism = self.parallelism
        let outcomes: [(BlobPushOutcome, Int64)]
        do {
            outcomes = try await mapConcurrently(unique, limit: parallelism) { blob in
                try await Self.copyBlob(blob, from: source, to: destination, client: client, scratch: scratch)
            }
        } catch let e as RegistryError {
            throw e
        } catch {
            throw RegistryError.localIO(path: scratch, reason: ErrorText.describe(error))
        }
        for (outcome, size) in outcomes {
            switch outcome {
            case .existed: report.blobsExisting += 1
            case .mounted: report.blobsMounted += 1
            case .uploaded:
                report.blobsUploaded += 1
                report.bytesUploaded += size
            }
        }
    }

    private static func copyBlob(_ blob: Descriptor, from source: Reference, to destination: Reference, client: RegistryClient, scratch: String) async throws(RegistryError) -> (BlobPushOutcome, Int64) {
        if try await client.blobSize(blob.digest, in: destination) != nil { return (.existed, 0) }
        var session: String?
        if source.apiHost == destination.apiHost && source.repository != destination.repository {
            switch try await client.mount(blob.digest, from: source, to: destination) {
            case .mounted: return (.mounted(from: source.repository), 0)
            case .session(let location): session = location
            }
        }
        let file = FSPath.under(scratch, blob.digest.encoded)
        try await client.fetchBlob(blob, from: source, to: file)
        defer { try? FileManager.default.removeItem(atPath: file) }
        try await client.uploadFile(blob, path: file, to: destination, location: session)
        return (.uploaded, blob.size)
    }
}

extension Reference {
    /// The same repository pinned to its digest only (no tag), for pushing index children.
    func untagged() -> Reference {
        guard let digest else { return self }
        return (try? Reference(registry: registry, repository: repository, tag: nil, digest: digest)) ?? self
    }
}
