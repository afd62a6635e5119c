import KilnRegistry
import KilnStore

/// What every export needs to move blobs: the registry client, the blob fetcher (and through
/// it the content store), and the coordinator that makes the exports running at the same time
/// push one blob to one registry one after another (so the second mounts the first's copy).
public struct ExportContext: Sendable {
    /// The registry client.
    public let client: RegistryClient
    /// Where blob bytes come from.
    public let fetcher: any BlobFetcher
    /// Shared by the exports of one build.
    public let coordinator: BlobPushCoordinator

    /// Where the export reports what it does (nothing by default).
    public var progress: ExportProgress = .silent

    /// The same context, reporting to `progress`.
    public func reporting(to progress: ExportProgress) -> ExportContext {
        var copy = self
        copy.progress = progress
        return copy
    }

    /// The content store.
    public var store: ContentStore { fetcher.store }

    /// A context; the exports of one build share `coordinator`.
    public init(client: RegistryClient, fetcher: any BlobFetcher, coordinator: BlobPushCoordinator = BlobPushCoordinator()) {
        self.client = client
        self.fetcher = fetcher
        self.coordinator = coordinator
    }
}
