import Foundation

/// Parses Dockerfile text: parser directives, comments, line continuations, heredocs, flags,
/// JSON (exec) and shell forms. Variables are not expanded here (see ``BuildPlanner``).
public struct DockerfileParser: Sendable {
    /// The file name used in errors.
    public var fileName: String

    /// Instructions Kiln knows.
    public static let keywords: Set<String> = [
        "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
        "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
    ]
    static let heredocKeywords: Set<String> = ["RUN", "COPY", "ADD"]

    /// A parser reporting errors against `fileName`.
    public init(fileName: String = "Dockerfile") { self.fileName = fileName }

    /// Parses `text`.
    public func parse(_ text: String) throws(DockerfileError) -> ParsedDockerfile {
        // Split on scalars: in a Swift String "\r\n" is one Character, never equal to "\n".
        var lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { l -> String in
            var line = String.UnicodeScalarView(l)
            if line.last == "\r" { line.removeLast() }
            return String(line)
        }
        if let first = lines.first, first.hasPrefix("\u{FEFF}") { lines[0] = String(first.dropFirst()) }

        var directives: [String: String] = [:]
        var warnings: [String] = []
        var i = 0
        // Directives: `# key=value` lines at the very top; anything else ends them.
        while i < lines.count {
            guard let (key, value) = Self.directive(lines[i]), directives[key] == nil else { break }
            directives[key] = value
            i += 1
        }
        var escape: Character = "\\"
        if let e = directives["escape"] {
            guard e == "\\" || e == "`" else {
                throw DockerfileError(file: fileName, line: 1, "invalid escape directive '\(e)': must be ` or \\")
            }
            escape = Character(e)
        }
        if let s = directives["syntax"] {
            warnings.append("\(fileName):1: syntax directive '\(s)' is ignored; kiln uses its built-in Dockerfile frontend")
        }

        var instructions: [Instruction] = []
        while i < lines.count {
            let startLine = i + 1
            let line = lines[i]
            i += 1
            if Self.isBlankOrComment(line) { continue }
            var logical = line
            var continued = Self.stripContinuation(&logical, escape: escape)
            while continued && i < lines.count {
                let next = lines[i]
                i += 1
                if Self.isComment(next) { continue }
                if next.trimmingCharacters(in: .whitespaces).isEmpty {
                    warnings.append("\(fileName):\(i): empty continuation line")
                    continue
                }
                var piece = next
                continued = Self.stripContinuation(&piece, escape: escape)
                logical += piece
            }
            var instruction = try instructionFrom(logical, line: startLine)
            let triggerKeyword = instruction.arguments.prefix(while: { $0 != " " && $0 != "\t" }).uppercased()
            if Self.heredocKeywords.contains(instruction.keyword)
                || (instruction.keyword == "ONBUILD" && Self.heredocKeywords.contains(triggerKeyword)) {
                let markers = Self.heredocMarkers(in: instruction.arguments)
                for m in markers {
                    var body: [String] = []
                    var closed = false
                    while i < lines.count {
                        var l = lines[i]
                        i += 1
                        if m.stripTabs { while l.hasPrefix("\t") { l.removeFirst() } }
                        if l == m.name { closed = true; break }
                        body.append(l)
                    }
                    guard closed else {
                        throw DockerfileError(file: fileName, line: startLine, "\(instruction.keyword): heredoc '\(m.name)' is not terminated")
                    }
                    instruction.heredocs.append(Instruction.Heredoc(
                        name: m.name, content: body.map { $0 + "\n" }.joined(), expand: m.expand, stripTabs: m.stripTabs))
                }
            }
            instructions.append(instruction)
        }
        try checkInOrder(instructions)
        return ParsedDockerfile(directives: directives, escape: escape, instructions: instructions, warnings: warnings)
    }

    /// The first instruction that is unknown or lacks its arguments, in Dockerfile order (as
    /// BuildKit reports them, whatever the kind of error).
    private func checkInOrder(_ instructions: [Instruction]) throws(DockerfileError) {
        for ins in instructions {
            guard Self.keywords.contains(ins.keyword) else {
                throw DockerfileError(file: fileName, line: ins.line,
                                      "unknown instruction: \(ins.original)" + Suggestion.didYouMean(ins.original, among: Self.keywords))
            }
            let words = ins.arguments.split(whereSeparator: { $0 == " " || $0 == "\t" }).count
            if ["COPY", "ADD"].contains(ins.keyword), ins.heredocs.isEmpty, words < 2, ins.json == nil {
                throw DockerfileError(file: fileName, line: ins.line, "\(ins.keyword) requires at least two arguments, but only \(words) provided")
            }
            if ["RUN", "FROM", "WORKDIR", "USER"].contains(ins.keyword), words == 0 {
                throw DockerfileError(file: fileName, line: ins.line, "\(ins.keyword) requires at least one argument")
            }
        }
    }

    private func instructionFrom(_ logical: String, line: Int) throws(DockerfileError) -> Instruction {
        let trimmed = logical.drop(while: { $0 == " " || $0 == "\t" })
        let keywordPart = trimmed.prefix(while: { $0 != " " && $0 != "\t" })
        let keyword = keywordPart.uppercased()
        guard Self.keywords.contains(keyword) else {
            // Reported in order with the other instruction errors (see `checkInOrder`).
            return Instruction(keyword: keyword, flags: [], arguments: "", json: nil, heredocs: [], line: line, original: String(keywordPart))
        }
        var rest = String(trimmed.dropFirst(keywordPart.count).drop(while: { $0 == " " || $0 == "\t" }))
        while rest.hasSuffix(" ") || rest.hasSuffix("\t") { rest.removeLast() }
        let original = rest
        var flags: [Instruction.Flag] = []
        if keyword != "ONBUILD" {
            while rest.hasPrefix("--") {
                let token = rest.prefix(while: { $0 != " " && $0 != "\t" })
                let body = token.dropFirst(2)
                guard !body.isEmpty else { break }
                if let eq = body.firstIndex(of: "=") {
                    flags.append(.init(name: String(body[..<eq]), value: Self.unquote(String(body[body.index(after: eq)...]))))
                } else {
                    flags.append(.init(name: String(body), value: nil))
                }
                rest = String(rest.dropFirst(token.count).drop(while: { $0 == " " || $0 == "\t" }))
            }
        }
        var json: [String]?
        if rest.hasPrefix("["), let data = rest.data(using: .utf8),
           let array = try? JSONSerialization.jsonObject(with: data) as? [Any], array.allSatisfy({ $0 is String })
        {
            json = array.compactMap { $0 as? String }
        }
        return Instruction(keyword: keyword, flags: flags, arguments: rest, json: json, heredocs: [], line: line,
                           original: original.isEmpty ? keyword : "\(keyword) \(original)")
    }

    static func unquote(_ s: String) -> String {
        if s.count >= 2, let f = s.first, let l = s.last, f == l, f == "\"" || f == "'" { return String(s.dropFirst().dropLast()) }
        return s
    }

    static func directive(_ line: String) -> (String, String)? {
        let t = line.trimmingCharacters(in: .whitespaces)
        guard t.hasPrefix("#") else { return nil }
        let body = t.dropFirst().trimmingCharacters(in: .whitespaces)
        guard let eq = body.firstIndex(of: "=") else { return nil }
        let key = body[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
        let value = body[body.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        guard ["syntax", "escape", "check"].contains(key), !value.isEmpty else { return nil }
        return (key, value)
    }

    static func isComment(_ line: String) -> Bool {
        line.drop(while: { $0 == " " || $0 == "\t" }).hasPrefix("#")
    }

    static func isBlankOrComment(_ line: String) -> Bool {
        let t = line.trimmingCharacters(in: .whitespaces)
        return t.isEmpty || t.hasPrefix("#")
    }

    /// Removes a trailing escape character (and trailing whitespace); true when the line continues.
    static func stripContinuation(_ line: inout String, escape: Character) -> Bool {
        var t = line
        while t.hasSuffix(" ") || t.hasSuffix("\t") { t.removeLast() }
        guard t.last == escape else { return false }
        // An escaped escape (`\\`) at the end is not a continuation.
        let trailing = t.reversed().prefix(while: { $0 == escape }).count
        guard trailing % 2 == 1 else { return false }
        t.removeLast()
        line = t
        return true
    }

    struct HeredocMarker {
        var name: String
        var expand: Bool
        var stripTabs: Bool
    }

    /// `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'` markers in order (not inside quotes).
    static func heredocMarkers(in args: String) -> [HeredocMarker] {
        var out: [HeredocMarker] = []
        let chars = Array(args)
        var i = 0
        var quote: Character?
        while i < chars.count {
            let c = chars[i]
            if let q = quote {
                if c == q { quote = nil }
                i += 1
                continue
            }
            if c == "\"" || c == "'" { quote = c; i += 1; continue }
            if c == "<" && i + 1 < chars.count && chars[i + 1] == "<" && (i + 2 >= chars.count || chars[i + 2] != "<") {
                var j = i + 2
                var strip = false
                if j < chars.count && chars[j] == "-" { strip = true; j += 1 }
                var expand = true
                var q: Character?
                if j < chars.count && (chars[j] == "\"" || chars[j] == "'") { q = chars[j]; expand = false; j += 1 }
                var name = ""
                while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" || chars[j] == "-" || chars[j] == "." {
                    name.append(chars[j]); j += 1
                }
                if let q, j < chars.count, chars[j] == q { j += 1 }
                if !name.isEmpty {
                    out.append(HeredocMarker(name: name, expand: expand, stripTabs: strip))
                    i = j
                    continue
                }
            }
            i += 1
        }
        return out
    }
}
