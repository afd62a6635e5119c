import AsyncHTTPClient
import Foundation
import KilnOCI
import KilnSystem
import NIOCore
import NIOHTTP1

/// A file downloaded from a URL (the source of `ADD https://…`).
public struct DownloadedFile: Sendable, Hashable {
    /// The URL asked for.
    public var url: String
    /// sha256 of the bytes.
    public var digest: Digest
    /// Their number.
    public var size: Int64
    /// The name the file takes in a destination directory: `Content-Disposition`'s filename,
    /// else the last segment of the URL path.
    public var fileName: String
    /// `Last-Modified`, in seconds since the epoch, when the server sent one.
    public var lastModified: Int64?
    /// The `ETag` header, to ask next time whether the file changed.
    public var etag: String?
    /// The `Last-Modified` header as sent, for `If-Modified-Since`.
    public var lastModifiedHeader: String?
}

/// What a conditional download found.
public enum DownloadOutcome: Sendable, Hashable {
    /// The server says the copy we have is current (`304 Not Modified`).
    case notModified
    /// New bytes.
    case downloaded(DownloadedFile)
}

extension RegistryClient {
    /// Downloads `url` (http or https; redirects followed; no registry credentials sent) into
    /// `path`, hashing while writing. With `etag` or `lastModified` from an earlier download the
    /// request is conditional and an unchanged file is not sent again. A broken transfer starts
    /// over, as often as the retry policy allows.
    public func download(url: String, to path: String, etag: String? = nil, lastModified: String? = nil) async throws(RegistryError) -> DownloadOutcome {
        guard let parsed = URL(string: url), let host = parsed.host, ["http", "https"].contains(parsed.scheme ?? "") else {
            throw RegistryError.configuration("\(url) is not an http or https URL")
        }
        let hostPort = parsed.port.map { "\(host):\($0)" } ?? host
        var failures = 0
        while true {
            do {
                return try await session.withTransferPermit(host: hostPort) {
                    try await self.receiveFile(url: url, host: hostPort, to: path, etag: etag, lastModified: lastModified)
                }
            } catch let e as RegistryError {
                throw e
            } catch {
                failures += 1
                if Task.isCancelled || failures >= session.configuration.retry.maxAttempts {
                    throw RegistryError.transport(method: "GET", url: url, attempts: failures, underlying: RegistrySession.describe(error))
                }
                try await session.sleep(session.configuration.retry.delay(afterAttempt: failures))
            }
        }
    }

    private func receiveFile(url: String, host: String, to path: String, etag: String?, lastModified: String?) async throws -> DownloadOutcome {
        var headers = HTTPHeaders()
        if let etag { headers.add(name: "If-None-Match", value: etag) }
        if let lastModified { headers.add(name: "If-Modified-Since", value: lastModified) }
        var request = RegistryRequest(method: .GET, url: url, host: host, scopes: [], headers: headers, accept: [200, 304], what: url)
        request.authenticate = false
        let resp = try await session.send(request)
        if resp.status.code == 304 {
            await session.drain(resp)
            return .notModified
        }
        let partial = path + ".part"
        var hasher = DigestHasher(algorithm: .sha256)
        var offset: Int64 = 0
        do {
            let file = try BlobFile.creating(partial)
            for try await chunk in resp.body {
                chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                try await file.write(chunk, at: offset)
                offset += Int64(chunk.readableBytes)
                session.countDownloaded(Int64(chunk.readableBytes))
            }
            if let expected = resp.headers.first(name: "Content-Length").flatMap(Int64.init), expected != offset {
                throw RegistryError.sizeMismatch(url: url, expected: expected, actual: offset)
            }
            try await file.finish(size: offset)
            guard rename(partial, path) == 0 else { throw RegistryError.localIO(path: path, reason: "rename: \(errnoText(errno))") }
        } catch {
            unlink(partial)
            throw error
        }
        let modified = resp.headers.first(name: "Last-Modified")
        return .downloaded(DownloadedFile(
            url: url, digest: hasher.finalize(), size: offset,
            fileName: Self.fileName(url: url, disposition: resp.headers.first(name: "Content-Disposition")),
            lastModified: modified.flatMap(Self.httpDate), etag: resp.headers.first(name: "ETag"), lastModifiedHeader: modified))
    }

    /// The name a downloaded file takes: `filename=` of `Content-Disposition`, else the URL
    /// path's last segment (`__unnamed__` for an empty path, as BuildKit names it), never a path.
    static func fileName(url: String, disposition: String?) -> String {
        if let d = disposition {
            for part in d.split(separator: ";") {
                let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                guard kv.count == 2, kv[0].lowercased() == "filename" else { continue }
                let name = FSPath.base(String(kv[1]).trimmingCharacters(in: CharacterSet(charactersIn: "\"")))
                if !name.isEmpty, name != ".", name != ".." { return name }
            }
        }
        let path = URL(string: url)?.path ?? ""
        let last = FSPath.base(path)
        return last.isEmpty || last == "/" || last == "." ? "__unnamed__" : last
    }

    /// An RFC 7231 date (`Sun, 06 Nov 1994 08:49:37 GMT`) as seconds since the epoch.
    static func httpDate(_ s: String) -> Int64? { Timestamp.parseHTTPDate(s) }
}
