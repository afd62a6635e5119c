import Foundation
import KilnSolver
import KilnTestSupport
import Testing

/// COPY source resolution rules: `--parents` pivots, wildcards and `**`.
@Suite struct SourceResolverTests {
    /// test/a/{b,b2}/c/d/e with a few files.
    static func tree() throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory()
        for d in ["test/a/b/c/d/e", "test/a/b2/c/d/e", "test/a/b/c2/d/e2"] {
            try FileManager.default.createDirectory(atPath: dir.file(d), withIntermediateDirectories: true)
        }
        for f in ["test/a/b/c/d/foo", "test/a/b/c/d/e/bay", "test/a/b2/c/d/e/bar", "test/a/b/c2/d/e2/baz"] {
            try Data().write(to: URL(fileURLWithPath: dir.file(f)))
        }
        return dir
    }

    func names(_ sources: [String], in dir: TemporaryDirectory) throws -> [String] {
        try SourceResolver(root: dir.path).resolveParents(sources, step: "t").map(\.name).sorted()
    }

    @Test func parentsKeepThePathBelowThePivot() throws {
        let dir = try Self.tree()
        #expect(try names(["/test/a/b/c/d"], in: dir) == ["test/a/b/c/d"])
        #expect(try names(["./test/a/b/c/d/."], in: dir) == ["test/a/b/c/d"])
        #expect(try names(["/test/a/b/./c/d"], in: dir) == ["c/d"])
        #expect(try names(["/test/a/./b/./c"], in: dir) == ["b/c"])
    }

    @Test func parentsExpandWildcardsOnBothSidesOfThePivot() throws {
        let dir = try Self.tree()
        #expect(try names(["/test/a/./*/c"], in: dir) == ["b/c", "b2/c"])
        #expect(try names(["/test/a/b*/./c/**/e"], in: dir) == ["c/d/e", "c/d/e"])
        #expect(try names(["/test/a/b/c*/./d/**/baz"], in: dir) == ["d/e2/baz"])
        #expect(try names(["/test/a/b/./c9*"], in: dir).isEmpty)
        #expect(throws: GraphError.self) { try names(["/test/missing"], in: dir) }
    }
}
