import Foundation
import KilnArchive
import KilnDockerfile
import KilnOCI
@testable import KilnSolver
import KilnTestSupport
import Testing

/// The facts a step's key is made of, and the reasons `--explain` words from two versions.
@Suite struct MissReasonsTests {
    static func facts(_ values: [String: String], parent: Digest? = nil, op: String = "exec") -> StepFacts {
        StepFacts(key: Digest.of(Data("\(values)".utf8)), parent: parent, slot: "stage-0/1", op: op, values: values)
    }

    @Test func eachKindOfChangeIsNamed() {
        let old = Self.facts(["command": "a", "arg:V": "1", "arg:GONE": "x", "env:MODE": "p", "user": "", "workdir": "/",
                              "file:app.txt": "aaaa 644 0:0 5", "file:run.sh": "bbbb 644 0:0 3", "file:old": "cccc 644 0:0 1",
                              "secrets": "a"])
        let new = Self.facts(["command": "b", "arg:V": "2", "arg:NEW": "y", "env:MODE": "d", "user": "app", "workdir": "/",
                              "file:app.txt": "dddd 644 0:0 6", "file:run.sh": "bbbb 755 1000:1000 3", "file:added": "eeee 644 0:0 1",
                              "secrets": "a,b"])
        #expect(MissReasons.compare(new, with: old) == [
            "the command changed",
            "build arg GONE no longer set", "build arg NEW set", "build arg V changed",
            "environment variable MODE changed",
            "user changed ((default) → app)",
            "secret ids changed (a → a,b)",
            "context file added: added", "context file app.txt: content changed", "context file old: removed",
            "1 more context file changed",
        ])
        #expect(MissReasons.compare(new, with: new).isEmpty)
    }

    @Test func aFileWhoseModeAndOwnerChangedIsNotSaidToHaveNewContent() {
        let reason = MissReasons.fileReason("run.sh", old: "bbbb 644 0:0 3", new: "ffff 755 1000:1000 3")
        #expect(reason == "context file run.sh: mode changed (644 → 755), owner changed (0:0 → 1000:1000)")
        #expect(MissReasons.fileReason("run.sh", old: "bbbb 644 0:0 3", new: "ffff 755 0:0 4")
            == "context file run.sh: content changed, mode changed (644 → 755)")
        #expect(MissReasons.fileReason("src", old: "dir 755 0:0", new: "dir 700 0:0") == "context directory src: mode changed (755 → 700)")
    }

    @Test func aBaseImageIsNamedWithBothDigests() {
        let old = Self.facts(["image": "reg/base:1", "digest": "sha256:" + String(repeating: "a", count: 64)], op: "image")
        let new = Self.facts(["image": "reg/base:1", "digest": "sha256:" + String(repeating: "b", count: 64)], op: "image")
        #expect(MissReasons.baseImage(current: new, earlier: old) == "base image reg/base:1 changed (sha256:aaaaaaaaaaaa → sha256:bbbbbbbbbbbb)")
        #expect(MissReasons.baseImage(current: new, earlier: nil) == "base image reg/base:1 changed (now sha256:bbbbbbbbbbbb)")
    }

    @Test func aLargeContextIsDescribedDirectoryByDirectory() {
        var entries: [BuildKitContentHash.Entry] = []
        for d in 0..<4 {
            for f in 0..<100 {
                entries.append(BuildKitContentHash.Entry(path: "d\(d)/sub/f\(f)", isDirectory: false, mode: 0o644, uid: 0, gid: 0, size: 1,
                                                     digest: Digest.of(Data("\(d)/\(f)".utf8))))
            }
        }
        entries.append(BuildKitContentHash.Entry(path: "top.txt", isDirectory: false, mode: 0o644, uid: 0, gid: 0, size: 1, digest: Digest.of(Data("t".utf8))))
        let facts = StepFacts.files(entries)
        #expect(facts.count <= StepFacts.fileFactLimit)
        #expect(Set(facts.keys) == ["file:top.txt", "file:d0/sub/", "file:d1/sub/", "file:d2/sub/", "file:d3/sub/"])
        var changed = entries
        changed[150].digest = Digest.of(Data("other".utf8))
        let after = StepFacts.files(changed)
        #expect(Set(after.keys) == Set(facts.keys))
        #expect(after.filter { facts[$0.key] != $0.value }.map(\.key) == ["file:d1/sub/"])
    }

    /// A RUN's facts cover what its key covers; a COPY's name every file it reads.
    @Test func theGraphDescribesEveryStep() async throws {
        let dir = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path + "/src", withIntermediateDirectories: true)
        try Data("a".utf8).write(to: URL(fileURLWithPath: dir.path + "/src/a"))
        let text = "FROM reg/base:1\nARG V=1\nENV MODE=x\nCOPY src /s\nRUN --network=none --mount=type=secret,id=tok echo $V\n"
        let plan = try await BuildPlanner().plan(try DockerfileParser().parse(text)) { _, _ in nil }
        var config = ImageConfig()
        config.diffIDs = [Digest.of(Data("l".utf8))]
        let img = ResolvedImage(reference: "reg/base:1", manifestDigest: Digest.of(Data("m".utf8)), config: config, platform: .linuxAMD64)
        let graph = try GraphBuilder(contextDirectory: dir.path).build(plan, images: ["reg/base:1": img])
        let (image, copy, run) = (graph.vertices[0].facts, graph.vertices[1].facts, graph.vertices[2].facts)
        #expect(image.op == "image" && image.values["digest"] == img.manifestDigest.description && image.slot == "image:reg/base:1")
        #expect(copy.op == "copy" && copy.parent == graph.vertices[0].key.id && copy.slot == "stage-0/0")
        #expect(Set(copy.values.keys) == ["file:src", "file:src/a", "instruction", "platform"])
        #expect(run.parent == graph.vertices[1].key.id && run.slot == "stage-0/1")
        #expect(run.values["arg:V"] == StepFacts.hidden("1") && run.values["env:MODE"] == StepFacts.hidden("x"))
        #expect(run.values["network"] == "none" && run.values["secrets"] == "tok")
    }
}
