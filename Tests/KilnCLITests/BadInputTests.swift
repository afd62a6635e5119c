import Foundation
import KilnSystem
import KilnTestSupport
import Testing

/// Bad input is refused in one line that names it, before anything is built or pushed; input
/// that is merely unusual (CRLF line ends, a corrupted local blob) still builds.
@Suite(.serialized) struct BadInputTests {
    /// Runs a build that must fail before its first step: exit 1..127, one `error:` line
    /// containing `names`, no step started, nothing pushed.
    static func refused(_ extra: [String], rig: CLIRig, names: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let r = try await KilnProcess.run(["build", "--root", rig.dir.file("root"), "--progress", "plain"] + extra + [rig.dir.file("ctx")])
        #expect((1...127).contains(r.status), "exit \(r.status)", sourceLocation: sourceLocation)
        let all = r.text + r.errorText
        let errors = all.split(separator: "\n").filter { $0.hasPrefix("error:") }
        #expect(errors.count == 1 && errors[0].contains(names), "\(all)", sourceLocation: sourceLocation)
        #expect(!all.contains("#1 "), "a step ran before the input was checked: \(all)", sourceLocation: sourceLocation)
        #expect(!all.contains("Domain="), "a raw Foundation error reached the user: \(all)", sourceLocation: sourceLocation)
    }

    @Test(arguments: [["--help"], ["build", "--help"], ["help", "build"], ["prune", "-h"]])
    func helpIsPrintedAndExitsZero(_ args: [String]) async throws {
        let r = try await KilnProcess.run(args)
        #expect(r.status == 0 && r.text.contains("USAGE: kiln") && r.errorText.isEmpty, "\(r.status) \(r.text)\(r.errorText)")
    }

    @Test func unknownSpecKeysAreRefusedNamingTheKey() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("FROM BASE\nRUN echo x > /x\n")
        let reg = rig.registry.host
        try await Self.refused(["-t", "\(reg)/app:1", "--push", "--cache-to", "type=registry,ref=\(reg)/app:cache,compresion=zstd"], rig: rig, names: "compresion")
        try await Self.refused(["--cache-from", "type=registry,ref=\(reg)/app:cache,mdoe=max"], rig: rig, names: "mdoe")
        try await Self.refused(["--cache-to", "type=inline,mode=max"], rig: rig, names: "mode")
        try await Self.refused(["-o", "type=local,dest=\(rig.dir.file("out")),compression=zstd"], rig: rig, names: "compression")
        try await Self.refused(["-o", "type=image,name=\(reg)/app:2,push=true,pussh=true"], rig: rig, names: "pussh")
        // Nothing reached the registry.
        let tags = try? await ProcessRunner.run(["curl", "-sf", "http://\(reg)/v2/app/tags/list"])
        #expect(tags == nil, "pushed: \(tags?.text ?? "")")
    }

    @Test func unusableOutputPathsAreRefusedBeforeTheBuild() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("FROM BASE\nRUN echo x > /x\n")
        let file = rig.dir.file("a-file")
        try "x".write(toFile: file, atomically: false, encoding: .utf8)
        try await Self.refused(["-o", "type=local,dest=\(file)"], rig: rig, names: file)
        try await Self.refused(["-o", "type=tar,dest=\(rig.dir.file("missing/out.tar"))"], rig: rig, names: rig.dir.file("missing"))
        try await Self.refused(["-o", "type=oci,dest=\(rig.dir.path)"], rig: rig, names: rig.dir.path)
        try await Self.refused(["--metadata-file", rig.dir.file("missing/m.json")], rig: rig, names: rig.dir.file("missing"))
        try await Self.refused(["--cache-to", "type=local,dest=\(file)"], rig: rig, names: file)
        let r = try await KilnProcess.run(["build", "--root", file, "--progress", "plain", rig.dir.file("ctx")])
        #expect(r.status == 1 && r.errorText.contains(file) && r.errorText.contains("not a directory") && !r.errorText.contains("Domain="),
                "\(r.errorText)")
    }

    @Test func crlfDockerfilesBuild() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("FROM BASE AS base\r\nRUN echo one \\\r\n  > /one\r\nFROM base\r\nRUN cat /one > /two\r\n")
        let r = try await KilnProcess.run(["build", "--root", rig.dir.file("root"), "--progress", "plain",
                                           "-o", "type=local,dest=\(rig.dir.file("out"))", rig.dir.file("ctx")])
        #expect(r.status == 0, "\(r.errorText)")
        #expect(FileManager.default.contents(atPath: rig.dir.file("out/two")) == Data("one\n".utf8))
    }

    @Test func aCorruptedStoredLayerIsFetchedAgain() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("FROM BASE\nRUN echo x > /x\n")
        let root = rig.dir.file("root")
        let args = ["build", "--root", root, "--progress", "plain", "--no-cache", "-o", "type=local,dest=\(rig.dir.file("out"))", rig.dir.file("ctx")]
        #expect(try await KilnProcess.run(args).status == 0)
        // Flip one byte of every stored blob and drop the unpacked layers, as a failing disk would.
        for name in try FileManager.default.contentsOfDirectory(atPath: root + "/blobs/sha256") {
            let path = root + "/blobs/sha256/" + name
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            bytes[bytes.count / 2] ^= 0x40
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
        try FileManager.default.removeItem(atPath: root + "/layers")
        for _ in 0..<2 {
            let r = try await KilnProcess.run(args)
            #expect(r.status == 0, "\(r.text)\(r.errorText)")
        }
        #expect(FileManager.default.contents(atPath: rig.dir.file("out/x")) == Data("x\n".utf8))
    }
}
