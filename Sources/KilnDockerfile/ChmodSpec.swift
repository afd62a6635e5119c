/// A `--chmod` value: octal (`0755`) or symbolic as chmod(1) writes it (`go-w`, `u=rw,g=r`,
/// `a+X`); an empty "who" means all. Applied to each copied entry's own mode.
public struct ChmodSpec: Sendable, Equatable, CustomStringConvertible {
    /// One `who op perms` clause.
    struct Clause: Equatable {
        var who: UInt32  // mask of the permission bits the clause touches
        var op: Character
        var perms: [Character]
    }

    /// The value as written.
    public let description: String
    /// The mode, when octal.
    public let octal: UInt32?
    let clauses: [Clause]

    /// Parses `text`; nil when it is neither octal nor a valid symbolic mode.
    public init?(_ text: String) {
        description = text
        if let n = UInt32(text, radix: 8) {
            guard n <= 0o7777 else { return nil }
            octal = n
            clauses = []
            return
        }
        octal = nil
        var out: [Clause] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let parsed = Self.clauses(String(part)) else { return nil }
            out += parsed
        }
        guard !out.isEmpty else { return nil }
        clauses = out
    }

    /// `u+rw-x` → its clauses (one per operator).
    private static func clauses(_ text: String) -> [Clause]? {
        var chars = Array(text)[...]
        var who: UInt32 = 0
        while let c = chars.first, "ugoa".contains(c) {
            who |= ["u": 0o4700, "g": 0o2070, "o": 0o1007, "a": 0o7777][c] ?? 0
            chars = chars.dropFirst()
        }
        if who == 0 { who = 0o7777 }
        var out: [Clause] = []
        while let op = chars.first {
            guard "+-=".contains(op) else { return nil }
            chars = chars.dropFirst()
            let perms = chars.prefix { "rwxXst".contains($0) }
            chars = chars.dropFirst(perms.count)
            out.append(Clause(who: who, op: op, perms: Array(perms)))
        }
        return out.isEmpty || !chars.isEmpty ? nil : out
    }

    /// The mode an entry whose mode is `current` gets.
    public func mode(from current: UInt32, isDirectory: Bool) -> UInt32 {
        if let octal { return octal }
        var mode = current & 0o7777
        for clause in clauses {
            var bits: UInt32 = 0
            for p in clause.perms {
                switch p {
                case "r": bits |= 0o444
                case "w": bits |= 0o222
                case "x": bits |= 0o111
                case "X": if isDirectory || mode & 0o111 != 0 { bits |= 0o111 }
                case "s": bits |= 0o6000
                case "t": bits |= 0o1000
                default: break
                }
            }
            bits &= clause.who
            switch clause.op {
            case "+": mode |= bits
            case "-": mode &= ~bits
            default: mode = (mode & ~(clause.who & 0o777)) | bits
            }
        }
        return mode
    }
}
