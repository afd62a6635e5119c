import CKilnSys
import Foundation

/// xattr helpers for tests.
enum ProcessXattr {
    static func list(_ path: String) -> [String] {
        let size = llistxattr(path, nil, 0)
        guard size > 0 else { return [] }
        var buf = [CChar](repeating: 0, count: size)
        let n = llistxattr(path, &buf, size)
        guard n > 0 else { return [] }
        return buf[0..<n].split(separator: 0).map { String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    }

    static func get(_ path: String, _ name: String) -> [UInt8] {
        let size = lgetxattr(path, name, nil, 0)
        guard size > 0 else { return [] }
        var v = [UInt8](repeating: 0, count: size)
        let n = v.withUnsafeMutableBytes { lgetxattr(path, name, $0.baseAddress, size) }
        return Array(v[0..<max(0, n)])
    }

    @discardableResult
    static func set(_ path: String, _ name: String, _ value: [UInt8]) -> Bool {
        value.withUnsafeBytes { lsetxattr(path, name, $0.baseAddress, $0.count, 0) } == 0
    }
}
