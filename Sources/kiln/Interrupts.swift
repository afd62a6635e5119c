import Foundation
import KilnSystem
import Synchronization

/// Turns SIGINT, SIGTERM, SIGHUP and a closed output pipe into cancellation of the running
/// command, so it stops its containers, unmounts, removes its temporary files and exits with
/// 128 + the signal (130 for Ctrl-C, 143 for SIGTERM, 141 for a closed pipe). A second signal
/// exits at once; the next kiln on the same root cleans up what that leaves.
final class Interrupts: Sendable {
    private let state = Mutex<(signal: Int32?, cancel: (@Sendable () -> Void)?)>((nil, nil))
    /// Kept alive for the life of the process (a source stops when released); written once,
    /// by ``install(cancel:)`` before any handler runs.
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    /// The signal that interrupted the command, if one did.
    var received: Int32? { state.withLock { $0.signal } }

    private init() {}

    /// Installs the handlers; `cancel` stops the command.
    static func install(cancel: @escaping @Sendable () -> Void) -> Interrupts {
        signal(SIGPIPE, SIG_IGN)
        let interrupts = Interrupts()
        interrupts.state.withLock { $0.cancel = cancel }
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { interrupts.interrupt(sig) }
            source.resume()
            sources.append(source)
        }
        Console.onBrokenPipe { interrupts.interrupt(SIGPIPE) }
        interrupts.watchForClosedOutput()
        return interrupts
    }

    private func interrupt(_ sig: Int32) {
        let first = state.withLock { s -> (@Sendable () -> Void)? in
            guard s.signal == nil else { return nil }
            s.signal = sig
            return s.cancel
        }
        guard let cancel = first else {
            if sig != SIGPIPE { _exit(128 + sig) }  // asked twice: stop now
            return
        }
        if sig != SIGPIPE { Console.write("\ninterrupted (\(Self.name(sig))): stopping the build and cleaning up\n", to: STDERR_FILENO) }
        cancel()
    }

    /// A pipe on stdout whose reader closed reports POLLERR even while nothing is written: a
    /// thread waits for that (`kiln build … | head` ends the build when `head` exits).
    private func watchForClosedOutput() {
        var st = stat()
        guard fstat(STDOUT_FILENO, &st) == 0, (st.st_mode & S_IFMT) == S_IFIFO || (st.st_mode & S_IFMT) == S_IFSOCK else { return }
        Thread.detachNewThread { [self] in
            var fds = pollfd(fd: STDOUT_FILENO, events: 0, revents: 0)
            while poll(&fds, 1, -1) < 0 && errno == EINTR {}
            if fds.revents & Int16(POLLERR | POLLHUP) != 0 { self.interrupt(SIGPIPE) }
        }
    }

    static func name(_ sig: Int32) -> String {
        switch sig {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGHUP: "SIGHUP"
        case SIGPIPE: "closed output pipe"
        default: "signal \(sig)"
        }
    }
}
