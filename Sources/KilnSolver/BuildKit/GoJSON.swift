import Foundation

/// JSON written byte for byte as Go's `encoding/json` writes BuildKit's structures: keys in
/// struct order (the caller gives them in that order), zero values left out where the field
/// is `omitempty` (the caller leaves them out), `<`, `>`, `&`, U+2028 and U+2029 escaped, byte
/// slices as standard base64. BuildKit hashes these bytes into its cache keys.
public indirect enum GoJSON: Sendable, Equatable {
    /// A string.
    case string(String)
    /// An integer.
    case int(Int64)
    /// A boolean.
    case bool(Bool)
    /// An array.
    case array([GoJSON])
    /// An object, keys in the order written.
    case object([(String, GoJSON)])
    /// A `[]byte`: standard base64 in a string.
    case bytes(Data)

    /// The encoded bytes.
    public var data: Data { Data(text.utf8) }

    /// The encoded text.
    public var text: String {
        var out = ""
        write(into: &out)
        return out
    }

    /// An object from `fields`, leaving out those whose value is nil (omitempty).
    public static func fields(_ fields: [(String, GoJSON?)]) -> GoJSON {
        .object(fields.compactMap { k, v in v.map { (k, $0) } })
    }

    func write(into out: inout String) {
        switch self {
        case .string(let s): Self.quote(s, into: &out)
        case .int(let n): out += String(n)
        case .bool(let b): out += b ? "true" : "false"
        case .bytes(let d): Self.quote(d.base64EncodedString(), into: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(into: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (i, (k, v)) in fields.enumerated() {
                if i > 0 { out += "," }
                Self.quote(k, into: &out)
                out += ":"
                v.write(into: &out)
            }
            out += "}"
        }
    }

    /// Go's string quoting with HTML escaping (`json.Marshal`'s default).
    static func quote(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<", ">", "&", "\u{2028}", "\u{2029}":
                out += String(format: "\\u%04x", u.value)
            default:
                if u.value < 0x20 {
                    out += String(format: "\\u%04x", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }
}

extension GoJSON {
    /// Equal when they encode the same.
    public static func == (a: GoJSON, b: GoJSON) -> Bool { a.text == b.text }
}
