import Foundation
import KilnStore
import KilnSystem

/// runc as the worker drives it: containers under `ROOT/runc`, named after this process's
/// claim (so a later kiln can tell a dead build's containers from a live one's), run in the
/// foreground with output streamed; a cancelled run kills the container and deletes it.
struct Runc {
    /// runc's `--root` (under the state directory).
    let root: String

    /// A new container id for claim `claim`: `kiln-<claim>-<random>`.
    static func containerID(claim: String) -> String {
        "kiln-\(claim)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// The claim id a container id carries (nil for containers of older kiln versions).
    static func claim(ofContainer id: String) -> String? {
        let parts = id.split(separator: "-")
        return parts.count == 3 && parts[0] == "kiln" ? String(parts[1]) : nil
    }

    /// Runs the bundle's container to its end and returns its exit status; output streams to
    /// `report` as it comes. On cancellation the container's init is killed; the container is
    /// deleted in every case.
    func run(bundle: String, id: String, report: @escaping @Sendable ([UInt8], Int) async -> Void) async throws -> Int32 {
        let stateFile = "\(root)/\(id)/state.json"
        let finished = OnceFlag()
        defer { finished.set() }
        let result: Subprocess.Result
        do {
            result = try await Subprocess.run(["runc", "--root", root, "run", "--bundle", bundle, id], stream: { chunk, fd in
                await report(chunk, Int(fd))
            }, onCancel: { _ in Self.killInit(stateFile: stateFile, until: finished) })
        } catch {
            await delete(id)
            throw error
        }
        await delete(id)
        return result.status
    }

    /// `runc delete --force` (kills what is left of the container and removes its state).
    func delete(_ id: String) async {
        guard FileManager.default.fileExists(atPath: "\(root)/\(id)") else { return }
        _ = try? await Subprocess.run(["runc", "--root", root, "delete", "--force", id])
    }

    /// Kills the container's init as soon as runc has recorded it (a container still being
    /// created is caught when it starts), giving up once `runc run` has returned.
    static func killInit(stateFile: String, until finished: OnceFlag) {
        Thread.detachNewThread {
            for _ in 0..<600 where !finished.isSet {
                if let pid = initPID(stateFile) {
                    kill(pid, SIGKILL)
                    return
                }
                usleep(50_000)
            }
        }
    }

    static func initPID(_ stateFile: String) -> Int32? {
        guard let data = FileManager.default.contents(atPath: stateFile),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let pid = obj["init_process_pid"] as? Int, pid > 0 else { return nil }
        return Int32(pid)
    }
}

/// Kills and deletes the runc containers that kiln processes no longer alive left running.
public struct RuncReaper: AbandonedProcessReaper {
    /// A reaper.
    public init() {}

    public func reap(root: String, isLive: @escaping @Sendable (String) -> Bool) async -> Int {
        let runc = Runc(root: root + "/runc")
        guard let list = try? await Subprocess.run(["runc", "--root", runc.root, "list", "-q"]), list.status == 0 else { return 0 }
        var removed = 0
        for id in list.text.split(separator: "\n").map(String.init) where !id.isEmpty {
            if let claim = Runc.claim(ofContainer: id), isLive(claim) { continue }
            await runc.delete(id)
            removed += 1
        }
        return removed
    }
}
