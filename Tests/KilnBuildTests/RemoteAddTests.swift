import Foundation
import KilnArchive
import KilnDockerfile
import KilnOCI
import KilnRegistry
import KilnSolver
import KilnStore
import KilnTestSupport
import KilnBuild
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import KilnProgress

/// `ADD <url>`: downloaded from a real HTTP server, keyed by what was downloaded, written as
/// BuildKit writes it (mode 0600, Last-Modified as mtime, name from the URL or
/// Content-Disposition, archives kept whole unless `--unpack`), `--checksum` enforced.
@Suite struct RemoteAddTests {
    /// Serves `/hello.txt` (changeable), `/dl` (with a Content-Disposition name) and `/a.tar`.
    final class Files: Sendable {
        let hello = Mutex("hello remote\n")
        /// Full (200) answers for `/hello.txt`; a matching `If-None-Match` gets a 304 instead.
        let helloBodies = Mutex(0)
        let tar: Data

        init(dir: TemporaryDirectory) throws {
            try FileManager.default.createDirectory(atPath: dir.file("tree"), withIntermediateDirectories: true)
            try "inside\n".write(toFile: dir.file("tree/inner.txt"), atomically: true, encoding: .utf8)
            let sink = try FileSink(path: dir.file("a.tar"))
            let writer = TarWriter(sink: sink)
            try LayerPacker().pack(directory: dir.file("tree"), into: writer)
            try writer.finish()
            tar = try Data(contentsOf: URL(fileURLWithPath: dir.file("a.tar")))
        }

        func respond(_ r: HTTPTestServer.Request) -> HTTPTestServer.Response {
            var headers = HTTPHeaders()
            let body: Data
            switch r.head.uri {
            case "/hello.txt":
                body = Data(hello.withLock { $0 }.utf8)
                let etag = "\"\(Digest.of(body).encoded.prefix(12))\""
                if r.head.headers.first(name: "If-None-Match") == etag { return .init(status: .notModified) }
                helloBodies.withLock { $0 += 1 }
                headers.add(name: "ETag", value: etag)
                headers.add(name: "Last-Modified", value: "Wed, 21 Oct 2015 07:28:00 GMT")
            case "/dl?id=7":
                body = Data("payload".utf8)
                headers.add(name: "Content-Disposition", value: "attachment; filename=\"named.bin\"")
            case "/a.tar":
                body = tar
            default:
                return .init(status: .notFound)
            }
            headers.add(name: "Content-Length", value: String(body.count))
            return .init(status: .ok, headers: headers, body: ByteBuffer(bytes: body))
        }
    }

    static func build(_ dockerfile: String, root: String, context: String) async throws -> (chain: [CachedLayer], outcomes: [String: BuildResult.StepOutcome]) {
        let built = try await TestBuild.run(dockerfile, context: context, root: root)
        return (built.chain, built.result.steps)
    }

    @Test func downloadsAreWrittenAsBuildKitWritesThemAndKeyedByContent() async throws {
        let dir = try TemporaryDirectory()
        let files = try Files(dir: dir)
        let server = try await HTTPTestServer { files.respond($0) }
        let h = "http://127.0.0.1:\(server.port)"
        try FileManager.default.createDirectory(atPath: dir.file("ctx"), withIntermediateDirectories: true)
        let dockerfile = """
        FROM scratch
        ADD \(h)/dl?id=7 /d/
        ADD \(h)/a.tar /keep/
        ADD --unpack=true \(h)/a.tar /x/
        ADD \(h)/hello.txt /opt/
        ADD --chmod=644 \(h)/hello.txt /renamed.txt
        """
        let first = try await Self.build(dockerfile, root: dir.file("root"), context: dir.file("ctx"))
        var all: [String: (TarEntry, String)] = [:]
        for l in first.chain { all.merge(try TestLayers.entries(l, root: dir.file("root"))) { _, b in b } }
        let hello = try #require(all["opt/hello.txt"])
        #expect(hello.1 == "hello remote\n")
        #expect(hello.0.mode & 0o7777 == 0o600)
        #expect(hello.0.mtime == 1_445_412_480)
        #expect(all["renamed.txt"].map { $0.0.mode & 0o7777 } == 0o644)
        #expect(all["d/named.bin"]?.1 == "payload")
        #expect(all["keep/a.tar"]?.0.kind == .regular)
        #expect(all["x/inner.txt"]?.1 == "inside\n")
        // The directory --unpack creates is made as a copy makes it: deterministic mtime, root-owned.
        let unpackedDir = try #require(all.first { $0.key == "x" || $0.key == "x/" }?.value.0)
        #expect(unpackedDir.mtime == 0 && unpackedDir.uid == 0)

        // Unchanged: the server is only asked (304), nothing is sent again, everything hits.
        let bodiesBefore = files.helloBodies.withLock { $0 }
        #expect(bodiesBefore == 1, "one download for two steps naming the URL")
        let again = try await Self.build(dockerfile, root: dir.file("root"), context: dir.file("ctx"))
        #expect(files.helloBodies.withLock { $0 } == bodiesBefore)
        #expect(again.outcomes.values.allSatisfy { $0 == .cached })

        // Same URL, new bytes: the steps that read it run again, the ones before them hit.
        files.hello.withLock { $0 = "changed\n" }
        let second = try await Self.build(dockerfile, root: dir.file("root"), context: dir.file("ctx"))
        let helloSteps = second.outcomes.filter { $0.key.contains("hello.txt") }
        #expect(helloSteps.count == 2 && helloSteps.values.allSatisfy { $0 == .executed })
        #expect(second.outcomes.filter { !$0.key.contains("hello.txt") }.count == 3)
        #expect(second.outcomes.filter { !$0.key.contains("hello.txt") }.values.allSatisfy { $0 == .cached })
        var after: [String: (TarEntry, String)] = [:]
        for l in second.chain { after.merge(try TestLayers.entries(l, root: dir.file("root"))) { _, b in b } }
        #expect(after["opt/hello.txt"]?.1 == "changed\n")
        await server.stop()
    }

    @Test func checksumIsEnforcedAndCopyTakesNoURLs() async throws {
        let dir = try TemporaryDirectory()
        let files = try Files(dir: dir)
        let server = try await HTTPTestServer { files.respond($0) }
        let h = "http://127.0.0.1:\(server.port)"
        try FileManager.default.createDirectory(atPath: dir.file("ctx"), withIntermediateDirectories: true)
        let right = Digest.of(Data("payload".utf8))
        let ok = try await Self.build("FROM scratch\nADD --checksum=\(right) \(h)/dl?id=7 /p\n", root: dir.file("r1"), context: dir.file("ctx"))
        #expect(ok.chain.count == 1)
        let wrong = Digest.of(Data("other".utf8))
        await #expect(throws: BuildError.self) {
            _ = try await Self.build("FROM scratch\nADD --checksum=\(wrong) \(h)/dl?id=7 /p\n", root: dir.file("r2"), context: dir.file("ctx"))
        }
        await #expect(throws: DockerfileError.self) {
            _ = try await Self.build("FROM scratch\nCOPY \(h)/dl?id=7 /p\n", root: dir.file("r3"), context: dir.file("ctx"))
        }
        await #expect(throws: DockerfileError.self) {
            _ = try await Self.build("FROM scratch\nADD https://example.com/repo.git /src\n", root: dir.file("r4"), context: dir.file("ctx"))
        }
        let leaked = await #expect(throws: DockerfileError.self) {
            _ = try await Self.build("FROM scratch\nADD http://me:s3cret@127.0.0.1:\(server.port)/dl?id=7 /p\n", root: dir.file("r6"), context: dir.file("ctx"))
        }
        #expect(leaked.map { !"\($0)".contains("s3cret") } == true, "the error repeats the password")
        await #expect(throws: (any Error).self) {
            _ = try await Self.build("FROM scratch\nADD \(h)/missing /p\n", root: dir.file("r5"), context: dir.file("ctx"))
        }
        await server.stop()
    }
}
