import Foundation
import KilnOCI
import KilnSystem

/// One JSON object a line in BuildKit's SolveStatus shape (`vertexes`, `statuses`, `logs`,
/// `warnings`), as `buildctl --progress rawjson` prints it.
public actor RawJSONPrinter: ProgressPrinter {
    private let output: FileHandle

    /// A printer writing to `output`.
    public init(output: FileHandle) { self.output = output }

    static func time(_ d: Date?) -> JSONValue {
        guard let d else { return .null }
        return .string(Timestamp.rfc3339(seconds: d.timeIntervalSince1970))
    }

    public func handle(_ event: ProgressEvent) async {
        var obj: [String: JSONValue] = [:]
        switch event {
        case .vertex(let v):
            var fields: [String: JSONValue] = ["digest": .string(v.digest.description), "name": .string(v.name)]
            if v.started != nil { fields["started"] = Self.time(v.started) }
            if v.completed != nil { fields["completed"] = Self.time(v.completed) }
            if v.cached { fields["cached"] = .bool(true) }
            if let e = v.error { fields["error"] = .string(e) }
            obj["vertexes"] = .array([.object(fields)])
        case .log(let vertex, let stream, let data):
            obj["logs"] = .array([.object(["vertex": .string(vertex.description), "stream": .int(Int64(stream)),
                                           "data": .string(Data(data).base64EncodedString()), "timestamp": Self.time(Date())])])
        case .status(let s):
            var fields: [String: JSONValue] = ["id": .string(s.id), "vertex": .string(s.vertex.description), "name": .string(s.label),
                                               "current": .int(s.current), "timestamp": Self.time(Date())]
            if s.total > 0 { fields["total"] = .int(s.total) }
            if s.started != nil { fields["started"] = Self.time(s.started) }
            if s.completed != nil { fields["completed"] = Self.time(s.completed) }
            obj["statuses"] = .array([.object(fields)])
        case .warning(let vertex, let short, let detail):
            var w: [String: JSONValue] = ["short": .string(Data(short.utf8).base64EncodedString()),
                                          "detail": .array(detail.map { .string(Data($0.utf8).base64EncodedString()) })]
            if let vertex { w["vertex"] = .string(vertex.description) }
            obj["warnings"] = .array([.object(w)])
        case .cacheMiss(let vertex, let reasons):
            let now = Self.time(Date())
            obj["statuses"] = .array([.object(["id": .string("cache-miss"), "vertex": .string(vertex.description),
                                                "name": .string(ProgressEvent.cacheMissText(reasons)), "current": .int(0),
                                                "timestamp": now, "started": now, "completed": now])])
        }
        if let data = try? CanonicalJSON.encode(obj) { Console.write(data + Data("\n".utf8), to: output.fileDescriptor) }
    }

    public func finish() async {}
}
