import KilnOCI

extension RegistryClient {
    /// Runs the read `body` against each mirror of `ref`'s registry in turn, then the registry
    /// itself: the first source that answers wins; a failing mirror is logged and skipped.
    /// What comes back is verified by the caller as from any source (digests, sizes).
    func pulling<T: Sendable>(_ ref: Reference,
                              _ body: (Reference) async throws(RegistryError) -> T) async throws(RegistryError) -> T {
        try await pullingFrom(ref, body).value
    }

    /// ``pulling(_:_:)``, also saying which source answered.
    func pullingFrom<T: Sendable>(_ ref: Reference,
                                  _ body: (Reference) async throws(RegistryError) -> T) async throws(RegistryError) -> (value: T, source: Reference) {
        let candidates = session.configuration.pullCandidates(ref)
        for mirror in candidates.dropLast() {
            do {
                return (try await body(mirror), mirror)
            } catch {
                if Task.isCancelled { throw error }
                session.logger.debug("mirror \(mirror.registry) for \(ref.name): \(error.description); trying the next source")
            }
        }
        return (try await body(ref), ref)
    }
}
