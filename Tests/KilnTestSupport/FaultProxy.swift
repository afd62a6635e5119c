import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// An HTTP proxy in front of a real registry that injects faults into chosen requests:
/// error statuses, `429` with `Retry-After`, connections reset in the middle of a response
/// body or of a request body, and tampered bodies. Everything else is forwarded untouched
/// (Location headers are rewritten to point back at the proxy).
public final class FaultProxy: Sendable {
    /// What to do to a matching request.
    public enum Fault: Sendable {
        /// Answer with this status (and headers) without forwarding.
        case status(Int, headers: [String: String] = [:])
        /// Forward, then send only this many bytes of the response body and close.
        case resetResponse(afterBytes: Int)
        /// Forward, then send only this many bytes of the response body and fall silent,
        /// keeping the connection open (a peer that stops answering mid-body).
        case stallResponse(afterBytes: Int)
        /// Close the connection after this many request-body bytes; nothing is forwarded.
        case resetRequest(afterBytes: Int)
        /// Forward, then flip one byte of the response body.
        case tamper
        /// Answer `307 Temporary Redirect` to this URL without forwarding (blob storage redirects).
        case redirect(to: String)
    }

    /// A fault applied to the next `times` requests that match.
    public struct Rule: Sendable {
        /// Which requests.
        public var matches: @Sendable (HTTPRequestHead) -> Bool
        /// The fault.
        public var fault: Fault
        /// How many matching requests get it.
        public var times: Int
        /// Only every `every`-th matching request gets it (1: each one).
        public var every = 1
        var seen = 0

        /// A rule.
        public init(times: Int = 1, fault: Fault, matches: @escaping @Sendable (HTTPRequestHead) -> Bool) {
            self.matches = matches
            self.fault = fault
            self.times = times
        }

        /// A rule for requests with `method` whose URI contains `text` (no NIO types needed).
        public static func requests(_ method: String, containing text: String, times: Int = 1, fault: Fault) -> Rule {
            Rule(times: times, fault: fault) { $0.method.rawValue == method && $0.uri.contains(text) }
        }

        /// `fault` for every second request to the registry API, forever.
        public static func everySecondRequest(_ fault: Fault) -> Rule {
            var r = Rule(times: .max, fault: fault) { $0.uri.hasPrefix("/v2/") }
            r.every = 2
            return r
        }
    }

    /// One request the proxy saw and what it did.
    public struct Entry: Sendable, CustomStringConvertible {
        /// Method.
        public var method: String
        /// Request URI.
        public var uri: String
        /// Status sent (0 for a reset).
        public var status: Int
        /// The fault applied, if any.
        public var fault: String?
        /// The `Range` request header.
        public var range: String?
        /// `METHOD URI -> status [fault]`.
        public var description: String { "\(method) \(uri) -> \(status)\(fault.map { " [\($0)]" } ?? "")" }
    }

    /// `127.0.0.1:PORT` of the proxy.
    public let host: String
    private let upstream: String
    private let server: HTTPTestServer
    private let client: HTTPClient
    private let state: ProxyState

    /// Starts a proxy forwarding to `upstream` (`127.0.0.1:PORT`, plain HTTP).
    public init(upstream: String) async throws {
        let state = ProxyState()
        let client = HTTPClient(eventLoopGroupProvider: .singleton,
                                configuration: .init(redirectConfiguration: .disallow, decompression: .disabled))
        let upstreamURL = "http://\(upstream)"
        server = try await HTTPTestServer(
            resetRequestAfter: { head in
                guard case .resetRequest(let n) = state.take(head, resetOnly: true) else { return nil }
                state.append(Entry(method: head.method.rawValue, uri: head.uri, status: 0, fault: "reset request after \(n)", range: nil))
                return n
            },
            handler: { request in
                let head = request.head
                let fault = state.take(head, resetOnly: false)
                func log(_ status: Int, _ note: String?) {
                    state.append(Entry(method: head.method.rawValue, uri: head.uri, status: status, fault: note,
                                       range: head.headers.first(name: "Range")))
                }
                if case .redirect(let target) = fault {
                    var h = HTTPHeaders()
                    h.add(name: "Location", value: target)
                    log(307, "redirect")
                    return .init(status: .temporaryRedirect, headers: h)
                }
                if case .status(let code, let extra) = fault {
                    var h = HTTPHeaders()
                    for (k, v) in extra { h.add(name: k, value: v) }
                    h.add(name: "Content-Type", value: "application/json")
                    log(code, "injected \(code)")
                    return .init(status: .init(statusCode: code), headers: h,
                                 body: ByteBuffer(string: #"{"errors":[{"code":"INJECTED","message":"fault proxy"}]}"#))
                }
                var out = HTTPClientRequest(url: upstreamURL + head.uri)
                out.method = head.method
                for (name, value) in head.headers where !["host", "content-length", "connection", "transfer-encoding"].contains(name.lowercased()) {
                    out.headers.add(name: name, value: value)
                }
                if request.body.readableBytes > 0 || [.PUT, .POST, .PATCH].contains(head.method) {
                    out.body = .bytes(request.body)
                }
                do {
                    let resp = try await client.execute(out, timeout: .seconds(120))
                    var body = try await resp.body.collect(upTo: 1 << 30)
                    var headers = HTTPHeaders()
                    let me = state.proxyHost
                    for (name, value) in resp.headers where !["transfer-encoding", "connection"].contains(name.lowercased()) {
                        if name.lowercased() == "location" {
                            headers.add(name: name, value: value.replacingOccurrences(of: upstreamURL, with: "http://\(me)"))
                        } else if name.lowercased() == "content-length" && head.method != .HEAD {
                            continue
                        } else {
                            headers.add(name: name, value: value)
                        }
                    }
                    switch fault {
                    case .resetResponse(let n):
                        log(Int(resp.status.code), "reset response after \(n)")
                        return .init(status: resp.status, headers: headers, body: body, cutAfter: n)
                    case .stallResponse(let n):
                        log(Int(resp.status.code), "stall response after \(n)")
                        var stalled = HTTPTestServer.Response(status: resp.status, headers: headers, body: body, cutAfter: n)
                        stalled.stall = true
                        return stalled
                    case .tamper:
                        if body.readableBytes > 0, let b = body.getInteger(at: body.readerIndex, as: UInt8.self) {
                            body.setInteger(b ^ 0x01, at: body.readerIndex)
                        }
                        log(Int(resp.status.code), "tampered")
                    default:
                        log(Int(resp.status.code), nil)
                    }
                    return .init(status: resp.status, headers: headers, body: body)
                } catch {
                    log(502, "upstream error \(error)")
                    return .init(status: .badGateway)
                }
            })
        host = "127.0.0.1:\(server.port)"
        state.proxyHost = "127.0.0.1:\(server.port)"
        self.upstream = upstream
        self.client = client
        self.state = state
    }

    /// Adds a rule (rules are tried in the order added).
    public func inject(_ rule: Rule) { state.m.withLock { $0.rules.append(rule) } }

    /// Every request seen so far.
    public var log: [Entry] { state.m.withLock { $0.log } }

    /// Forgets rules and log.
    public func reset() { state.m.withLock { $0.rules = []; $0.log = [] } }

    /// Stops the proxy.
    public func stop() async {
        await server.stop()
        try? await client.shutdown()
    }
}

/// The proxy's rules and log, shared by its connection handlers.
private final class ProxyState: Sendable {
    struct Inner {
        var rules: [FaultProxy.Rule] = []
        var log: [FaultProxy.Entry] = []
        var host = ""
    }

    let m = Mutex(Inner())

    /// The proxy's own `host:port`, known once its server runs.
    var proxyHost: String {
        get { m.withLock { $0.host } }
        set { m.withLock { $0.host = newValue } }
    }

    func append(_ e: FaultProxy.Entry) { m.withLock { $0.log.append(e) } }

    /// Consumes one use of the first matching rule; reset-request rules are taken only when
    /// `resetOnly`, the others only when not.
    func take(_ head: HTTPRequestHead, resetOnly: Bool) -> FaultProxy.Fault? {
        m.withLock { s in
            guard let i = s.rules.firstIndex(where: { r in
                guard r.times > 0, r.matches(head) else { return false }
                if case .resetRequest = r.fault { return resetOnly }
                return !resetOnly
            }) else { return nil }
            s.rules[i].seen += 1
            guard s.rules[i].seen % s.rules[i].every == 0 else { return nil }
            s.rules[i].times -= 1
            return s.rules[i].fault
        }
    }
}
