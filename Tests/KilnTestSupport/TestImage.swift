import Foundation
import KilnArchive
import KilnOCI
import KilnRegistry

/// One-layer base images made from a directory, for tests that build on a base.
public enum TestImage {
    /// Packs `rootfs` as a gzip layer (in `scratch`, a writable directory) and pushes it with
    /// an OCI config carrying `env` to `ref`; returns `ref` as text.
    @discardableResult
    public static func push(rootfs: String, to ref: String, client: RegistryClient, scratch: String,
                            env: [String] = []) async throws -> String {
        let reference = try Reference(parsing: ref)
        let blobPath = scratch + "/" + UUID().uuidString + ".tgz"
        defer { try? FileManager.default.removeItem(atPath: blobPath) }
        let writer = try LayerWriter(path: blobPath, compression: .gzipDefault)
        try LayerPacker().pack(directory: rootfs, into: writer.tar)
        let blob = try writer.finish()
        let layer = Descriptor(mediaType: MediaType.ociLayerGzip, digest: blob.digest, size: blob.size)
        try await client.pushBlob(layer, fromFile: blobPath, to: reference)
        var config = ImageConfig()
        config.diffIDs = [blob.diffID]
        if !env.isEmpty {
            var rt = config.runtime
            rt.env = env
            config.runtime = rt
        }
        let configDesc = try await client.pushBlob(try config.encoded(), mediaType: MediaType.ociConfig, to: reference)
        try await client.putManifest(try ImageManifest(config: configDesc, layers: [layer]).encoded(), mediaType: MediaType.ociManifest, to: reference)
        return reference.description
    }

    /// busybox-static with its common applets, `/etc/passwd` (root, app 1000), `/etc/group`
    /// (root, app, staff 50 with app), `/home/app` owned by app, a sticky `/tmp`, and two files
    /// for RUN tests to change and remove (`/etc/motd`, `/etc/gone`), pushed to
    /// `HOST/base/busybox:latest`; returns the reference.
    @discardableResult
    public static func busybox(host: String, client: RegistryClient, scratch: String) async throws -> String {
        let rootfs = scratch + "/busybox-rootfs-" + UUID().uuidString.prefix(8)
        for d in ["bin", "etc", "tmp", "home/app", "root"] {
            try FileManager.default.createDirectory(atPath: rootfs + "/" + d, withIntermediateDirectories: true)
        }
        defer { try? FileManager.default.removeItem(atPath: rootfs) }
        chmod(rootfs + "/tmp", 0o1777)
        chown(rootfs + "/home/app", 1000, 1000)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: rootfs + "/bin/busybox")
        for applet in ["sh", "echo", "id", "cat", "ls", "mkdir", "rm", "touch", "pwd", "printf", "wc", "sleep", "ip", "head", "true",
                       "test", "cp", "mv", "env", "ln", "grep", "stat"] {
            symlink("busybox", rootfs + "/bin/" + applet)
        }
        try "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n".write(toFile: rootfs + "/etc/passwd", atomically: true, encoding: .utf8)
        try "root:x:0:\napp:x:1000:\nstaff:x:50:app\n".write(toFile: rootfs + "/etc/group", atomically: true, encoding: .utf8)
        try "old\n".write(toFile: rootfs + "/etc/motd", atomically: true, encoding: .utf8)
        try "bye\n".write(toFile: rootfs + "/etc/gone", atomically: true, encoding: .utf8)
        return try await push(rootfs: rootfs, to: "\(host)/base/busybox:latest", client: client, scratch: scratch, env: ["PATH=/bin"])
    }
}
