import Foundation
import KilnOCI
import Testing

@Suite struct DigestTests {
    @Test func parsesValidSHA256AndSHA512() throws {
        let d = try Digest(parsing: "sha256:" + String(repeating: "a", count: 64))
        #expect(d.algorithm == .sha256)
        #expect(d.description == "sha256:" + String(repeating: "a", count: 64))
        let e = try Digest(parsing: "sha512:" + String(repeating: "0", count: 128))
        #expect(e.algorithm == .sha512)
    }

    @Test(arguments: [
        "", "sha256", "sha256:", "md5:" + String(repeating: "a", count: 32),
        "sha256:" + String(repeating: "A", count: 64), "sha256:" + String(repeating: "a", count: 63),
        "sha256:" + String(repeating: "g", count: 64), "sha512:" + String(repeating: "a", count: 64),
    ])
    func rejectsInvalid(_ s: String) {
        #expect(throws: OCIError.self) { try Digest(parsing: s) }
    }

    @Test func computesKnownValues() {
        #expect(Digest.of(Data()).description == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Digest.of(Data("abc".utf8)).encoded == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.of(Data("abc".utf8), algorithm: .sha512).encoded.hasPrefix("ddaf35a193617aba"))
    }

    @Test func incrementalHashingMatchesOneShot() {
        let data = Data((0..<100_000).map { UInt8($0 % 251) })
        var h = DigestHasher()
        var i = 0
        while i < data.count {
            let end = min(i + 7919, data.count)
            h.update(data[i..<end])
            i = end
        }
        #expect(h.finalize() == Digest.of(data))
        #expect(h.count == Int64(data.count))
    }

    @Test func jsonRoundTripValidates() throws {
        let d = Digest.of(Data("x".utf8))
        let enc = try JSONEncoder().encode([d])
        #expect(try JSONDecoder().decode([Digest].self, from: enc) == [d])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([Digest].self, from: Data(#"["sha256:nothex"]"#.utf8)) }
    }
}
