import KilnOCI

extension PlannedStep {
    /// The `created_by` text of this step's image history entry, as BuildKit writes it: RUN
    /// with its build args (`RUN |2 a=1 b=2 /bin/sh -c cmd # buildkit`), COPY/ADD with the
    /// flags that change files and the expanded paths, HEALTHCHECK as its settings; the
    /// instruction as written otherwise.
    public var historyText: String {
        let keyword = instruction.keyword
        switch kind {
        case .run(let run):
            var words = ["RUN"]
            if !run.buildArgs.isEmpty { words += ["|\(run.buildArgs.count)"] + run.buildArgs.map { "\($0.0)=\($0.1)" } }
            words += run.command.argv(shell: run.shell)
            return words.joined(separator: " ") + " # buildkit"
        case .copy(let copy):
            var words = [keyword]
            if instruction.hasFlag("parents") { words.append("--parents") }
            if let chown = instruction.flag("chown") { words.append("--chown=" + chown) }
            if let chmod = instruction.flag("chmod") { words.append("--chmod=" + chmod) }
            words += copy.sources + copy.heredocs.map { "<<" + $0.name } + [copy.destination]
            return words.joined(separator: " ")
        case .expose(let ports):
            return "EXPOSE [" + ports.sorted().joined(separator: " ") + "]"
        case .healthcheck(let h):
            return "HEALTHCHECK " + Self.goHealthConfig(h)
        default:
            return "\(keyword) \(instruction.original.dropFirst(keyword.count).trimmingCharacters(in: .whitespaces))"
        }
    }

    /// Go's `%+v` of a health config: `{Test:[CMD a b] Interval:1s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}`.
    static func goHealthConfig(_ h: JSONValue) -> String {
        guard case .object(let o) = h else { return "{}" }
        let test: [String] = { if case .array(let a)? = o["Test"] { return a.compactMap(\.stringValue) } else { return [] } }()
        func ns(_ key: String) -> Int64 { if case .int(let v)? = o[key] { return v } else { return 0 } }
        let durations = ["Interval", "Timeout", "StartPeriod", "StartInterval"].map { "\($0):\(GoDuration.format(ns($0)))" }
        return "{Test:[\(test.joined(separator: " "))] \(durations.joined(separator: " ")) Retries:\(ns("Retries"))}"
    }
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `100ms`, `1.5µs`, `0s`.
enum GoDuration {
    static func format(_ nanoseconds: Int64) -> String {
        if nanoseconds == 0 { return "0s" }
        let negative = nanoseconds < 0
        let n = nanoseconds.magnitude
        var out: String
        if n < 1_000_000_000 {
            let (unit, scale): (String, UInt64) = n < 1_000 ? ("ns", 1) : n < 1_000_000 ? ("µs", 1_000) : ("ms", 1_000_000)
            out = fraction(n, scale) + unit
        } else {
            let hours = n / 3_600_000_000_000, minutes = (n / 60_000_000_000) % 60
            out = fraction(n % 60_000_000_000, 1_000_000_000) + "s"
            if hours > 0 || minutes > 0 { out = "\(minutes)m" + out }
            if hours > 0 { out = "\(hours)h" + out }
        }
        return negative ? "-" + out : out
    }

    /// `value / scale` with the fraction's trailing zeros dropped.
    private static func fraction(_ value: UInt64, _ scale: UInt64) -> String {
        let whole = value / scale, rest = value % scale
        guard rest > 0 else { return "\(whole)" }
        var digits = String(rest)
        digits = String(repeating: "0", count: String(scale).count - 1 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(whole).\(digits)"
    }
}
