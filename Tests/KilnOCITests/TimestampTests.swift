import Foundation
import KilnOCI
import Testing

/// The hand-written RFC 3339 and HTTP date code agrees with Foundation's formatters.
@Suite struct TimestampTests {
    static let samples: [Int64] = [0, 1, 59, 86399, 86400, 951_782_400, 951_868_799, 1_234_567_890, 1_700_000_000,
                                   4_102_444_800, 253_402_300_799, -1, -86401, -2_208_988_800]

    @Test(arguments: samples) func formatsAsFoundationDoes(seconds: Int64) {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        #expect(Timestamp.rfc3339(seconds) == f.string(from: Date(timeIntervalSince1970: TimeInterval(seconds))))
        #expect(Timestamp.parseRFC3339(Timestamp.rfc3339(seconds)) == seconds)
    }

    @Test func fractionsOffsetsAndHTTPDates() {
        #expect(Timestamp.rfc3339(seconds: 1_700_000_000.25) == "2023-11-14T22:13:20.250Z")
        #expect(Timestamp.parseRFC3339("2023-11-14T22:13:20.123456789Z") == 1_700_000_000)
        #expect(Timestamp.parseRFC3339("2023-11-14T23:13:20+01:00") == 1_700_000_000)
        #expect(Timestamp.parseRFC3339("2023-11-14T22:13:20") == nil)
        #expect(Timestamp.parseRFC3339("garbage") == nil)
        #expect(Timestamp.parseHTTPDate("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(Timestamp.parseHTTPDate("Sun, 06 Foo 1994 08:49:37 GMT") == nil)
    }

    @Test func chainIDs() throws {
        let a = Digest.of(Array("a".utf8)), b = Digest.of(Array("b".utf8))
        #expect(ChainID.of([a]) == a)
        #expect(ChainID.of([a, b]) == Digest.of(Array("\(a) \(b)".utf8)))
        #expect(ChainID.of([]) == Digest.of([UInt8]()))
    }
}
