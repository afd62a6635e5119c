import ArgumentParser
import Foundation
import KilnBuild

/// `kiln info`: what this machine gives the worker.
struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the worker's snapshotter, runtime and state directory.")

    @Option(help: "State directory (default: $KILN_ROOT or ~/.local/share/kiln).")
    var root: String?

    func run() async throws {
        let store = try await StateDirectory.open(root)
        defer { store.claim.release() }
        let state = store.root
        let probe = await WorkerInfo.probe(store: store, requested: try StateDirectory.requestedSnapshotter())
        let snapshotter = probe.snapshotter
        print("state directory: \(state)")
        print("snapshotter:     \(snapshotter.kind.rawValue)" + (snapshotter.reason.map { " (\($0))" } ?? ""))
        print("runtime:         \(probe.runc ?? "runc not found")")
        print("platform:        linux/amd64")
    }
}
