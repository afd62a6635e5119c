import KilnDockerfile
import Testing

@Suite struct ParserTests {
    func parse(_ text: String) throws -> ParsedDockerfile { try DockerfileParser().parse(text) }

    @Test func directivesCommentsAndContinuations() throws {
        let d = try parse("""
        # syntax=docker/dockerfile:1
        # escape=`
        # a comment ends the directives
        # escape=\\
        FROM busybox
        RUN echo a && `
        # comment inside a continuation
            echo b `

          && echo c
        """)
        #expect(d.escape == "`")
        #expect(d.directives["syntax"] == "docker/dockerfile:1")
        #expect(d.instructions.count == 2)
        #expect(d.instructions[1].arguments == "echo a &&     echo b   && echo c")
        #expect(d.instructions[1].line == 6)
        #expect(d.warnings.contains { $0.contains("syntax directive") })
    }

    @Test func crlfLineEndingsParseLikeLF() throws {
        let lf = "# escape=\\\nFROM busybox AS base\nRUN echo a \\\n  && echo b\nCOPY <<EOF /f\nline\nEOF\nCMD [\"sh\"]\n"
        let crlf = try parse(lf.replacingOccurrences(of: "\n", with: "\r\n"))
        let plain = try parse(lf)
        #expect(crlf.instructions.map(\.keyword) == ["FROM", "RUN", "COPY", "CMD"])
        #expect(crlf.instructions.map(\.arguments) == plain.instructions.map(\.arguments))
        #expect(crlf.instructions.map(\.line) == plain.instructions.map(\.line))
        #expect(crlf.instructions[2].heredocs.first?.content == "line\n")
    }

    @Test func backslashContinuationAndEscapedBackslash() throws {
        let d = try parse("FROM a\nRUN echo x \\\n  y\nRUN echo 'c:\\\\'\nCMD z\n")
        #expect(d.instructions.map(\.keyword) == ["FROM", "RUN", "RUN", "CMD"])
        #expect(d.instructions[1].arguments == "echo x   y")
        #expect(d.instructions[2].arguments == "echo 'c:\\\\'")
    }

    @Test func jsonAndShellForms() throws {
        let d = try parse("""
        FROM a
        CMD ["/bin/sh", "-c", "echo hi"]
        ENTRYPOINT echo [not json
        RUN [ "broken json"
        """)
        #expect(d.instructions[1].json == ["/bin/sh", "-c", "echo hi"])
        #expect(d.instructions[2].json == nil)
        #expect(d.instructions[3].json == nil)
    }

    @Test func flagsAreSeparatedFromArguments() throws {
        let d = try parse("FROM --platform=linux/arm64 a AS b\nCOPY --from=b --chown=1:2 --chmod=755 --link src/ /dst/\nRUN --mount=type=cache,target=/root/.cache --network=none make")
        #expect(d.instructions[0].flag("platform") == "linux/arm64")
        #expect(d.instructions[0].arguments == "a AS b")
        #expect(d.instructions[1].flag("from") == "b")
        #expect(d.instructions[1].hasFlag("link"))
        #expect(d.instructions[1].arguments == "src/ /dst/")
        #expect(d.instructions[1].original == "COPY --from=b --chown=1:2 --chmod=755 --link src/ /dst/")
        #expect(d.instructions[2].flagValues("mount") == ["type=cache,target=/root/.cache"])
        #expect(d.instructions[2].flag("network") == "none")
    }

    @Test func heredocs() throws {
        let d = try parse("""
        FROM a
        RUN <<EOF
        echo one
          echo two
        EOF
        COPY <<-"CONF" <<OTHER /etc/
        \tkey=$VALUE
        \tCONF
        other
        OTHER
        RUN cat <<'X' > /f
        literal $HOME
        X
        """)
        #expect(d.instructions.count == 4)
        #expect(d.instructions[1].heredocs.first?.content == "echo one\n  echo two\n")
        #expect(d.instructions[1].heredocs.first?.expand == true)
        let copy = d.instructions[2].heredocs
        #expect(copy.map(\.name) == ["CONF", "OTHER"])
        #expect(copy[0].content == "key=$VALUE\n" && copy[0].expand == false && copy[0].stripTabs)
        #expect(copy[1].content == "other\n")
        #expect(d.instructions[3].heredocs.first?.content == "literal $HOME\n")
        #expect(d.instructions[3].heredocs.first?.expand == false)
    }

    @Test func errorsNameTheLine() {
        #expect(throws: DockerfileError(line: 3, "unknown instruction: FORM (did you mean FROM?)")) { try parse("FROM a\n\nFORM b") }
        #expect(throws: DockerfileError(line: 2, "RUN: heredoc 'EOF' is not terminated")) { try parse("FROM a\nRUN <<EOF\necho\n") }
        #expect(throws: DockerfileError.self) { try parse("# escape=x\nFROM a") }
        do {
            _ = try parse("FROM a\nBOGUS x")
        } catch {
            #expect("\(error)".hasPrefix("Dockerfile:2:"))
        }
    }

    @Test func everyInstructionIsRecognised() throws {
        let text = DockerfileParser.keywords.sorted().map { "\($0.lowercased()) x y" }.joined(separator: "\n")
        let d = try parse(text)
        #expect(Set(d.instructions.map(\.keyword)) == DockerfileParser.keywords)
    }
}
