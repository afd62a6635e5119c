/// Finds the line a key was written on, for messages (the TOML parser does not say where a
/// key was): section headers are tracked, and a key is the first `KEY =` (or `KEY.`) line of
/// its section. Quoting styles of `[registry."HOST"]` headers are all recognised.
struct SourceLines {
    private let lines: [String]

    init(_ text: String) {
        lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// The line of a top-level key or of the first section header under it.
    func topLevel(_ key: String) -> Int? {
        var inSection = false
        for (i, l) in lines.enumerated() {
            if l.hasPrefix("[") {
                inSection = true
                let name = l.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).trimmingCharacters(in: .whitespaces)
                if name == key || name.hasPrefix(key + ".") || name.hasPrefix("\"\(key)\"") { return i + 1 }
            } else if !inSection, Self.assigns(l, key) {
                return i + 1
            }
        }
        return nil
    }

    /// The line of `key` in the section `[registry."HOST"]` (or of the header when the key is a
    /// sub-table).
    func key(_ key: String, inRegistry host: String) -> Int? {
        let headers = ["registry.\"\(host)\"", "registry.'\(host)'", "registry.\(host)"]
        var current = false
        for (i, l) in lines.enumerated() {
            if l.hasPrefix("[") {
                let name = l.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).replacingOccurrences(of: " ", with: "")
                if headers.contains(where: { name == $0 + "." + key }) { return i + 1 }
                current = headers.contains(name)
            } else if current, Self.assigns(l, key) {
                return i + 1
            }
        }
        return nil
    }

    private static func assigns(_ line: String, _ key: String) -> Bool {
        for k in [key, "\"\(key)\""] where line.hasPrefix(k) {
            let rest = line.dropFirst(k.count).drop { $0 == " " || $0 == "\t" }
            if rest.hasPrefix("=") || rest.hasPrefix(".") { return true }
        }
        return false
    }
}

import Foundation
