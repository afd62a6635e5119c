import Foundation
import KilnOCI

extension ContentStore {
    /// Where the `RUN --mount=type=cache` directory `id` lives on this root (beside it, its
    /// `.lock`): one directory per id, shared by the builds on the root.
    public func cacheMountDirectory(id: String) -> String {
        root + "/cache-mounts/" + Digest.of(Data(id.utf8)).encoded
    }
}
