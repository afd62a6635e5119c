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
        #expect(try expand("$1x") == "x")
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

    /// Rows in the form of BuildKit's lexer table (`envVarTest`): word, expected result.
    static let table: [(String, String)] = [
        ("he$1x", "hex"), ("he${1}x", "hex"), ("$001aaa", "aaa"), ("$@", ""), ("${@}", ""), ("$$", ""),
        ("${$:+bbb}", ""), ("${5:-fallback}", "fallback"), ("he${XXX:-\\${PWD}z}xx", "he${PWDz}xx"),
        ("${A#al}", "pha"), ("${A#*l}", "pha"), ("${A##*a}", ""), ("${A%a}", "alph"), ("${A%%l*}", "a"),
        ("${A%h*}", "alp"), ("${A/l/L}", "aLpha"), ("${A//a/_}", "_lph_"), ("${A/#al/AL}", "alpha"),
        ("${A/p*/}", "al"), ("${MISSING#x}", ""), ("${A#\\*}", "alpha"), ("${SP/ /-}", "x-y"),
        ("'$A'\"$A\"", "$Aalpha"), ("a\\", "a"), ("\"a\\b\"", "a\\b"), ("\"a\\$A\"", "a$A"),
        ("${A:+${EMPTY:-x}}", "x"), ("${EMPTY:?}", "!EMPTY: is not allowed to be empty"),
        ("${MISSING?}", "!MISSING: is not allowed to be unset"), ("${MISSING:?msg $A}", "!MISSING: msg alpha"),
        ("${}", "!syntax error: bad substitution"), ("${:a}", "!syntax error: bad substitution"),
        ("${A", "!syntax error: missing '}'"), ("${A:#x}", "!unsupported modifier (:#) in substitution"),
        ("${A=x}", "!unsupported modifier (=) in substitution"),
    ]

    @Test(arguments: table) func lexerTable(row: (String, String)) {
        let (word, want) = row
        do {
            let got = try expand(word)
            #expect(!want.hasPrefix("!") && got == want, "\(word)")
        } catch {
            #expect(want == "!" + ((error as? ShellWordError)?.message ?? "\(error)"), "\(word)")
        }
    }

    @Test func heredocBodiesKeepQuotesButApplyEscapes() throws {
        let words = ShellWords()
        #expect(try words.expandRaw("'$A' \"$A\" \\$A \\\\ \\\n", lookup) == "'alpha' \"alpha\" $A \\ \n")
    }
}
