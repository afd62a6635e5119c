/// The one formatter and parser of the times kiln writes and reads: RFC 3339 (image configs,
/// history, cache records and annotations, eStargz TOCs, progress) and RFC 7231 HTTP dates
/// (`Last-Modified`, `Retry-After`). Written by hand, without Foundation's formatters: the
/// output goes into digests, so it must not depend on a locale, and it is called per layer.
public enum Timestamp {
    /// `2024-01-02T03:04:05Z` for `seconds` since the epoch (UTC, whole seconds).
    public static func rfc3339(_ seconds: Int64) -> String {
        let (y, m, d, hh, mm, ss) = civil(seconds)
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(hh, 2)):\(pad(mm, 2)):\(pad(ss, 2))Z"
    }

    /// `2024-01-02T03:04:05.678Z`: `seconds` with millisecond precision.
    public static func rfc3339(seconds: Double) -> String {
        let whole = Int64(seconds.rounded(.down))
        let millis = min(999, Int64(((seconds - Double(whole)) * 1000).rounded()))
        let base = rfc3339(whole)
        return String(base.dropLast()) + "." + pad(millis, 3) + "Z"
    }

    /// Seconds since the epoch of an RFC 3339 time (`Z` or `±hh:mm`, fractions ignored).
    public static func parseRFC3339(_ text: String) -> Int64? {
        let s = Array(text.utf8)
        guard s.count >= 20, s[4] == UInt8(ascii: "-"), s[7] == UInt8(ascii: "-"), s[10] == UInt8(ascii: "T") || s[10] == UInt8(ascii: "t"),
              s[13] == UInt8(ascii: ":"), s[16] == UInt8(ascii: ":"),
              let y = number(s[0..<4]), let mo = number(s[5..<7]), let d = number(s[8..<10]),
              let h = number(s[11..<13]), let mi = number(s[14..<16]), let sec = number(s[17..<19]),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, sec < 61
        else { return nil }
        var i = 19
        if i < s.count, s[i] == UInt8(ascii: ".") {
            i += 1
            while i < s.count, (48...57).contains(s[i]) { i += 1 }
        }
        guard i < s.count else { return nil }
        var offset: Int64 = 0
        if s[i] == UInt8(ascii: "Z") || s[i] == UInt8(ascii: "z") {
            guard i == s.count - 1 else { return nil }
        } else {
            guard s.count - i == 6, s[i] == UInt8(ascii: "+") || s[i] == UInt8(ascii: "-"), s[i + 3] == UInt8(ascii: ":"),
                  let oh = number(s[(i + 1)..<(i + 3)]), let om = number(s[(i + 4)..<(i + 6)]) else { return nil }
            offset = (oh * 3600 + om * 60) * (s[i] == UInt8(ascii: "-") ? -1 : 1)
        }
        return days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset
    }

    /// Seconds since the epoch of an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
    public static func parseHTTPDate(_ text: String) -> Int64? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let d = Int64(parts[1]), let y = Int64(parts[3]),
              let mo = months.firstIndex(of: String(parts[2])).map({ Int64($0 + 1) }) else { return nil }
        let t = parts[4].split(separator: ":").compactMap { Int64($0) }
        guard t.count == 3, (1...31).contains(d), t[0] < 24, t[1] < 60, t[2] < 61 else { return nil }
        return days(y, mo, d) * 86400 + t[0] * 3600 + t[1] * 60 + t[2]
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func days(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// Year, month, day, hour, minute, second of `seconds` since the epoch.
    static func civil(_ seconds: Int64) -> (Int64, Int64, Int64, Int64, Int64, Int64) {
        let z0 = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let rest = seconds - z0 * 86400
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d, rest / 3600, rest % 3600 / 60, rest % 60)
    }

    private static func pad(_ n: Int64, _ width: Int) -> String {
        let s = String(n)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    private static func number(_ bytes: ArraySlice<UInt8>) -> Int64? {
        var n: Int64 = 0
        for b in bytes {
            guard (48...57).contains(b) else { return nil }
            n = n * 10 + Int64(b - 48)
        }
        return bytes.isEmpty ? nil : n
    }
}

/// The ChainID of a layer chain (OCI image spec): the first diffID, then
/// `sha256(previous + " " + diffID)` for each next one. An empty chain has the digest of no
/// bytes, so every chain — even that of `FROM scratch` — has one.
public enum ChainID {
    /// The ChainID of `diffIDs`, in order.
    public static func of(_ diffIDs: [Digest]) -> Digest {
        var id: Digest?
        for d in diffIDs { id = id.map { Digest.of(Array("\($0) \(d)".utf8)) } ?? d }
        return id ?? Digest.of([UInt8]())
    }
}
