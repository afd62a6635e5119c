import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP/1.1 server on a free loopback port for test peers (token service, fault
/// proxy). It reads whole requests, lets a hook cut a request body short by closing the
/// connection, and can cut a response body short the same way.
public final class HTTPTestServer: Sendable {
    /// A received request.
    public struct Request: Sendable {
        /// Method, URI and headers.
        public var head: HTTPRequestHead
        /// The whole body.
        public var body: ByteBuffer
    }

    /// A response to send.
    public struct Response: Sendable {
        /// Status.
        public var status: HTTPResponseStatus
        /// Headers (Content-Length is set from the body unless present).
        public var headers: HTTPHeaders
        /// Body.
        public var body: ByteBuffer
        /// Close the connection after this many body bytes (a reset in the middle of a body).
        public var cutAfter: Int?
        /// After `cutAfter` bytes, keep the connection open and silent until the server stops.
        public var stall = false

        /// A response from its parts.
        public init(status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: ByteBuffer = ByteBuffer(), cutAfter: Int? = nil) {
            self.status = status
            self.headers = headers
            self.body = body
            self.cutAfter = cutAfter
        }
    }

    /// The port it listens on (127.0.0.1).
    public let port: Int
    private let serverChannel: any Channel
    private let acceptTask: Task<Void, Never>

    /// Starts the server. `resetRequestAfter` may return a byte count for a request: once that
    /// many body bytes have arrived the connection is closed and `handler` never sees it.
    public init(
        resetRequestAfter: @escaping @Sendable (HTTPRequestHead) -> Int? = { _ in nil },
        handler: @escaping @Sendable (Request) async -> Response
    ) async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        guard let p = server.channel.localAddress?.port else { throw ProcessRunner.Failure(description: "no port") }
        port = p
        serverChannel = server.channel
        acceptTask = Task {
            try? await server.executeThenClose { inbound in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await connection in inbound {
                            group.addTask {
                                await Self.serve(connection, resetRequestAfter: resetRequestAfter, handler: handler)
                            }
                        }
                    } catch {}
                }
            }
        }
    }

    private static func serve(
        _ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>,
        resetRequestAfter: @Sendable (HTTPRequestHead) -> Int?,
        handler: @Sendable (Request) async -> Response
    ) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            var limit: Int?
            for try await part in inbound {
                switch part {
                case .head(let h):
                    head = h
                    body.clear()
                    limit = resetRequestAfter(h)
                    if limit == 0 { return }
                case .body(var chunk):
                    body.writeBuffer(&chunk)
                    if let limit, body.readableBytes >= limit { return }
                case .end:
                    guard let h = head else { return }
                    let response = await handler(Request(head: h, body: body))
                    var headers = response.headers
                    if !headers.contains(name: "Content-Length") {
                        headers.add(name: "Content-Length", value: String(response.body.readableBytes))
                    }
                    try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers)))
                    if h.method != .HEAD {
                        if let cut = response.cutAfter {
                            try await outbound.write(.body(.byteBuffer(response.body.getSlice(at: response.body.readerIndex, length: min(cut, response.body.readableBytes)) ?? ByteBuffer())))
                            if response.stall { try await Task.sleep(for: .seconds(3600)) }
                            return
                        }
                        if response.body.readableBytes > 0 { try await outbound.write(.body(.byteBuffer(response.body))) }
                    }
                    try await outbound.write(.end(nil))
                    head = nil
                }
            }
        }
    }

    /// Stops listening and closes the connections.
    public func stop() async {
        try? await serverChannel.close()
        acceptTask.cancel()
        await acceptTask.value
    }
}
