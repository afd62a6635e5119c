import KilnOCI
import Testing

@Suite struct PlatformTests {
    @Test func parsesAndNormalises() throws {
        #expect(try Platform(parsing: "linux/amd64").description == "linux/amd64")
        #expect(try Platform(parsing: "linux/x86_64").description == "linux/amd64")
        #expect(try Platform(parsing: "linux/aarch64").description == "linux/arm64")
        #expect(try Platform(parsing: "linux/arm64/v8").description == "linux/arm64")
        #expect(try Platform(parsing: "linux/arm").description == "linux/arm/v7")
        #expect(try Platform(parsing: "Linux/ARM/v6").description == "linux/arm/v6")
    }

    @Test(arguments: ["", "linux", "linux/", "/amd64", "linux/amd64/v1/x", "linux/am d64"])
    func rejectsMalformed(_ s: String) {
        #expect(throws: OCIError.self) { try Platform(parsing: s) }
    }

    @Test func matching() throws {
        let amd = Platform.linuxAMD64
        #expect(amd.matches(Platform(os: "linux", architecture: "amd64")))
        #expect(!amd.matches(Platform(os: "linux", architecture: "arm64")))
        #expect(!amd.matches(Platform(os: "windows", architecture: "amd64")))
        let arm64 = try Platform(parsing: "linux/arm64")
        #expect(arm64.matches(Platform(os: "linux", architecture: "arm64", variant: "v8")))
        let armv7 = try Platform(parsing: "linux/arm/v7")
        #expect(!armv7.matches(Platform(os: "linux", architecture: "arm", variant: "v6")))
    }

    @Test func indexSelectsByPlatform() throws {
        let d1 = Descriptor(mediaType: MediaType.ociManifest, digest: .of([1]), size: 1, platform: Platform(os: "linux", architecture: "arm64"))
        let d2 = Descriptor(mediaType: MediaType.ociManifest, digest: .of([2]), size: 1, platform: .linuxAMD64)
        let index = ImageIndex(manifests: [d1, d2])
        #expect(index.manifest(for: .linuxAMD64)?.digest == d2.digest)
        #expect(index.manifest(for: Platform(os: "linux", architecture: "s390x")) == nil)
    }
}
