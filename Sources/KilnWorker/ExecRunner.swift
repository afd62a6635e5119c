import CKilnSys
import Foundation
import KilnArchive
import KilnDockerfile
import KilnOCI
import KilnSolver
import KilnStore
import KilnSystem

/// Runs a RUN step with runc on a root the snapshotter prepared (an overlay mount, or a copy
/// where overlay cannot be mounted). After the run, ``removeArtifacts(_:)`` takes the mount
/// points runc had to create out of the change.
struct ExecRunner {
    let store: ContentStore
    let root: RunRoot
    let op: ExecOp
    let mounts: PreparedMounts
    var run: RunStep { op.run }
    let report: @Sendable ([UInt8], Int) async -> Void

    /// Paths runc may create as mount points; they are not part of the step's change.
    static let mountPoints = ["proc", "dev", "sys", "etc/resolv.conf", "etc/hosts"]

    /// Which mount points (and their parents) were there before the step, so that only the
    /// ones runc made are removed from its change; and the directories they sit in, whose
    /// times come back once those are gone and nothing else in them was added or removed.
    struct Before: Sendable {
        var existing: Set<String>
        var directories: [String: DirectoryState]
    }

    /// A directory's names and times.
    struct DirectoryState: Sendable {
        var names: [String]
        var atime: timespec
        var mtime: timespec

        init?(_ path: String) {
            var st = stat()
            guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, let names = try? HostFiles.list(path) else { return nil }
            (self.names, atime, mtime) = (names, st.st_atim, st.st_mtim)
        }
    }

    /// What ``removeArtifacts(_:)`` needs to know of the root before the step.
    func recordBefore() -> Before {
        let rooted = RootedDirectory(root.rootfs)
        var before = Before(existing: [], directories: [:])
        for t in Self.mountPoints + mounts.targets {
            var parts = FSPath.components(FSPath.relative(t))
            while !parts.isEmpty {
                let rel = parts.joined(separator: "/")
                if rooted.lstat(rel) != nil { before.existing.insert(rel) }
                parts.removeLast()
                let parent = parts.joined(separator: "/")
                if !parent.isEmpty, before.directories[parent] == nil, Self.realDirectories(parts[...], under: root.rootfs) {
                    before.directories[parent] = DirectoryState(root.rootfs + "/" + parent)
                }
            }
        }
        return before
    }

    /// Runs the step to its end; throws (with the exit code and the last lines of output) when
    /// it fails.
    func execute() async throws -> Before {
        let merged = root.rootfs
        // With secrets in the environment, the runtime spec holding them stays off the disk.
        let bundle = mounts.secretEnv.isEmpty ? root.work + "/bundle" : try mounts.privateDirectory(bytes: 1 << 20, purpose: "runtime spec")
        try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        let rooted = RootedDirectory(merged)
        let before = recordBefore()
        let user = try Self.resolveUser(run.user, rootfs: merged)
        let workdir = FSPath.clean(run.workdir)
        _ = try? rooted.makeDirectories(workdir)

        var env = run.env.map { "\($0.0)=\($0.1)" }
        for (k, v) in run.buildArgs where !run.env.contains(where: { $0.0 == k }) { env.append("\(k)=\(v)") }
        for (k, v) in mounts.secretEnv {
            env.removeAll { $0.hasPrefix(k + "=") }
            env.append("\(k)=\(v)")
        }
        for (k, v) in run.proxyEnv where !env.contains(where: { $0.hasPrefix(k + "=") }) { env.append("\(k)=\(v)") }
        if !env.contains(where: { $0.hasPrefix("PATH=") }) { env.append("PATH=" + PlannedStage.defaultPath) }
        if let h = run.hostname, !env.contains(where: { $0.hasPrefix("HOSTNAME=") }) { env.append("HOSTNAME=\(h)") }
        if !env.contains(where: { $0.hasPrefix("HOME=") }) { env.append("HOME=\(user.home)") }
        var spec = RuntimeSpec(args: op.argv, env: env, cwd: workdir, uid: user.uid, gid: user.gid,
                               additionalGids: user.groups, rootfs: merged, network: run.network ?? "default")
        spec.extraMounts = mounts.specMounts
        spec.hostname = run.hostname ?? spec.hostname
        spec.hostsFile = try Self.writeHosts(in: root.work, hostname: spec.hostname, extra: run.extraHosts)
        if let script = op.script {
            let file = root.work + "/script"
            let sink = try FileSink(path: file, mode: 0o755)
            try sink.write(Array(script.content.utf8))
            try sink.finishWithoutSync()
            spec.extraMounts.append(RuntimeSpec.mount(ExecOp.scriptDirectory + "/" + script.name, type: "bind", source: file, options: ["rbind", "ro"]))
        }
        try spec.json().write(to: URL(fileURLWithPath: bundle + "/config.json"))

        let runc = Runc(root: store.root + "/runc")
        // The output streamed to the progress display, which shows a failed step's last lines.
        let status = try await runc.run(bundle: bundle, id: Runc.containerID(claim: store.claim.id), report: report)
        if status != 0 {
            throw WorkerError("process \"\(op.argv.joined(separator: " "))\" did not complete successfully: exit code: \(status)")
        }
        return before
    }

    /// Takes the mount points runc made (and parents made for them) out of the root when the
    /// step left them empty, through the root itself (still mounted), and gives the
    /// directories they sat in their times back where the step added or removed nothing else
    /// there: so a step that changed nothing makes no layer, whichever snapshotter ran it.
    func removeArtifacts(_ before: Before) {
        Self.removeMountArtifacts(Self.mountPoints + mounts.targets, in: root.rootfs) { before.existing.contains($0) }
        for (rel, state) in before.directories.sorted(by: { $0.key.count > $1.key.count }) {
            let path = root.rootfs + "/" + rel
            guard Self.realDirectories(FSPath.components(rel)[...], under: root.rootfs),
                  DirectoryState(path)?.names == state.names else { continue }
            var times = [state.atime, state.mtime]
            utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW)
        }
    }

    /// Removes mount points runc had to create (and parents created for them) when the step
    /// left them empty: they are not part of the change. The step wrote `upper`, so no link in
    /// it is followed: a target under a symlink is left alone.
    static func removeMountArtifacts(_ targets: [String], in upper: String, existed: (String) -> Bool) {
        for t in targets {
            var parts = FSPath.components(FSPath.relative(t))
            guard !parts.isEmpty, realDirectories(parts.dropLast(), under: upper) else { continue }
            while !parts.isEmpty, !existed(parts.joined(separator: "/")) {
                removeIfEmpty(upper + "/" + parts.joined(separator: "/"))
                parts.removeLast()
            }
        }
    }

    /// Whether every prefix of `parts` under `root` is a real directory (not a symlink).
    static func realDirectories(_ parts: ArraySlice<String>, under root: String) -> Bool {
        var path = root
        for p in parts {
            path += "/" + p
            var st = stat()
            guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return false }
        }
        return true
    }

    static func removeIfEmpty(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            if (try? FileManager.default.contentsOfDirectory(atPath: path))?.isEmpty == true { rmdir(path) }
        } else if (st.st_mode & S_IFMT) == S_IFREG && st.st_size == 0 {
            unlink(path)
        }
    }

    struct User {
        var uid: UInt32
        var gid: UInt32
        var groups: [UInt32]
        var home: String
    }

    /// A step's own `/etc/hosts`: localhost, its hostname on the loopback address, then the
    /// `--add-host` entries.
    static func writeHosts(in directory: String, hostname: String, extra: [(String, String)] = []) throws -> String {
        let path = directory + "/hosts"
        var text = "127.0.0.1\tlocalhost \(hostname)\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        for (name, address) in extra { text += "\(address)\t\(name)\n" }
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    /// `USER` as uid, gid, supplementary groups and home, from the image's passwd and group
    /// files (read inside the image: links in it never lead to the host's files).
    static func resolveUser(_ spec: String, rootfs: String) throws -> User {
        // No USER is root, with root's supplementary groups from the image (as BuildKit runs it).
        let parts = (spec.isEmpty ? "0" : spec).split(separator: ":", maxSplits: 1).map(String.init)
        let image = RootedDirectory(rootfs)
        func read(_ file: String) -> String {
            (try? image.readFile(file)).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        let passwd = read("/etc/passwd")
        let group = read("/etc/group")
        let users = passwd.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }
        let groups = group.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }
        var uid: UInt32, gid: UInt32 = 0, home = "/", name = parts[0]
        if let entry = users.first(where: { $0.count >= 7 && ($0[0] == parts[0] || $0[2] == parts[0]) }) {
            uid = UInt32(entry[2]) ?? 0
            gid = UInt32(entry[3]) ?? 0
            home = entry[5]
            name = entry[0]
        } else if let n = UInt32(parts[0]) {
            uid = n
            if n == 0 { home = "/root" }
        } else {
            throw WorkerError("USER \(spec): no user '\(parts[0])' in /etc/passwd")
        }
        if parts.count > 1 {
            if let g = groups.first(where: { $0.count >= 3 && $0[0] == parts[1] }), let n = UInt32(g[2]) {
                gid = n
            } else if let n = UInt32(parts[1]) {
                gid = n
            } else {
                throw WorkerError("USER \(spec): no group '\(parts[1])' in /etc/group")
            }
        }
        // The primary group is always among the process's groups; the user's supplementary
        // groups from /etc/group join it unless USER names a group (then that group alone).
        guard parts.count == 1 else { return User(uid: uid, gid: gid, groups: [gid], home: home) }
        let extra = groups.filter { $0.count >= 4 && $0[3].split(separator: ",").contains(Substring(name)) }.compactMap { UInt32($0[2]) }
        return User(uid: uid, gid: gid, groups: [gid] + extra.filter { $0 != gid }, home: home)
    }
}
