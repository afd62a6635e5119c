import Foundation
import KilnExport
import KilnOCI
import Testing

/// `--annotation` as buildx reads it, and the documents it shapes.
@Suite struct AnnotationTests {
    @Test func typesPlatformsAndKeysWithColons() throws {
        let a = try ImageAnnotations(parsing: [
            "title=demo", "manifest,index:both=1", "index-descriptor:d=2", "manifest-descriptor:md=3",
            "manifest[linux/arm64]:arm=only", "manifest[linux/amd64]:amd=yes", "com.example:build=7", "url=https://x/y?a=b",
        ], platform: .linuxAMD64)
        #expect(a.manifest == ["title": "demo", "both": "1", "amd": "yes", "com.example:build": "7", "url": "https://x/y?a=b"])
        #expect(a.index == ["both": "1"] && a.indexDescriptor == ["d": "2"] && a.manifestDescriptor == ["md": "3"])
        let plain = try ImageAnnotations(parsing: ["k=v"], platform: .linuxAMD64)
        #expect(a.needsIndex && !plain.needsIndex)
        for bad in ["novalue", "=v", "manifest:=v", "manifest[linux//]:k=v"] {
            #expect(throws: ExportError.self, "\(bad)") { try ImageAnnotations(parsing: [bad], platform: .linuxAMD64) }
        }
    }
}
