import Foundation
import KilnBuild
import KilnProgress
import KilnRegistry
import KilnStore
import Logging
import Synchronization

/// A registry client for tests: anonymous, no certs directory, warnings only
/// (`KILN_TEST_DEBUG=1` logs every request).
public func withTestClient<T: Sendable>(_ configuration: RegistryConfiguration? = nil,
                                        _ body: (RegistryClient) async throws -> T) async throws -> T {
    var config = configuration ?? RegistryConfiguration()
    if configuration == nil { config.certsDirectory = nil }
    var logger = Logger(label: "kiln.test")
    logger.logLevel = ProcessInfo.processInfo.environment["KILN_TEST_DEBUG"] != nil ? .debug : .warning
    return try await RegistryClient.withClient(configuration: config, credentials: AnonymousCredentials(), logger: logger, body)
}

/// Everything a build reported, for tests: RUN output, warnings, the last state of each vertex.
public final class EventLog: ProgressPrinter, Sendable {
    private let state = Mutex<(logs: String, warnings: [String], vertices: [String: VertexStatus])>(("", [], [:]))

    /// An empty log.
    public init() {}

    public func handle(_ event: ProgressEvent) async {
        state.withLock { s in
            switch event {
            case .log(_, _, let data): s.logs += String(decoding: data, as: UTF8.self)
            case .warning(_, let short, _): s.warnings.append(short)
            case .vertex(let v): s.vertices[v.name] = v
            case .status, .cacheMiss: break
            }
        }
    }

    public func finish() async {}

    /// What RUN steps printed.
    public var logs: String { state.withLock { $0.logs } }
    /// Warnings, in order.
    public var warnings: [String] { state.withLock { $0.warnings } }
    /// The last state of each vertex, by name.
    public var vertices: [String: VertexStatus] { state.withLock { $0.vertices } }
}

/// Builds the way every client does — through ``BuildSession`` — for tests that need a build.
public enum TestBuild {
    /// A finished build.
    public struct Outcome: Sendable {
        /// What the session returned.
        public var result: BuildResult
        /// The plan and graph it ran.
        public var prepared: PreparedBuild
        /// What it reported.
        public var events: EventLog
        /// Blob bytes downloaded by the whole build (base configs included).
        public var downloadedBytes: Int64

        /// The target's layer chain.
        public var chain: [CachedLayer] { result.chain }
        /// What RUN steps printed.
        public var logs: String { events.logs }
    }

    /// Builds `dockerfile` in `context` on the state directory `root`; `configure` adjusts the
    /// request (outputs, caches, secrets…), `client` overrides the registry client.
    public static func run(_ dockerfile: String, context: String, root: String, buildArgs: [String: String] = [:],
                           configuration: RegistryConfiguration? = nil, snapshotter: SnapshotterKind? = nil,
                           configure: @Sendable (inout BuildRequest) throws -> Void = { _ in }) async throws -> Outcome {
        var request = BuildRequest(context: context, dockerfile: dockerfile)
        request.buildArgs = buildArgs
        try configure(&request)
        let finalRequest = request
        return try await withTestClient(configuration) { client in
            let store = try ContentStore(root: root)
            defer { store.claim.release() }
            let session = BuildSession(store: store, client: client, snapshotter: snapshotter)
            let events = EventLog()
            let before = client.counters.downloadedBytes
            let prepared = try await session.prepare(finalRequest, progress: events)
            let result = try await session.build(prepared, progress: events)
            return Outcome(result: result, prepared: prepared, events: events, downloadedBytes: client.counters.downloadedBytes - before)
        }
    }
}
