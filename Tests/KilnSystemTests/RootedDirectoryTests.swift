import Foundation
import KilnTestSupport
import Testing
@testable import KilnSystem

/// In-root resolution: symlinks and `..` never leave the root, with the kernel's openat2 and
/// with the userland walk.
@Suite struct RootedDirectoryTests {
    /// A root with hostile symlinks pointing at a host canary.
    struct Fixture {
        let dir: TemporaryDirectory
        let canary: HostCanary
        var root: String { dir.path }

        init() throws {
            dir = try TemporaryDirectory("kiln-rooted")
            canary = try HostCanary()
            let r = dir.path
            for d in ["etc", "real/dir", "a/b"] { try FileManager.default.createDirectory(atPath: r + "/" + d, withIntermediateDirectories: true) }
            try "inside\n".write(toFile: r + "/real/dir/f", atomically: false, encoding: .utf8)
            try "root:x:0:0::/root:/bin/sh\n".write(toFile: r + "/etc/passwd", atomically: false, encoding: .utf8)
            symlink(canary.path, r + "/abs")                 // absolute link to the host canary
            symlink("../../../../../../../.." + canary.path, r + "/a/b/up")  // relative link climbing out
            symlink("l2", r + "/l1")
            symlink("/real/dir", r + "/l2")                  // chained, absolute inside the root
            symlink("loop2", r + "/loop1")
            symlink("loop1", r + "/loop2")
            symlink("/nowhere/x", r + "/dangling")
            symlink(canary.path + "/secret.txt", r + "/etc/shadow-link")
        }
    }

    static let modes = [true, false]

    @Test(arguments: modes) func absoluteLinksResolveInsideTheRoot(kernel: Bool) throws {
        let f = try Fixture()
        let before = try f.canary.fingerprint()
        let rooted = RootedDirectory(f.root, kernel: kernel)
        #expect(throws: PathError.notFound(path: "abs/secret.txt")) { try rooted.resolve("abs/secret.txt") }
        #expect(throws: PathError.notFound(path: "/a/b/up/secret.txt")) { try rooted.resolve("/a/b/up/secret.txt") }
        #expect(try rooted.readFile("/etc/shadow-link") == nil)
        #expect(rooted.lstat("abs/sub") == nil)
        #expect(try f.canary.fingerprint() == before)
    }

    @Test(arguments: modes) func chainsDotDotAndTheFinalComponent(kernel: Bool) throws {
        let f = try Fixture()
        let rooted = RootedDirectory(f.root, kernel: kernel)
        #expect(try rooted.resolve("l1/f") == f.root + "/real/dir/f")
        #expect(try rooted.resolve("../../../real/./dir/../dir/f") == f.root + "/real/dir/f")
        #expect(try rooted.resolve("/a/b/../../etc/passwd") == f.root + "/etc/passwd")
        #expect(try rooted.resolve("l1", followFinal: false) == f.root + "/l1")
        #expect(try rooted.resolve("") == f.root)
        #expect(try rooted.resolveRelative("l1/f") == "real/dir/f")
        #expect(try rooted.readFile("l1/f") == Array("inside\n".utf8))
        #expect(rooted.isDirectory("l1"))
        #expect(rooted.lstat("l1").map { ($0.st_mode & S_IFMT) == S_IFLNK } == true)
    }

    @Test(arguments: modes) func loopsAndDanglingLinks(kernel: Bool) throws {
        let f = try Fixture()
        let rooted = RootedDirectory(f.root, kernel: kernel)
        #expect(throws: PathError.tooManyLinks(path: "loop1")) { try rooted.resolve("loop1") }
        #expect(throws: PathError.notFound(path: "dangling")) { try rooted.resolve("dangling") }
        #expect(try rooted.resolve("dangling", followFinal: false) == f.root + "/dangling")
        #expect(throws: PathError.notFound(path: "etc/passwd/x")) { try rooted.resolve("etc/passwd/x") }
    }

    @Test(arguments: modes) func makeDirectoriesStaysInside(kernel: Bool) throws {
        let f = try Fixture()
        let before = try f.canary.fingerprint()
        let rooted = RootedDirectory(f.root, kernel: kernel)
        var made: [String] = []
        #expect(try rooted.makeDirectories("../../../../x/y") { made.append($0) } == f.root + "/x/y")
        #expect(made == [f.root + "/x", f.root + "/x/y"])
        // Through a link to the host: the directories appear inside the root, at the link's target.
        #expect(try rooted.makeDirectories("abs/new") == f.root + canary(f) + "/new")
        #expect(try rooted.makeDirectories("dangling/z") == f.root + "/nowhere/x/z")
        #expect(throws: PathError.io(path: "etc/passwd", operation: "mkdir", errno: ENOTDIR)) { try rooted.makeDirectories("etc/passwd") }
        #expect(try f.canary.fingerprint() == before)
        #expect(!FileManager.default.fileExists(atPath: f.canary.path + "/new"))
    }

    private func canary(_ f: Fixture) -> String { f.canary.path }
}

/// Path strings without Foundation's path methods.
@Suite struct FSPathTests {
    @Test func cleanJoinParentBase() {
        #expect(FSPath.clean("../../../x/./y//z/..") == "/x/y")
        #expect(FSPath.clean("") == "/")
        #expect(FSPath.relative("/a/../b/") == "b")
        #expect(FSPath.join("/work", "../../../etc") == "/etc")
        #expect(FSPath.join("/work", "/abs/./p") == "/abs/p")
        #expect(FSPath.under("/host/root", "../../etc/passwd") == "/host/root/etc/passwd")
        #expect(FSPath.under("/host/root", "/") == "/host/root")
        #expect(FSPath.parent("h") == "")
        #expect(FSPath.parent("/h") == "/")
        #expect(FSPath.parent("x/h") == "x")
        #expect(FSPath.parent("/a/b/") == "/a")
        #expect(FSPath.base("/a/b/") == "b")
        #expect(FSPath.base("h") == "h")
        #expect(FSPath.base("/") == "")
    }
}
