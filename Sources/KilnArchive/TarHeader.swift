/// Encoding and decoding of 512-byte ustar headers and PAX records.
enum TarHeader {
    static let blockSize = 512

    /// Largest value an octal field of `width` bytes (with its terminator) can hold.
    static func octalLimit(_ width: Int) -> Int64 { (Int64(1) << (3 * Int64(width - 1))) - 1 }

    /// Writes `value` as zero-padded octal with a NUL terminator into `field`.
    static func putOctal(_ value: Int64, into block: inout [UInt8], at offset: Int, width: Int) {
        var digits = [UInt8](repeating: 0x30, count: width - 1)
        var v = value
        var i = width - 2
        while v > 0 && i >= 0 {
            digits[i] = UInt8(0x30 + (v & 7))
            v >>= 3
            i -= 1
        }
        block.replaceSubrange(offset..<(offset + width - 1), with: digits)
        block[offset + width - 1] = 0
    }

    static func putString(_ s: [UInt8], into block: inout [UInt8], at offset: Int, width: Int) {
        let n = min(s.count, width)
        block.replaceSubrange(offset..<(offset + n), with: s[0..<n])
    }

    /// Splits a path into ustar (prefix, name) when it fits, else `nil`.
    static func splitUSTAR(_ path: [UInt8]) -> (prefix: [UInt8], name: [UInt8])? {
        if path.count <= 100 { return ([], path) }
        guard path.count <= 256 else { return nil }
        // Split at a '/' so that prefix ≤ 155 and name ≤ 100.
        var i = min(path.count - 1, 155)
        while i > 0 {
            if path[i] == 0x2f, path.count - i - 1 <= 100, path.count - i - 1 > 0 {
                return (Array(path[0..<i]), Array(path[(i + 1)...]))
            }
            i -= 1
        }
        return nil
    }

    /// One PAX record: `"%d %s=%s\n"` where the length counts itself.
    static func paxRecord(_ key: String, _ value: [UInt8]) -> [UInt8] {
        let body = Array(" \(key)=".utf8) + value + [0x0a]
        var len = body.count + 1
        while String(len).utf8.count + body.count > len { len += 1 }
        return Array(String(len).utf8) + body
    }

    /// Builds the ustar header block for `entry` (fields that do not fit are left for PAX).
    static func block(
        name: [UInt8], prefix: [UInt8], mode: UInt32, uid: Int, gid: Int, size: Int64, mtime: Int64,
        typeflag: UInt8, linkName: [UInt8], userName: [UInt8], groupName: [UInt8], devMajor: UInt32, devMinor: UInt32
    ) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: blockSize)
        putString(name, into: &b, at: 0, width: 100)
        putOctal(Int64(mode & 0o7777), into: &b, at: 100, width: 8)
        putOctal(Int64(uid) <= octalLimit(8) ? Int64(uid) : 0, into: &b, at: 108, width: 8)
        putOctal(Int64(gid) <= octalLimit(8) ? Int64(gid) : 0, into: &b, at: 116, width: 8)
        putOctal(size <= octalLimit(12) ? size : 0, into: &b, at: 124, width: 12)
        putOctal(mtime >= 0 && mtime <= octalLimit(12) ? mtime : 0, into: &b, at: 136, width: 12)
        b[156] = typeflag
        putString(linkName, into: &b, at: 157, width: 100)
        putString(Array("ustar\0".utf8), into: &b, at: 257, width: 6)
        putString(Array("00".utf8), into: &b, at: 263, width: 2)
        putString(userName, into: &b, at: 265, width: 32)
        putString(groupName, into: &b, at: 297, width: 32)
        putOctal(Int64(devMajor) <= octalLimit(8) ? Int64(devMajor) : 0, into: &b, at: 329, width: 8)
        putOctal(Int64(devMinor) <= octalLimit(8) ? Int64(devMinor) : 0, into: &b, at: 337, width: 8)
        putString(prefix, into: &b, at: 345, width: 155)
        // Checksum: the sum of all bytes with the checksum field taken as spaces.
        for i in 148..<156 { b[i] = 0x20 }
        let sum = b.reduce(0) { $0 + Int64($1) }
        putOctal(sum, into: &b, at: 148, width: 7)
        b[155] = 0x20
        return b
    }

    // MARK: decoding

    static func parseNumber(_ field: ArraySlice<UInt8>) throws(ArchiveError) -> Int64 {
        guard let first = field.first else { return 0 }
        if first & 0x80 != 0 {
            // GNU base-256: big-endian two's complement with the high bit set as a marker.
            var v: Int64 = first & 0x40 != 0 ? -1 : 0
            var bytes = Array(field)
            bytes[0] &= 0x7f
            if first & 0x40 != 0 { bytes[0] |= 0x80 }
            for byte in bytes {
                guard v >> 55 == 0 || v >> 55 == -1 else { throw ArchiveError.malformedTar("numeric field overflows") }
                v = (v << 8) | Int64(byte)
            }
            return v
        }
        var v: Int64 = 0
        var seenDigit = false
        for c in field {
            if c == 0 || (c == 0x20 && seenDigit) { break }
            if c == 0x20 { continue }
            guard c >= 0x30 && c <= 0x37 else { throw ArchiveError.malformedTar("invalid octal digit in header") }
            seenDigit = true
            guard v < (Int64.max >> 3) else { throw ArchiveError.malformedTar("octal field overflows") }
            v = v * 8 + Int64(c - 0x30)
        }
        return v
    }

    static func parseString(_ field: ArraySlice<UInt8>) -> [UInt8] {
        if let nul = field.firstIndex(of: 0) { return Array(field[field.startIndex..<nul]) }
        return Array(field)
    }

    static func verifyChecksum(_ b: [UInt8]) throws(ArchiveError) {
        let stored = try parseNumber(b[148..<156])
        var unsigned: Int64 = 0
        var signed: Int64 = 0
        for (i, byte) in b.enumerated() {
            let v: UInt8 = (148..<156).contains(i) ? 0x20 : byte
            unsigned += Int64(v)
            signed += Int64(Int8(bitPattern: v))
        }
        guard stored == unsigned || stored == signed else {
            throw ArchiveError.malformedTar("header checksum mismatch")
        }
    }

    /// Parses PAX records into key/value pairs.
    static func parsePAX(_ data: [UInt8]) throws(ArchiveError) -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = []
        var i = 0
        while i < data.count {
            guard let space = data[i...].firstIndex(of: 0x20),
                  let len = Int(String(decoding: data[i..<space], as: UTF8.self)), len > 0, i + len <= data.count,
                  data[i + len - 1] == 0x0a
            else { throw ArchiveError.malformedTar("bad PAX record") }
            let record = data[(space + 1)..<(i + len - 1)]
            guard let eq = record.firstIndex(of: 0x3d) else { throw ArchiveError.malformedTar("PAX record without '='") }
            out.append((String(decoding: record[record.startIndex..<eq], as: UTF8.self), Array(record[(eq + 1)...])))
            i += len
        }
        return out
    }
}
