import Foundation
import KilnOCI
import KilnRegistry
import KilnTestSupport
import NIOHTTP1
import Testing

/// Every transfer completes with verified content through a proxy that injects failures in
/// front of the real registry.
@Suite struct FaultInjectionTests {
    struct Rig {
        let registry: TestRegistry
        let proxy: FaultProxy
        let dir: TemporaryDirectory
        func ref(_ path: String) throws -> Reference { try Reference(parsing: "\(proxy.host)/\(path)") }
    }

    func withRig(_ body: (Rig) async throws -> Void) async throws {
        let registry = try await TestRegistry()
        let proxy = try await FaultProxy(upstream: registry.host)
        let rig = Rig(registry: registry, proxy: proxy, dir: try TemporaryDirectory())
        do {
            try await body(rig)
        } catch {
            await proxy.stop()
            throw error
        }
        await proxy.stop()
    }

    static func isBlobGET(_ h: HTTPRequestHead) -> Bool { h.method == .GET && h.uri.contains("/blobs/sha256:") }

    @Test func serverErrorBurstsAreRetried() async throws {
        try await withRig { rig in
            let ref = try rig.ref("f/burst")
            let blob = try makeBlob(in: rig.dir, size: 200_000)
            try await withClient { client in
                rig.proxy.inject(.init(times: 2, fault: .status(500)) { $0.method == .POST })
                rig.proxy.inject(.init(times: 3, fault: .status(503)) { $0.method == .PUT })
                rig.proxy.inject(.init(times: 2, fault: .status(502)) { Self.isBlobGET($0) })
                #expect(try await client.pushBlob(blob.descriptor, fromFile: blob.path, to: ref) == .uploaded)
                let out = rig.dir.file("out")
                try await client.fetchBlob(blob.descriptor, from: ref, to: out)
                #expect(try fileDigest(out) == blob.descriptor.digest)
            }
            let injected = rig.proxy.log.filter { $0.fault?.hasPrefix("injected") ?? false }
            #expect(injected.count == 7)
        }
    }

    @Test func tooManyRequestsHonoursRetryAfter() async throws {
        try await withRig { rig in
            let ref = try rig.ref("f/ratelimit:v1")
            try await withClient { client in
                let (digest, _) = try await pushImage(client, to: ref, dir: rig.dir)
                rig.proxy.inject(.init(times: 2, fault: .status(429, headers: ["Retry-After": "0"])) { $0.uri.contains("/manifests/") })
                #expect(try await client.manifest(ref).digest == digest)
            }
            let statuses = rig.proxy.log.filter { $0.uri.contains("/manifests/") && $0.method == "GET" }.map(\.status)
            #expect(statuses == [429, 429, 200])
        }
    }

    @Test func downloadResumesWithRangeAfterAReset() async throws {
        try await withRig { rig in
            let ref = try rig.ref("f/resume-get")
            let blob = try makeBlob(in: rig.dir, size: 3_000_000)
            try await withClient { client in
                try await client.pushBlob(blob.descriptor, fromFile: blob.path, to: ref)
                rig.proxy.inject(.init(times: 1, fault: .resetResponse(afterBytes: 1_000_000)) { Self.isBlobGET($0) })
                rig.proxy.inject(.init(times: 1, fault: .resetResponse(afterBytes: 700_000)) { Self.isBlobGET($0) && $0.headers.contains(name: "Range") })
                let out = rig.dir.file("out")
                try await client.fetchBlob(blob.descriptor, from: ref, to: out)
                #expect(try fileDigest(out) == blob.descriptor.digest)
            }
            let gets = rig.proxy.log.filter { $0.method == "GET" && $0.uri.contains("/blobs/") }
            #expect(gets.count == 3)
            #expect(gets.dropFirst().allSatisfy { $0.range != nil })
        }
    }

    @Test func chunkedUploadResumesFromTheRegistrysOffset() async throws {
        try await withRig { rig in
            let ref = try rig.ref("f/resume-patch")
            let blob = try makeBlob(in: rig.dir, size: 4 * 1024 * 1024 + 17)
            try await withClient(testConfiguration(chunkSize: 1 << 20)) { client in
                var patches = 0
                _ = patches
                rig.proxy.inject(.init(times: 1, fault: .resetRequest(afterBytes: 300_000)) { h in
                    h.method == .PATCH && (h.headers.first(name: "Content-Range")?.hasPrefix("2097152-") ?? false)
                })
                patches += 1
                #expect(try await client.pushBlob(blob.descriptor, fromFile: blob.path, to: ref) == .uploaded)
                let out = rig.dir.file("out")
                try await client.fetchBlob(blob.descriptor, from: ref, to: out)
                #expect(try fileDigest(out) == blob.descriptor.digest)
            }
            let log = rig.proxy.log
            #expect(log.filter { $0.method == "POST" }.count == 1, "resumed in the same session: \(log)")
            #expect(log.contains { $0.method == "GET" && $0.uri.contains("/blobs/uploads/") && $0.status == 204 })
            #expect(log.filter { $0.method == "PATCH" && $0.status == 202 }.count == 5)
        }
    }

    @Test func monolithicUploadRecoversFromAResetMidBody() async throws {
        try await withRig { rig in
            let ref = try rig.ref("f/resume-put")
            let blob = try makeBlob(in: rig.dir, size: 900_000)
            try await withClient { client in
                rig.proxy.inject(.init(times: 1, fault: .resetRequest(afterBytes: 400_000)) { $0.method == .PUT })
                #expect(try await client.pushBlob(blob.descriptor, fromFile: blob.path, to: ref) == .uploaded)
                let out = rig.dir.file("out")
                try await client.fetchBlob(blob.descriptor, from: ref, to: out)
                #expect(try fileDigest(out) == blob.descriptor.digest)
            }
        }
    }

    @Test func tamperedBlobIsRejectedAndLeavesNoFile() async throws {
        try await withRig { rig in
            let ref = try rig.ref("f/tamper")
            let blob = try makeBlob(in: rig.dir, size: 10_000)
            try await withClient(testConfiguration()) { client in
                try await client.pushBlob(blob.descriptor, fromFile: blob.path, to: ref)
                rig.proxy.inject(.init(times: 1, fault: .tamper) { Self.isBlobGET($0) })
                let out = rig.dir.file("out")
                await #expect {
                    try await client.fetchBlob(blob.descriptor, from: ref, to: out)
                } throws: { error in
                    guard case RegistryError.digestMismatch(_, let expected, _) = error else { return false }
                    return expected == blob.descriptor.digest
                }
                #expect(!FileManager.default.fileExists(atPath: out))
                let leftovers = try FileManager.default.contentsOfDirectory(atPath: rig.dir.path).filter { $0 != blob.path.split(separator: "/").last.map(String.init) }
                #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
            }
        }
    }

    @Test func tamperedManifestByDigestIsRejected() async throws {
        try await withRig { rig in
            let ref = try rig.ref("f/tamper-manifest:v1")
            try await withClient { client in
                let (digest, _) = try await pushImage(client, to: ref, dir: rig.dir)
                rig.proxy.inject(.init(times: 1, fault: .tamper) { $0.uri.contains("/manifests/sha256:") })
                await #expect(throws: RegistryError.self) { try await client.manifest(ref.withDigest(digest)) }
            }
        }
    }

    @Test func persistentFailureReportsStatusAndRegistryBody() async throws {
        try await withRig { rig in
            let ref = try rig.ref("f/down:v1")
            try await withClient { client in
                rig.proxy.inject(.init(times: 100, fault: .status(503)) { $0.uri.contains("/manifests/") })
                do {
                    _ = try await client.manifest(ref)
                    Issue.record("expected a failure")
                } catch let e as RegistryError {
                    #expect(e.description.contains("503"))
                    #expect(e.description.contains("INJECTED"))
                    #expect(e.description.contains(ref.repository))
                }
            }
            #expect(rig.proxy.log.count == 5)
        }
    }
}
