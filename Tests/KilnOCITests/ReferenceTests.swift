import KilnOCI
import Testing

@Suite struct ReferenceTests {
    struct Case: Sendable, CustomStringConvertible {
        var input: String
        var registry: String
        var repository: String
        var tag: String?
        var digest: String?
        var description: String { input }
    }

    static let hex = String(repeating: "ab", count: 32)

    @Test(arguments: [
        Case(input: "busybox", registry: "docker.io", repository: "library/busybox", tag: "latest"),
        Case(input: "busybox:1.36", registry: "docker.io", repository: "library/busybox", tag: "1.36"),
        Case(input: "docker.io/busybox", registry: "docker.io", repository: "library/busybox", tag: "latest"),
        Case(input: "index.docker.io/library/busybox", registry: "docker.io", repository: "library/busybox", tag: "latest"),
        Case(input: "user/app", registry: "docker.io", repository: "user/app", tag: "latest"),
        Case(input: "ghcr.io/o/r/deep:v1.0-rc_1", registry: "ghcr.io", repository: "o/r/deep", tag: "v1.0-rc_1"),
        Case(input: "localhost/app", registry: "localhost", repository: "app", tag: "latest"),
        Case(input: "localhost:5000/app:t", registry: "localhost:5000", repository: "app", tag: "t"),
        Case(input: "127.0.0.1:5000/a/b", registry: "127.0.0.1:5000", repository: "a/b", tag: "latest"),
        Case(input: "[::1]:5000/a", registry: "[::1]:5000", repository: "a", tag: "latest"),
        Case(input: "Registry/app", registry: "Registry", repository: "app", tag: "latest"),
        Case(input: "r.io/a@sha256:" + hex, registry: "r.io", repository: "a", tag: nil, digest: "sha256:" + hex),
        Case(input: "r.io/a:t@sha256:" + hex, registry: "r.io", repository: "a", tag: "t", digest: "sha256:" + hex),
        Case(input: "r.io/a__b/c-d/e.f--g", registry: "r.io", repository: "a__b/c-d/e.f--g", tag: "latest"),
    ])
    func parsesAndNormalises(_ c: Case) throws {
        let r = try Reference(parsing: c.input)
        #expect(r.registry == c.registry)
        #expect(r.repository == c.repository)
        #expect(r.tag == c.tag)
        #expect(r.digest?.description == c.digest)
    }

    @Test(arguments: [
        "", ":tag", "upper/App", "docker.io/Library/busybox", "r.io/a:", "r.io/a:-bad", "r.io//a", "r.io/a/",
        "r.io/-a", "r.io/a_-b", "r.io/a@sha256:123", "r.io:99999/a", "bad host/a", "r.io/a:" + String(repeating: "t", count: 129),
        String(repeating: "ab", count: 32),
    ])
    func rejectsMalformed(_ input: String) {
        #expect(throws: OCIError.self) { try Reference(parsing: input) }
    }

    @Test func apiHostAndIdentifier() throws {
        let hub = try Reference(parsing: "busybox")
        #expect(hub.apiHost == "registry-1.docker.io")
        #expect(hub.identifier == "latest")
        #expect(hub.description == "docker.io/library/busybox:latest")
        let pinned = try Reference(parsing: "r.io/a:t@sha256:" + Self.hex)
        #expect(pinned.identifier == "sha256:" + Self.hex)
        #expect(pinned.apiHost == "r.io")
    }

    @Test func errorMessagesNameTheInput() {
        do {
            _ = try Reference(parsing: "UPPER/App")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("UPPER/App"))
            #expect(error.description.contains("lowercase"))
        }
    }
}
