import KilnDockerfile
import KilnOCI

/// `WORKDIR`'s directory: made (owned by the USER in effect) unless the image has it.
public struct MkdirOp: Sendable {
    /// The directory, absolute and clean.
    public let path: String
    /// The USER in effect (owner of what is made; empty: root).
    public let user: String

    /// Adds the vertex for `WORKDIR path` on top of `state`, keyed as BuildKit keys the mkdir
    /// file op its frontend writes.
    static func lower(path: String, user: String, name: String, stage: PlannedStage, state: Int?,
                      into g: inout GraphUnderConstruction) throws(GraphError) -> Int {
        let inputs = state.map { [[KeyInput(link: g.key($0), selector: nil)]] } ?? []
        let cacheMap = BuildKitCacheMap.file(actions: [BuildKitFile.mkdirAction(path: path, user: user)],
                                             indexes: [[state == nil ? -1 : 0, -1, 0]])
        let key = try CacheKey(base: g.stepDigest(cacheMap), inputs: inputs)
        let facts = [FactName.workdir: path, FactName.user: user, FactName.platform: stage.platform.description]
        return g.add(name: name, op: .mkdir(MkdirOp(path: path, user: user)), inputs: state.map { [$0] } ?? [], key: key,
                     stage: stage, facts: facts)
    }
}
