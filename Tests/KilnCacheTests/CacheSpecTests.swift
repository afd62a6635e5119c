import KilnArchive
import KilnCache
import KilnOCI
import Testing

@Suite struct CacheSpecTests {
    @Test func registryDefaultsAndOptions() throws {
        guard case .registry(let ref, let o) = try CacheSpec.export("type=registry,ref=localhost:5000/cache:main") else {
            Issue.record("expected registry"); return
        }
        #expect(ref.description == "localhost:5000/cache:main")
        #expect(o == CacheExportOptions())
        guard case .registry(_, let max) = try CacheSpec.export(
            "type=registry,ref=r.io/c:1,mode=max,compression=zstd,compression-level=19,force-compression=true,ignore-error=true")
        else { Issue.record("expected registry"); return }
        #expect(max.mode == .max && max.compression == .zstd(level: 19) && max.forceCompression && max.ignoreError)
        guard case .registry(_, let docker) = try CacheSpec.export("type=registry,ref=r.io/c:1,oci-mediatypes=false") else {
            Issue.record("expected registry"); return
        }
        #expect(!docker.ociMediaTypes && !docker.imageManifest)
        guard case .registry(_, let index) = try CacheSpec.export("\"type=registry\",\"ref=r.io/c:1\",image-manifest=false") else {
            Issue.record("expected registry"); return
        }
        #expect(index.ociMediaTypes && !index.imageManifest)
    }

    @Test func inlineLocalAndImports() throws {
        #expect(try CacheSpec.export("type=inline") == .inline)
        guard case .local(let dest, _) = try CacheSpec.export("type=local,dest=/tmp/c,mode=max") else { Issue.record("expected local"); return }
        #expect(dest == "/tmp/c")
        #expect(try CacheSpec.import("r.io/c:1") == .registry(try Reference(parsing: "r.io/c:1")))
        #expect(try CacheSpec.import("type=registry,ref=r.io/c:1") == .registry(try Reference(parsing: "r.io/c:1")))
        #expect(try CacheSpec.import("type=local,src=/tmp/c") == .local(src: "/tmp/c", tag: nil))
    }

    @Test(arguments: [
        ("type=registry", "ref"),
        ("type=registry,ref=r.io/c:1,compression=lz4", "lz4"),
        ("type=registry,ref=r.io/c:1,compression-level=abc", "abc"),
        ("type=registry,ref=r.io/c:1,compression=gzip,compression-level=10", "10"),
        ("type=registry,ref=r.io/c:1,compression=zstd,compression-level=23", "23"),
        ("type=registry,ref=r.io/c:1,mode=foo", "foo"),
        ("type=nosuchcache,ref=r.io/c:1", "nosuchcache"),
        ("type=registry,ref=\"r.io/c:1", "unterminated"),
        ("type=registry,ref=r.io/c:1,oci-mediatypes=false,image-manifest=true", "image-manifest=true"),
        ("type=registry,ref=r.io/c:1,force-compression=maybe", "maybe"),
        ("type=local", "dest"),
    ])
    func invalidSpecsNameTheProblem(_ c: (String, String)) {
        do {
            _ = try CacheSpec.export(c.0)
            Issue.record("accepted \(c.0)")
        } catch {
            #expect(error.description.contains(c.1), "\(error.description)")
        }
    }
}
