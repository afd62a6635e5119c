import Foundation
import KilnOCI
import Testing

@Suite struct DocumentTests {
    @Test func canonicalJSONIsSortedCompactAndUnescaped() throws {
        let v: [String: JSONValue] = ["b": .string("a/b"), "a": .int(1), "c": .array([.bool(true), .null])]
        let data = try CanonicalJSON.encode(v)
        #expect(String(decoding: data, as: UTF8.self) == #"{"a":1,"b":"a/b","c":[true,null]}"#)
        #expect(try CanonicalJSON.encode(v) == data)
    }

    @Test func imageConfigKeepsEveryUnmodelledField() throws {
        let json = """
        {"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z",
         "config":{"Env":["A=1"],"Cmd":["sh"],"Healthcheck":{"Test":["CMD","true"],"Interval":30000000000},
                   "Shell":["/bin/ash","-c"],"OnBuild":["RUN x"],"ArgsEscaped":true,"Unknown":{"x":[1,2.5]}},
         "rootfs":{"type":"layers","diff_ids":["sha256:\(String(repeating: "1", count: 64))"]},
         "history":[{"created_by":"x","empty_layer":true,"weird":1}],
         "moby.buildkit.cache.v0":"e30=","future_key":{"nested":"yes"}}
        """
        var config = try ImageConfig.decode(Data(json.utf8))
        #expect(config.runtime.env == ["A=1"])
        #expect(config.runtime.shell == ["/bin/ash", "-c"])
        #expect(config.runtime.onBuild == ["RUN x"])
        #expect(config.runtime.healthcheck?["Interval"]?.intValue == 30_000_000_000)
        #expect(config.diffIDs.count == 1)
        #expect(config.history.first?.emptyLayer == true)
        var rt = config.runtime
        rt.user = "nobody"
        config.runtime = rt
        let reencoded = try ImageConfig.decode(try config.encoded())
        #expect(reencoded.fields["moby.buildkit.cache.v0"] == .string("e30="))
        #expect(reencoded.fields["future_key"]?["nested"] == .string("yes"))
        #expect(reencoded.runtime.fields["Unknown"]?["x"] == .array([.int(1), .double(2.5)]))
        #expect(reencoded.runtime.fields["ArgsEscaped"] == .bool(true))
        #expect(reencoded.runtime.user == "nobody")
        #expect(reencoded.history.first?.fields["weird"] == .int(1))
        #expect(reencoded.runtime.healthcheck == config.runtime.healthcheck)
    }

    @Test func configRejectsNonStringDiffIDs() {
        #expect(throws: OCIError.self) { try ImageConfig.decode(Data(#"{"rootfs":{"diff_ids":[1]}}"#.utf8)) }
    }

    @Test func manifestDocumentDispatchesOnMediaType() throws {
        let config = Descriptor(mediaType: MediaType.ociConfig, digest: .of([1]), size: 1)
        let m = ImageManifest(config: config, layers: [])
        let data = try m.encoded()
        guard case .manifest(let back) = try ManifestDocument.decode(data, contentType: MediaType.ociManifest) else {
            Issue.record("expected a manifest"); return
        }
        #expect(back == m)
        let idx = try ImageIndex(manifests: [Descriptor(mediaType: MediaType.ociManifest, digest: .of(data), size: Int64(data.count))]).encoded()
        guard case .index = try ManifestDocument.decode(idx, contentType: "application/json") else {
            Issue.record("expected an index"); return
        }
    }

    @Test func unknownAndSchema1MediaTypesAreRefused() throws {
        let data = Data(#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:\#(String(repeating: "0", count: 64))","size":1},"layers":[]}"#.utf8)
        #expect(throws: OCIError.unsupportedMediaType("application/vnd.example.thing", expected: "an OCI or Docker manifest or index")) {
            try ManifestDocument.decode(data, contentType: "application/vnd.example.thing")
        }
        let v1 = Data(#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#.utf8)
        #expect(throws: OCIError.self) { try ManifestDocument.decode(v1, contentType: MediaType.dockerSchema1Signed) }
    }

    @Test func malformedManifestErrorsSayWhere() {
        let bad = Data(#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:zz","size":1},"layers":[]}"#.utf8)
        do {
            _ = try ImageManifest.decode(bad)
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("image manifest"))
            #expect(error.description.contains("config"))
        }
        #expect(throws: OCIError.self) {
            try ImageManifest.decode(Data(#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:\#(String(repeating: "0", count: 64))","size":-1},"layers":[]}"#.utf8))
        }
    }

    @Test func layerMediaTypes() {
        #expect(MediaType.layerCompression(MediaType.ociLayerZstd) == .zstd)
        #expect(MediaType.layerCompression(MediaType.dockerLayerGzip) == .gzip)
        #expect(MediaType.layerCompression(MediaType.ociLayerNonDistributable) == .uncompressed)
        #expect(MediaType.layerCompression(MediaType.ociConfig) == nil)
        #expect(MediaType.isNonDistributable(MediaType.dockerForeignLayerGzip))
        #expect(MediaType.layer(.zstd, oci: false) == MediaType.dockerLayerZstd)
    }
}
