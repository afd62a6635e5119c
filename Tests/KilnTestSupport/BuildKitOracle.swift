import Foundation

/// `shared/reference/buildkit-keys`: what BuildKit exported for small recorded cases, with the
/// bytes behind every digest (see its README).
public enum BuildKitOracle {
    /// The oracle's directory.
    public static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/reference/buildkit-keys").path

    /// Every recorded case's name.
    public static var cases: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory + "/cases")) ?? []).sorted()
    }

    /// Copies case `name`'s context to `destination`, every entry given the mode and owner
    /// `context.lst` recorded (content keys hash both, in BuildKit too).
    public static func copyContext(_ name: String, to destination: String) throws {
        let source = directory + "/cases/\(name)/context"
        try? FileManager.default.removeItem(atPath: destination)
        try FileManager.default.copyItem(atPath: source, toPath: destination)
        let list = try String(contentsOfFile: directory + "/cases/\(name)/context.lst", encoding: .utf8)
        for line in list.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 4, let mode = UInt16(fields[1], radix: 8) else { continue }
            let owner = fields[2].split(separator: ":").compactMap { UInt32($0) }
            let path = destination + "/" + String(fields[3])
            guard chmod(path, mode_t(mode)) == 0 else { throw OracleError("chmod \(path)") }
            if owner.count == 2 { lchown(path, owner[0], owner[1]) }
        }
    }

    /// The recorded preimages: digest → entry.
    public static func preimages(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/cases/\(name)/buildkit/preimages.json"))
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    struct OracleError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }
}
