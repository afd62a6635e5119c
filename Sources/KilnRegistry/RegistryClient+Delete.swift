import Foundation
import KilnOCI

extension RegistryClient {
    /// DELETEs the manifest `digest` from `repository` (every tag naming it goes with it), so
    /// the registry's garbage collection can reclaim the blobs only it referenced. A registry
    /// with deletion disabled answers 405: that is ``RegistryError/http(method:url:status:errors:body:)``.
    public func deleteManifest(_ digest: Digest, in repository: Reference) async throws(RegistryError) {
        let u = url(repository, "manifests/\(digest)")
        let resp = try await session.send(RegistryRequest(
            method: .DELETE, url: u, host: repository.apiHost,
            scopes: [AuthScope(repository: repository.repository, actions: ["pull", "push", "delete"])],
            accept: [200, 202], what: "manifest \(repository.name)@\(digest)", retryable: false))
        await session.drain(resp)
    }
}
