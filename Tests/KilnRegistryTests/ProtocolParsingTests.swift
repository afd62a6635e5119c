import Foundation
@testable import KilnRegistry
import Testing

/// Header grammars the client depends on.
@Suite struct ProtocolParsingTests {
    @Test func bearerChallengeWithEscapesAndSeveralParameters() {
        let c = AuthChallenge.parse(#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope""#)
        #expect(c.count == 1)
        #expect(c[0].scheme == "bearer")
        #expect(c[0].realm == "https://auth.example/token")
        #expect(c[0].service == "registry.example")
        #expect(c[0].scopes == ["repository:a/b:pull,push", "repository:c:pull"])
        #expect(c[0].isInsufficientScope)
        let two = AuthChallenge.parse(#"Basic realm="x \"quoted\"", Bearer realm="y""#)
        #expect(two.map(\.scheme) == ["basic", "bearer"])
        #expect(two[0].realm == #"x "quoted""#)
    }

    @Test func scopesMergeByRepository() {
        let merged = AuthScope.merge([.pull("a"), .push("a"), .pull("b")])
        #expect(merged.map(\.description) == ["repository:a:pull,push", "repository:b:pull"])
        #expect(AuthScope(parsing: "repository:host:5000/x:pull")?.repository == "host:5000/x")
        #expect(AuthScope(parsing: "registry:catalog:*") == nil)
    }

    @Test func linkHeaderNextPage() {
        #expect(RegistryClient.nextLink(#"</v2/a/tags/list?last=b&n=2>; rel="next""#) == "/v2/a/tags/list?last=b&n=2")
        #expect(RegistryClient.nextLink(#"<https://x/prev>; rel="prev", <https://x/next>; rel="next""#) == "https://x/next")
        #expect(RegistryClient.nextLink(nil) == nil)
    }

    @Test func ranges() {
        #expect(RegistryClient.rangeEnd("0-1023") == 1023)
        #expect(RegistryClient.rangeEnd("bytes=0-9") == 9)
        #expect(RegistryClient.rangeStart("bytes 100-199/200") == 100)
    }

    @Test func retryAfterSecondsAndDates() {
        #expect(RetryPolicy.parseRetryAfter("3") == .seconds(3))
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let d = RetryPolicy.parseRetryAfter("Tue, 14 Nov 2023 22:13:25 GMT", now: now)
        #expect(d == .seconds(5))
        #expect(RetryPolicy.parseRetryAfter("soon") == nil)
    }

    @Test func retryDelaysGrowAndStayBounded() {
        let p = RetryPolicy(maxAttempts: 10, baseDelay: .milliseconds(100), maxDelay: .seconds(1))
        for attempt in 1...10 {
            let d = p.delay(afterAttempt: attempt)
            #expect(d <= .seconds(1))
            #expect(d >= .milliseconds(50))
        }
        #expect(p.delay(afterAttempt: 1, retryAfter: .seconds(30)) == .seconds(1))
        #expect(RetryPolicy.isRetryable(status: 429))
        #expect(RetryPolicy.isRetryable(status: 503))
        #expect(!RetryPolicy.isRetryable(status: 501))
        #expect(!RetryPolicy.isRetryable(status: 404))
    }

    @Test func loopbackHostsArePlainHTTP() {
        let c = RegistryConfiguration()
        for h in ["localhost", "localhost:5000", "127.0.0.1:1", "127.3.4.5", "[::1]:5000"] {
            #expect(c.usesPlainHTTP(h), "\(h)")
        }
        for h in ["example.com", "10.0.0.1:5000", "128.0.0.1", "localhost.example.com"] {
            #expect(!c.usesPlainHTTP(h), "\(h)")
        }
        var insecure = RegistryConfiguration()
        insecure.insecureHosts = ["reg.internal:5000"]
        #expect(insecure.usesPlainHTTP("reg.internal:5000"))
    }
}
