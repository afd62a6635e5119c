import AsyncHTTPClient
import Foundation
import KilnOCI
import Logging
import NIOCore
import NIOHTTP1

/// A client for the OCI distribution API: manifests, blobs and tags on any number of registries.
///
/// One client holds one connection pool, one token cache and one set of per-host transfer
/// bounds; share it across a whole command and call ``shutdown()`` at the end (or use
/// ``withClient(configuration:credentials:logger:_:)``).
public final class RegistryClient: Sendable {
    let session: RegistrySession

    /// The largest manifest accepted (distribution's own limit is 4 MiB).
    public static let maxManifestSize = 4 * 1024 * 1024

    /// A client with the given transport settings and credential source.
    public init(
        configuration: RegistryConfiguration = RegistryConfiguration(),
        credentials: any CredentialProvider = DockerConfigCredentials(),
        logger: Logger = Logger(label: "kiln.registry")
    ) throws(RegistryError) {
        session = try RegistrySession(configuration: configuration, credentials: credentials, logger: logger)
    }

    /// Runs `body` with a client and shuts it down afterwards, whatever happens.
    public static func withClient<T: Sendable>(
        configuration: RegistryConfiguration = RegistryConfiguration(),
        credentials: any CredentialProvider = DockerConfigCredentials(),
        logger: Logger = Logger(label: "kiln.registry"),
        _ body: (RegistryClient) async throws -> T
    ) async throws -> T {
        let client = try RegistryClient(configuration: configuration, credentials: credentials, logger: logger)
        do {
            let r = try await body(client)
            await client.shutdown()
            return r
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// Closes connections. The client cannot be used afterwards.
    public func shutdown() async { await session.shutdown() }

    /// Requests sent and bytes moved so far.
    public var counters: RequestCounters { session.requestCounters }

    /// Token requests sent so far.
    public func tokenRequestCount() async -> Int { await session.auth.tokenRequestCount() }

    func url(_ ref: Reference, _ path: String) -> String {
        "\(session.baseURL(host: ref.apiHost))/v2/\(ref.repository)/\(path)"
    }

    // MARK: manifests

    /// A manifest or index exactly as the registry serves it.
    public struct FetchedManifest: Sendable {
        /// The raw bytes.
        public var data: Data
        /// The media type, from `Content-Type` or the document itself.
        public var mediaType: String
        /// The verified digest of `data`.
        public var digest: Digest
        /// A descriptor of these bytes.
        public var descriptor: Descriptor { Descriptor(mediaType: mediaType, digest: digest, size: Int64(data.count)) }
        /// The decoded document.
        public func document() throws(OCIError) -> ManifestDocument {
            try ManifestDocument.decode(data, contentType: mediaType)
        }
    }

    /// GETs the manifest or index `ref` names, verifying its digest: against the reference's
    /// digest when it has one, else against `Docker-Content-Digest` when the registry sends it.
    /// Pulls go to the registry's mirrors first (see ``RegistryConfiguration/pullCandidates(_:)``).
    public func manifest(_ ref: Reference) async throws(RegistryError) -> FetchedManifest {
        try await pulling(ref) { (source) throws(RegistryError) in try await self.manifest(from: source) }
    }

    private func manifest(from ref: Reference) async throws(RegistryError) -> FetchedManifest {
        let u = url(ref, "manifests/\(ref.identifier)")
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: MediaType.manifestAcceptList.joined(separator: ", "))
        let resp = try await session.send(RegistryRequest(
            method: .GET, url: u, host: ref.apiHost, scopes: [.pull(ref.repository)], headers: headers,
            accept: [200], what: "manifest \(ref)"))
        let data = try await session.collectBody(resp, limit: Self.maxManifestSize, url: u)
        let expected: Digest?
        if let d = ref.digest {
            expected = d
        } else if let h = resp.headers.first(name: "Docker-Content-Digest") {
            expected = try? Digest(parsing: h)
        } else {
            expected = nil
        }
        let actual = Digest.of(data, algorithm: expected?.algorithm ?? .sha256)
        if let expected, expected != actual {
            throw RegistryError.digestMismatch(url: u, expected: expected, actual: actual)
        }
        let contentType = resp.headers.first(name: "Content-Type")
        let mediaType: String
        do {
            switch try ManifestDocument.decode(data, contentType: contentType) {
            case .manifest(let m): mediaType = Self.declaredType(contentType) ?? m.mediaType ?? MediaType.ociManifest
            case .index(let i): mediaType = Self.declaredType(contentType) ?? i.mediaType ?? MediaType.ociIndex
            }
        } catch {
            throw RegistryError.document(url: u, error)
        }
        return FetchedManifest(data: data, mediaType: mediaType, digest: actual)
    }

    private static func declaredType(_ contentType: String?) -> String? {
        guard let base = contentType?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces),
              MediaType.isManifest(base) || MediaType.isIndex(base)
        else { return nil }
        return base
    }

    /// HEADs `ref`: its descriptor, or `nil` when the registry has no such manifest.
    public func manifestDescriptor(_ ref: Reference) async throws(RegistryError) -> Descriptor? {
        let u = url(ref, "manifests/\(ref.identifier)")
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: MediaType.manifestAcceptList.joined(separator: ", "))
        let resp: HTTPClientResponse
        do {
            resp = try await session.send(RegistryRequest(
                method: .HEAD, url: u, host: ref.apiHost, scopes: [.pull(ref.repository)], headers: headers,
                accept: [200], what: "manifest \(ref)"))
        } catch let e where e.isNotFound {
            return nil
        }
        await session.drain(resp)
        guard let digestHeader = resp.headers.first(name: "Docker-Content-Digest"),
              let digest = try? Digest(parsing: digestHeader),
              let size = resp.headers.first(name: "Content-Length").flatMap(Int64.init),
              let type = Self.declaredType(resp.headers.first(name: "Content-Type"))
        else {
            // Not every registry answers HEAD fully; GET is authoritative.
            return try await manifest(ref).descriptor
        }
        if let want = ref.digest, want != digest {
            throw RegistryError.digestMismatch(url: u, expected: want, actual: digest)
        }
        return Descriptor(mediaType: type, digest: digest, size: size)
    }

    /// PUTs manifest bytes under `ref`'s tag (or digest) with `mediaType` as Content-Type, and
    /// returns their digest after checking the registry computed the same.
    @discardableResult
    public func putManifest(_ data: Data, mediaType: String, to ref: Reference) async throws(RegistryError) -> Digest {
        let digest = Digest.of(data)
        let identifier = ref.tag ?? ref.digest?.description ?? digest.description
        if let d = ref.digest, ref.tag == nil, d != digest {
            throw RegistryError.digestMismatch(url: ref.description, expected: d, actual: digest)
        }
        let u = url(ref, "manifests/\(identifier)")
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: mediaType)
        let resp = try await session.send(RegistryRequest(
            method: .PUT, url: u, host: ref.apiHost, scopes: [.push(ref.repository)], headers: headers,
            body: .bytes(data), accept: [200, 201, 202], what: "manifest \(ref)"))
        await session.drain(resp)
        if let h = resp.headers.first(name: "Docker-Content-Digest"), let reported = try? Digest(parsing: h),
           reported.algorithm == digest.algorithm, reported != digest
        {
            throw RegistryError.digestMismatch(url: u, expected: digest, actual: reported)
        }
        return digest
    }

    // MARK: tags

    /// Every tag of `repository`, following `Link` pagination.
    public func tags(_ repository: Reference, pageSize: Int = 1000) async throws(RegistryError) -> [String] {
        var next: String? = url(repository, "tags/list?n=\(pageSize)")
        var all: [String] = []
        var pages = 0
        while let u = next, pages < 10_000 {
            pages += 1
            let resp = try await session.send(RegistryRequest(
                method: .GET, url: u, host: repository.apiHost, scopes: [.pull(repository.repository)],
                accept: [200], what: "repository \(repository.name)"))
            let data = try await session.collectBody(resp, limit: 16 << 20, url: u)
            struct Page: Decodable { var tags: [String]? }
            guard let page = try? JSONDecoder().decode(Page.self, from: data) else {
                throw RegistryError.invalidResponse(url: u, reason: "tag list is not {\"tags\":[…]} JSON")
            }
            all.append(contentsOf: page.tags ?? [])
            next = Self.nextLink(resp.headers.first(name: "Link")).flatMap { session.resolve($0, against: u) }
        }
        return all
    }

    /// The target of `rel="next"` in a `Link` header.
    static func nextLink(_ header: String?) -> String? {
        guard let header else { return nil }
        for part in header.split(separator: ",") {
            let p = part.trimmingCharacters(in: .whitespaces)
            guard p.contains("rel=\"next\"") || p.contains("rel=next"),
                  let open = p.firstIndex(of: "<"), let close = p.firstIndex(of: ">"), open < close
            else { continue }
            return String(p[p.index(after: open)..<close])
        }
        return nil
    }
}
