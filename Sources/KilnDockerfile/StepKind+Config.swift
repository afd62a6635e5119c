import KilnOCI

extension StepKind {
    /// What the instruction does to the image config (ENV, LABEL, USER, WORKDIR, EXPOSE,
    /// VOLUME, ENTRYPOINT, CMD, SHELL, STOPSIGNAL, HEALTHCHECK, ONBUILD, MAINTAINER); steps that
    /// change files (RUN, COPY, ADD) and ARG leave it as it is. `entrypointSet` tracks whether
    /// this stage set ENTRYPOINT already (the first ENTRYPOINT clears an inherited CMD).
    public func apply(to config: inout ImageConfig, entrypointSet: inout Bool) {
        var rt = config.runtime
        switch self {
        case .env(let pairs):
            var env = rt.env ?? []
            for (k, v) in pairs {
                if let i = env.firstIndex(where: { $0.hasPrefix(k + "=") }) { env[i] = "\(k)=\(v)" } else { env.append("\(k)=\(v)") }
            }
            rt.env = env
        case .label(let pairs):
            var labels = rt.labels ?? [:]
            for (k, v) in pairs { labels[k] = v }
            rt.labels = labels
        case .user(let u): rt.user = u.isEmpty ? nil : u
        case .workdir(let w): rt.workingDir = w
        case .expose(let ports): rt.exposedPorts = Array(Set((rt.exposedPorts ?? []) + ports)).sorted()
        case .volume(let v): rt.volumes = Array(Set((rt.volumes ?? []) + v)).sorted()
        case .entrypoint(let form):
            rt.entrypoint = form.argv(shell: rt.shell)
            if !entrypointSet { rt.cmd = nil }
            entrypointSet = true
        case .cmd(let form): rt.cmd = form.argv(shell: rt.shell)
        case .shell(let s): rt.shell = s
        case .stopSignal(let s): rt.stopSignal = s
        case .healthcheck(let h): rt.healthcheck = h
        case .onbuild(let t): rt.onBuild = (rt.onBuild ?? []) + [t]
        case .maintainer(let m): config.fields["author"] = .string(m)
        case .run, .copy, .arg: break
        }
        config.runtime = rt
    }
}

extension CommandForm {
    /// The argument vector: exec form as written, shell form through `shell` (default `/bin/sh -c`).
    public func argv(shell: [String]?) -> [String] {
        switch self {
        case .exec(let a): a
        case .shell(let s): (shell ?? ["/bin/sh", "-c"]) + [s]
        }
    }
}
