import Foundation

/// The one JSON encoding used for every document Kiln hashes: keys sorted, no escaped slashes,
/// no whitespace. The same value always encodes to the same bytes, so an unchanged manifest or
/// config keeps its digest.
public enum CanonicalJSON {
    /// Encodes `value` canonically.
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    /// Decodes `type` from `data`, turning decoder errors into a short ``OCIError``.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, kind: String) throws(OCIError) -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw OCIError.invalidDocument(kind: kind, reason: describe(error))
        } catch {
            throw OCIError.invalidDocument(kind: kind, reason: "\(error)")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ ctx: DecodingError.Context) -> String {
            let p = ctx.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "" : " at \(p)"
        }
        switch error {
        case .dataCorrupted(let ctx): return "\(ctx.debugDescription)\(path(ctx))"
        case .keyNotFound(let key, let ctx): return "missing field '\(key.stringValue)'\(path(ctx))"
        case .typeMismatch(let t, let ctx): return "expected \(t)\(path(ctx))"
        case .valueNotFound(let t, let ctx): return "missing \(t)\(path(ctx))"
        @unknown default: return "\(error)"
        }
    }
}
