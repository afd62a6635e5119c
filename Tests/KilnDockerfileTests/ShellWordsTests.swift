import KilnDockerfile
import Testing

@Suite struct ShellWordsTests {
    let env: [String: String] = ["A": "alpha", "EMPTY": "", "SP": "x y"]
    func lookup(_ n: String) -> String? { env[n] }
    func expand(_ s: String) throws -> String { try ShellWords().expand(s, lookup) }

    @Test func expansions() throws {
        #expect(try expand("$A") == "alpha")
        #expect(try expand("${A}-b") == "alpha-b")
        #expect(try expand("${MISSING:-def}") == "def")
        #expect(try expand("${EMPTY:-def}") == "def")
        #expect(try expand("${EMPTY-def}") == "")
        #expect(try expand("${MISSING-def}") == "def")
        #expect(try expand("${A:+alt}") == "alt")
        #expect(try expand("${EMPTY:+alt}") == "")
        #expect(try expand("${EMPTY+alt}") == "alt")
        #expect(try expand("${MISSING+alt}") == "")
        #expect(try expand("${MISSING:-${A}}") == "alpha")
        #expect(try expand("$MISSING") == "")
        #expect(try expand("$1x") == "$1x")
    }

    @Test func quotesAndEscapes() throws {
        #expect(try expand("'$A'") == "$A")
        #expect(try expand("\"$A and $SP\"") == "alpha and x y")
        #expect(try expand("\\$A") == "$A")
        #expect(try expand("\"a\\\"b\"") == "a\"b")
        #expect(try ShellWords(escape: "`").expand("`$A", lookup) == "$A")
    }

    @Test func requiredVariables() {
        #expect(throws: ShellWordError.self) { try expand("${MISSING:?must be set}") }
        #expect(throws: ShellWordError.self) { try expand("${MISSING?}") }
        #expect(throws: ShellWordError.self) { try expand("\"open") }
        #expect(throws: ShellWordError.self) { try expand("${A") }
    }

    @Test func wordSplitting() throws {
        #expect(try ShellWords().expandWords("a \"b c\" $SP '$A'", lookup) == ["a", "b c", "x", "y", "$A"])
        #expect(ShellWords().splitKeepingQuotes(#"a=1 b="x y" c='z w'"#) == ["a=1", #"b="x y""#, "c='z w'"])
    }
}
