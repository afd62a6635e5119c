import AsyncHTTPClient
import Foundation
import KilnOCI
import NIOCore
import KilnSystem
import NIOHTTP1

/// Hears how far a download has written: the file and the bytes from its start that are there.
public typealias WriteObserver = @Sendable (_ path: String, _ bytes: Int64) -> Void

extension RegistryClient {
    /// HEADs a blob: its size when `repository` holds it, `nil` when it does not.
    public func blobSize(_ digest: Digest, in repository: Reference) async throws(RegistryError) -> Int64? {
        let u = url(repository, "blobs/\(digest)")
        let resp: HTTPClientResponse
        do {
            resp = try await session.send(RegistryRequest(
                method: .HEAD, url: u, host: repository.apiHost, scopes: [.pull(repository.repository)],
                accept: [200], what: "blob \(digest)"))
        } catch let e where e.isNotFound {
            return nil
        }
        await session.drain(resp)
        return resp.headers.first(name: "Content-Length").flatMap(Int64.init) ?? -1
    }

    /// GETs a small blob (a config, a cache config) into memory, verified against its digest.
    public func blobData(_ descriptor: Descriptor, from repository: Reference, limit: Int = 64 << 20) async throws(RegistryError) -> Data {
        try await pulling(repository) { (source) throws(RegistryError) in try await self.blobData(descriptor, source: source, limit: limit) }
    }

    private func blobData(_ descriptor: Descriptor, source repository: Reference, limit: Int) async throws(RegistryError) -> Data {
        let u = url(repository, "blobs/\(descriptor.digest)")
        guard descriptor.size <= limit else {
            throw RegistryError.invalidResponse(url: u, reason: "blob of \(descriptor.size) bytes is too large to hold in memory")
        }
        let resp = try await session.send(RegistryRequest(
            method: .GET, url: u, host: repository.apiHost, scopes: [.pull(repository.repository)],
            accept: [200], what: "blob \(descriptor.digest)"))
        let data = try await session.collectBody(resp, limit: Int(descriptor.size) + 1, url: u)
        session.countDownloaded(Int64(data.count))
        guard Int64(data.count) == descriptor.size else {
            throw RegistryError.sizeMismatch(url: u, expected: descriptor.size, actual: Int64(data.count))
        }
        let actual = Digest.of(data, algorithm: descriptor.digest.algorithm)
        guard actual == descriptor.digest else {
            throw RegistryError.digestMismatch(url: u, expected: descriptor.digest, actual: actual)
        }
        return data
    }

    /// Streams a blob into the file at `path`, verifying size and digest before the file appears.
    ///
    /// The bytes go to `path.part` (closed on every path, removed on failure), renamed to
    /// `path` only once size and digest match. A connection that drops mid-body is resumed with a `Range` request from the
    /// last byte written; a server that ignores `Range` restarts the download from zero.
    ///
    /// `written`, when given, hears after every write how many bytes from the start of the blob
    /// are in the file it names (the partial file), so a reader can follow the download.
    /// Returns the repository that served it (a mirror, or `repository` itself).
    @discardableResult
    public func fetchBlob(_ descriptor: Descriptor, from repository: Reference, to path: String,
                          written: WriteObserver? = nil) async throws(RegistryError) -> Reference {
        try await pullingFrom(repository) { (source) throws(RegistryError) in
            try await self.fetchBlob(descriptor, source: source, to: path, written: written)
        }.source
    }

    private func fetchBlob(_ descriptor: Descriptor, source repository: Reference, to path: String,
                           written: WriteObserver?) async throws(RegistryError) {
        let u = url(repository, "blobs/\(descriptor.digest)")
        do {
            try await session.withTransferPermit(host: repository.apiHost) {
                try await self.download(descriptor, url: u, repository: repository, path: path, written: written)
            }
        } catch let e as RegistryError {
            throw e
        } catch {
            throw RegistryError.localIO(path: path, reason: ErrorText.describe(error))
        }
    }

    private func download(_ descriptor: Descriptor, url u: String, repository: Reference, path: String,
                          written: WriteObserver?) async throws {
        let partial = path + ".part"
        do {
            let file = try BlobFile.creating(partial)
            let size = try await receive(descriptor, url: u, repository: repository, into: file, written: written)
            try await file.finish(size: size)
            guard rename(partial, path) == 0 else { throw RegistryError.localIO(path: path, reason: "rename: \(errnoText(errno))") }
        } catch {
            unlink(partial)
            throw error
        }
    }

    /// Receives the blob's bytes into `handle`, resuming after dropped connections; returns the
    /// number of bytes once they match the descriptor's digest.
    private func receive(_ descriptor: Descriptor, url u: String, repository: Reference, into handle: BlobFile,
                         written: WriteObserver?) async throws -> Int64 {
        var hasher = DigestHasher(algorithm: descriptor.digest.algorithm)
        var offset: Int64 = 0
        var failures = 0
        let maxFailures = session.configuration.retry.maxAttempts
        var pending = ByteBuffer()
        pending.reserveCapacity(1 << 20)

        while true {
            var headers = HTTPHeaders()
            if offset > 0 { headers.add(name: "Range", value: "bytes=\(offset)-") }
            let resp = try await session.send(RegistryRequest(
                method: .GET, url: u, host: repository.apiHost, scopes: [.pull(repository.repository)],
                headers: headers, accept: [200, 206], what: "blob \(descriptor.digest)"))
            if resp.status.code == 200 && offset > 0 {
                session.logger.debug("\(u): server ignored Range, restarting from 0")
                offset = 0
                hasher = DigestHasher(algorithm: descriptor.digest.algorithm)
            } else if resp.status.code == 206 {
                let start = Self.rangeStart(resp.headers.first(name: "Content-Range"))
                if start != offset {
                    await session.drain(resp)
                    throw RegistryError.invalidResponse(url: u, reason: "asked for bytes from \(offset), got range starting at \(start.map(String.init) ?? "?")")
                }
            }
            do {
                for try await chunk in resp.body {
                    guard offset + Int64(chunk.readableBytes) <= descriptor.size else {
                        throw RegistryError.sizeMismatch(url: u, expected: descriptor.size, actual: offset + Int64(chunk.readableBytes))
                    }
                    chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                    var c = chunk
                    pending.writeBuffer(&c)
                    if pending.readableBytes >= 1 << 20 {
                        try await flush(&pending, to: handle, endingAt: offset + Int64(chunk.readableBytes))
                        written?(handle.path, offset + Int64(chunk.readableBytes))
                    }
                    offset += Int64(chunk.readableBytes)
                    session.countDownloaded(Int64(chunk.readableBytes))
                }
                try await flush(&pending, to: handle, endingAt: offset)
                written?(handle.path, offset)
            } catch let e as RegistryError {
                throw e
            } catch {
                // Keep what reached the file; the next request resumes after it.
                try await flush(&pending, to: handle, endingAt: offset)
                written?(handle.path, offset)
                failures += 1
                session.logger.debug("\(u): body interrupted at \(offset)/\(descriptor.size) bytes (\(failures)/\(maxFailures)): \(error)")
                if Task.isCancelled || failures >= maxFailures {
                    throw RegistryError.transport(method: "GET", url: u, attempts: failures,
                                                  underlying: RegistrySession.describe(error))
                }
                try await session.sleep(session.configuration.retry.delay(afterAttempt: failures))
                continue
            }
            if offset < descriptor.size {
                failures += 1
                if failures >= maxFailures {
                    throw RegistryError.sizeMismatch(url: u, expected: descriptor.size, actual: offset)
                }
                continue
            }
            break
        }
        let actual = hasher.finalize()
        guard actual == descriptor.digest else {
            throw RegistryError.digestMismatch(url: u, expected: descriptor.digest, actual: actual)
        }
        return offset
    }

    private func flush(_ pending: inout ByteBuffer, to handle: BlobFile, endingAt end: Int64) async throws {
        guard pending.readableBytes > 0 else { return }
        let start = end - Int64(pending.readableBytes)
        try await handle.write(pending, at: start)
        pending.clear()
    }

    /// The first byte of a `Content-Range: bytes A-B/N` header.
    static func rangeStart(_ header: String?) -> Int64? {
        guard let header, let r = header.split(separator: " ").last,
              let dash = r.firstIndex(of: "-") else { return nil }
        return Int64(r[..<dash])
    }
}
