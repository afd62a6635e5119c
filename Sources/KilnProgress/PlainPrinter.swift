import Foundation
import KilnOCI
import KilnSystem

/// buildx's plain output: `#N [stage i/n] STEP`, `#N CACHED`, `#N 0.123 log line`, `#N DONE 0.3s`.
public actor PlainPrinter: ProgressPrinter {
    private let output: FileHandle
    private var numbers: [Digest: Int] = [:]
    private var announced: Set<Digest> = []
    private var finished: Set<Digest> = []
    private var partial: [Digest: [UInt8]] = [:]
    private var starts: [Digest: Date] = [:]

    /// A printer writing to `output`.
    public init(output: FileHandle) { self.output = output }

    private func number(_ d: Digest) -> Int {
        if let n = numbers[d] { return n }
        let n = numbers.count + 1
        numbers[d] = n
        return n
    }

    private func write(_ s: String) { Console.write(s + "\n", to: output.fileDescriptor) }

    public func handle(_ event: ProgressEvent) async {
        switch event {
        case .vertex(let v):
            let n = number(v.digest)
            if v.completed == nil, finished.remove(v.digest) != nil {
                // Restarted (a cached result whose layer could not be fetched runs again).
                announced.remove(v.digest)
            }
            if announced.insert(v.digest).inserted {
                write("#\(n) \(v.name)")
                starts[v.digest] = v.started ?? Date()
            }
            guard !finished.contains(v.digest) else { return }
            if v.canceled {
                finished.insert(v.digest)
                flushPartial(v.digest)
                write("#\(n) CANCELED")
            } else if let e = v.error {
                finished.insert(v.digest)
                write("#\(n) ERROR: \(e)")
            } else if v.cached && v.completed != nil {
                finished.insert(v.digest)
                write("#\(n) CACHED")
            } else if let c = v.completed {
                finished.insert(v.digest)
                flushPartial(v.digest)
                let secs = c.timeIntervalSince(starts[v.digest] ?? c)
                write("#\(n) DONE \(String(format: "%.1f", max(0, secs)))s")
            }
        case .log(let vertex, _, let data):
            let n = number(vertex)
            var buf = (partial[vertex] ?? []) + data
            while let nl = buf.firstIndex(of: 0x0a) {
                let line = String(decoding: buf[..<nl], as: UTF8.self)
                let t = Date().timeIntervalSince(starts[vertex] ?? Date())
                write("#\(n) \(String(format: "%.3f", t)) \(line)")
                buf.removeSubrange(...nl)
            }
            partial[vertex] = buf
        case .status(let vertex, let id, let name, let current, let total):
            let n = number(vertex)
            if current == total && total > 0 { write("#\(n) \(name.isEmpty ? id : name) \(current)B done") }
        case .warning(_, let short, let detail):
            write("WARNING: \(short)" + (detail.isEmpty ? "" : " (" + detail.joined(separator: "; ") + ")"))
        }
    }

    private func flushPartial(_ d: Digest) {
        if let rest = partial[d], !rest.isEmpty {
            write("#\(number(d)) \(String(decoding: rest, as: UTF8.self))")
            partial[d] = []
        }
    }

    public func finish() async {
        for d in partial.keys { flushPartial(d) }
    }
}
