import KilnDockerfile
import Testing

@Suite struct DockerIgnoreTests {
    @Test func patternsExceptionsAndDoubleStar() {
        let ig = DockerIgnore(parsing: """
        # comment
        *.log
        build/
        **/node_modules
        docs/**/*.md
        !docs/keep/README.md
        /tmp?
        [ab]*.bak
        """)
        #expect(ig.excludes("x.log"))
        #expect(!ig.excludes("dir/x.log"))  // '*' does not cross '/'
        #expect(ig.excludes("build"))
        #expect(ig.excludes("build/out/file"))  // inside an excluded directory
        #expect(ig.excludes("node_modules/x"))
        #expect(ig.excludes("a/b/node_modules"))
        #expect(ig.excludes("docs/a/b/c.md"))
        #expect(ig.excludes("docs/x.md"))
        #expect(!ig.excludes("docs/keep/README.md"))
        #expect(ig.excludes("tmp1"))
        #expect(ig.excludes("a1.bak") && !ig.excludes("c1.bak"))
        #expect(!ig.excludes("src/main.swift"))
        #expect(ig.mayReinclude(under: "docs"))
    }

    @Test func lastMatchWins() {
        let ig = DockerIgnore(parsing: "*\n!src\nsrc/secret.txt\n")
        #expect(ig.excludes("Dockerfile.bak"))
        #expect(!ig.excludes("src/a.txt"))
        #expect(ig.excludes("src/secret.txt"))
    }

    @Test func emptyIgnoresNothing() {
        #expect(!DockerIgnore().excludes("anything"))
        #expect(DockerIgnore(parsing: "\n# only comments\n").isEmpty)
    }
}
