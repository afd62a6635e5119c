import AsyncHTTPClient
import Foundation
import KilnOCI
import NIOCore
import NIOHTTP1
import KilnSystem

/// How a blob came to be in the target repository.
public enum BlobPushOutcome: Sendable, Hashable {
    /// The repository already had it (HEAD answered 200).
    case existed
    /// The registry linked it from another repository (cross-repository mount).
    case mounted(from: String)
    /// Its bytes were uploaded.
    case uploaded
}

/// What putting a blob into a repository takes, once the cheap ways were tried.
public enum BlobPushPlan: Sendable, Hashable {
    /// Done: the repository had it, or the registry mounted it from another repository.
    case done(BlobPushOutcome)
    /// Its bytes must be uploaded, into this already open upload session when there is one.
    case upload(session: String?)
}

extension RegistryClient {
    /// Puts the blob stored in the file at `path` into `repository`, as cheaply as possible:
    /// nothing when it is already there, a cross-repository mount when a repository of the same
    /// registry in `mountCandidates` holds it, else an upload streamed from the file.
    ///
    /// Blobs up to ``RegistryConfiguration/chunkSize`` go in one PUT; larger ones in PATCH
    /// chunks. After a failure the upload resumes from the offset the registry reports, or
    /// starts over when the registry has dropped the upload session.
    @discardableResult
    public func pushBlob(
        _ descriptor: Descriptor, fromFile path: String, to repository: Reference,
        mountCandidates: [Reference] = [], skipExistenceCheck: Bool = false
    ) async throws(RegistryError) -> BlobPushOutcome {
        switch try await planPush(descriptor, to: repository, mountCandidates: mountCandidates, skipExistenceCheck: skipExistenceCheck) {
        case .done(let outcome):
            return outcome
        case .upload(let session):
            try await upload(descriptor, fromFile: path, to: repository, session: session)
            return .uploaded
        }
    }

    /// The cheap part of a push: HEAD (unless skipped), then a cross-repository mount from a
    /// candidate on the same registry. Callers that must fetch a blob before uploading it ask
    /// here first, so a blob that exists or mounts is never fetched.
    public func planPush(
        _ descriptor: Descriptor, to repository: Reference, mountCandidates: [Reference] = [], skipExistenceCheck: Bool = false
    ) async throws(RegistryError) -> BlobPushPlan {
        if !skipExistenceCheck, try await blobSize(descriptor.digest, in: repository) != nil {
            return .done(.existed)
        }
        for source in mountCandidates where source.apiHost == repository.apiHost && source.repository != repository.repository {
            switch try await mount(descriptor.digest, from: source, to: repository) {
            case .mounted: return .done(.mounted(from: source.repository))
            case .session(let loc): return .upload(session: loc)
            }
        }
        return .upload(session: nil)
    }

    /// Uploads the file's bytes (see ``pushBlob(_:fromFile:to:mountCandidates:skipExistenceCheck:)``),
    /// into `session` when ``planPush(_:to:mountCandidates:skipExistenceCheck:)`` opened one.
    public func upload(_ descriptor: Descriptor, fromFile path: String, to repository: Reference, session: String?) async throws(RegistryError) {
        try await uploadFile(descriptor, path: path, to: repository, location: session)
    }

    /// Uploads the file's bytes, into the upload session at `location` when one is already open.
    func uploadFile(_ descriptor: Descriptor, path: String, to repository: Reference, location: String?) async throws(RegistryError) {
        do {
            try await session.withTransferPermit(host: repository.apiHost) {
                try await self.upload(descriptor, path: path, to: repository, initialLocation: location)
            }
        } catch let e as RegistryError {
            throw e
        } catch {
            throw RegistryError.localIO(path: path, reason: ErrorText.describe(error))
        }
    }

    /// Pushes small in-memory content (a config, a cache config) as a blob.
    @discardableResult
    public func pushBlob(_ data: Data, mediaType: String, to repository: Reference) async throws(RegistryError) -> Descriptor {
        let descriptor = Descriptor(mediaType: mediaType, digest: Digest.of(data), size: Int64(data.count))
        if try await blobSize(descriptor.digest, in: repository) != nil { return descriptor }
        let location = try await startUpload(repository)
        try await finishUpload(location: location, digest: descriptor.digest, body: .bytes(data), repository: repository, retryable: true)
        return descriptor
    }

    enum MountResult {
        case mounted
        case session(String)
    }

    /// `POST …/blobs/uploads/?mount=DIGEST&from=REPO`: 201 means linked; 202 opens an upload
    /// session instead (the source lacks the blob or the registry does not mount).
    func mount(_ digest: Digest, from source: Reference, to target: Reference) async throws(RegistryError) -> MountResult {
        let u = url(target, "blobs/uploads/?mount=\(digest)&from=\(source.repository)")
        let resp = try await session.send(RegistryRequest(
            method: .POST, url: u, host: target.apiHost,
            scopes: [.push(target.repository), .pull(source.repository)],
            accept: [201, 202], what: "blob upload to \(target.name)"))
        await session.drain(resp)
        if resp.status.code == 201 { return .mounted }
        guard let loc = resp.headers.first(name: "Location"), let next = session.resolve(loc, against: u) else {
            throw RegistryError.invalidResponse(url: u, reason: "202 without a Location header")
        }
        return .session(next)
    }

    func startUpload(_ repository: Reference) async throws(RegistryError) -> String {
        let u = url(repository, "blobs/uploads/")
        let resp = try await session.send(RegistryRequest(
            method: .POST, url: u, host: repository.apiHost, scopes: [.push(repository.repository)],
            accept: [202], what: "blob upload to \(repository.name)"))
        await session.drain(resp)
        guard let loc = resp.headers.first(name: "Location"), let next = session.resolve(loc, against: u) else {
            throw RegistryError.invalidResponse(url: u, reason: "202 without a Location header")
        }
        return next
    }

    private func upload(_ descriptor: Descriptor, path: String, to repository: Reference, initialLocation: String?) async throws(RegistryError) {
        // Closed when released, however the upload ends.
        let file = try BlobFile.reading(path)
        let size = try file.size()
        guard size == descriptor.size else {
            throw RegistryError.localIO(path: path, reason: "file has \(size) bytes, descriptor says \(descriptor.size)")
        }
        try await upload(descriptor, file: file, to: repository, initialLocation: initialLocation)
    }

    private func upload(_ descriptor: Descriptor, file handle: BlobFile, to repository: Reference, initialLocation: String?) async throws(RegistryError) {
        let size = descriptor.size
        let chunk = max(1, session.configuration.chunkSize)
        var location = initialLocation
        var offset: Int64 = 0
        var failures = 0
        let maxFailures = session.configuration.retry.maxAttempts
        let clock = ContinuousClock()
        let began = clock.now

        while true {
            do {
                let loc: String
                if let l = location { loc = l } else { loc = try await startUpload(repository) }
                location = loc
                if offset == 0 && size <= chunk {
                    try await finishUpload(location: loc, digest: descriptor.digest, body: .file(handle, 0..<size),
                                           repository: repository, retryable: false)
                    return
                }
                var current = loc
                while offset < size {
                    let end = min(offset + chunk, size)
                    let (next, reached) = try await patch(location: current, range: offset..<end, handle: handle, repository: repository)
                    current = next
                    location = next
                    offset = reached
                }
                try await finishUpload(location: current, digest: descriptor.digest, body: nil, repository: repository, retryable: true)
                return
            } catch {
                failures += 1
                session.logger.debug("upload of \(descriptor.digest) to \(repository.name) failed at \(offset)/\(size) (\(failures)/\(maxFailures)): \(error)")
                let delay = session.configuration.retry.delay(afterAttempt: failures)
                if Task.isCancelled || failures >= maxFailures || !Self.isResumable(error)
                    || !session.configuration.retry.allowsRetry(elapsed: clock.now - began, delay: delay) { throw error }
                try await session.sleep(delay)
                // A single PUT answered with a server error (a proxy's 503, a 429): its session is
                // still open at offset 0, so the same PUT goes again. After a dropped connection or
                // a chunk, ask the registry how much it kept. A session it refused (bad digest,
                // wrong offset, gone) starts over from zero.
                if case .http(_, _, let status, _, _) = error, RetryPolicy.isRetryable(status: status), offset == 0, size <= chunk,
                   location != nil {
                    continue
                }
                if Self.mayResumeSession(after: error), let loc = location,
                   let status = try? await uploadStatus(location: loc, repository: repository)
                {
                    location = status.location
                    offset = status.offset
                } else {
                    location = nil
                    offset = 0
                }
            }
        }
    }

    private static func mayResumeSession(after error: RegistryError) -> Bool {
        switch error {
        case .transport: return true
        case .http(_, _, let status, _, _): return RetryPolicy.isRetryable(status: status)
        default: return false
        }
    }

    private static func isResumable(_ error: RegistryError) -> Bool {
        switch error {
        case .transport, .sizeMismatch: return true
        case .http(_, _, let status, _, _): return RetryPolicy.isRetryable(status: status) || status == 400 || status == 416
        case .notFound: return true  // upload session vanished
        default: return false
        }
    }

    /// One PATCH of `range`; returns the next Location and the offset the registry now has.
    private func patch(location: String, range: Range<Int64>, handle: BlobFile, repository: Reference) async throws(RegistryError) -> (String, Int64) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/octet-stream")
        headers.add(name: "Content-Range", value: "\(range.lowerBound)-\(range.upperBound - 1)")
        let resp = try await session.send(RegistryRequest(
            method: .PATCH, url: location, host: repository.apiHost, scopes: [.push(repository.repository)],
            headers: headers, body: .file(handle, range), accept: [202], what: "blob upload to \(repository.name)",
            retryable: false))
        await session.drain(resp)
        guard let loc = resp.headers.first(name: "Location"), let next = session.resolve(loc, against: location) else {
            throw RegistryError.invalidResponse(url: location, reason: "PATCH answered without a Location header")
        }
        // Registries may ignore Content-Range and append: trust only the offset they report.
        let reached = Self.rangeEnd(resp.headers.first(name: "Range")).map { $0 + 1 } ?? range.upperBound
        guard reached == range.upperBound else {
            throw RegistryError.sizeMismatch(url: location, expected: range.upperBound, actual: reached)
        }
        return (next, reached)
    }

    /// `GET` on an upload session: where it continues and how many bytes it holds.
    private func uploadStatus(location: String, repository: Reference) async throws(RegistryError) -> (location: String, offset: Int64) {
        let resp = try await session.send(RegistryRequest(
            method: .GET, url: location, host: repository.apiHost, scopes: [.push(repository.repository)],
            accept: [204], what: "blob upload session"))
        await session.drain(resp)
        let next = resp.headers.first(name: "Location").flatMap { session.resolve($0, against: location) } ?? location
        // distribution answers "0-0" both for an empty session and for one holding one byte;
        // only a longer range tells the offset for sure.
        guard let end = Self.rangeEnd(resp.headers.first(name: "Range")), end > 0 else {
            throw RegistryError.invalidResponse(url: location, reason: "upload offset unknown")
        }
        return (next, end + 1)
    }

    /// Closes an upload with `PUT …?digest=`, carrying the (remaining) body if any.
    private func finishUpload(location: String, digest: Digest, body: RequestBody?, repository: Reference, retryable: Bool) async throws(RegistryError) {
        guard var comps = URLComponents(string: location) else {
            throw RegistryError.invalidResponse(url: location, reason: "unusable upload Location")
        }
        comps.queryItems = (comps.queryItems ?? []) + [URLQueryItem(name: "digest", value: digest.description)]
        guard let u = comps.url?.absoluteString else {
            throw RegistryError.invalidResponse(url: location, reason: "unusable upload Location")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/octet-stream")
        let resp = try await session.send(RegistryRequest(
            method: .PUT, url: u, host: repository.apiHost, scopes: [.push(repository.repository)],
            headers: headers, body: body, accept: [201, 204], what: "blob upload to \(repository.name)",
            retryable: retryable))
        await session.drain(resp)
        if let h = resp.headers.first(name: "Docker-Content-Digest"), let reported = try? Digest(parsing: h),
           reported.algorithm == digest.algorithm, reported != digest
        {
            throw RegistryError.digestMismatch(url: u, expected: digest, actual: reported)
        }
    }

    /// The last byte of a `Range: 0-N` header (`bytes=0-N` is accepted too).
    static func rangeEnd(_ header: String?) -> Int64? {
        guard let header, let dash = header.lastIndex(of: "-") else { return nil }
        return Int64(header[header.index(after: dash)...].trimmingCharacters(in: .whitespaces))
    }
}
