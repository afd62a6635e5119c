/// Directories holding the files of layer chains (the worker's snapshots), for readers that
/// need a chain's whole filesystem — a tar output, for one.
public protocol ChainFilesystems: Sendable {
    /// A directory with the filesystem of `chain`; read it, do not change it.
    func directory(for chain: [CachedLayer], report: TransferReporter?) async throws -> String
}
