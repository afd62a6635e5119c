import Foundation
import KilnDockerfile
import KilnOCI
import Testing

@Suite struct PlannerTests {
    /// Base image configs by reference, as a registry would serve them.
    static let images: [String: [String]] = [
        "busybox": ["PATH=/usr/local/bin:/usr/bin:/bin", "BASEVAR=base"],
    ]

    func plan(_ text: String, args: [String: String] = [:], target: String? = nil) async throws -> BuildPlan {
        let parsed = try DockerfileParser().parse(text)
        return try await BuildPlanner(options: PlanOptions(buildArgs: args, target: target)).plan(parsed) { ref, _ in
            guard let env = Self.images[ref] else { return nil }
            var c = ImageConfig()
            var rt = c.runtime
            rt.env = env
            c.runtime = rt
            return c
        }
    }

    static let fixture = """
    ARG BASE=127.0.0.1:5000/base/busybox:latest

    FROM ${BASE} AS builder
    WORKDIR /src
    COPY src/ ./
    RUN m=builder-1; echo "EXEC[$m]"
    RUN m=builder-2; echo "EXEC[$m]"
    ARG FLAVOR=plain
    RUN m=builder-3; echo "flavor=$FLAVOR"

    FROM ${BASE} AS assets
    RUN m=assets-1; echo x

    FROM ${BASE} AS unused
    RUN m=unused-1; echo never

    FROM ${BASE} AS final
    COPY --from=builder /out/ /app/
    COPY --from=assets /assets/ /app/assets/
    COPY compressible.txt /app/compressible.txt
    ENV APP_HOME=/app APP_MODE=acceptance
    CMD ["/bin/sh", "-c", "cat /app/flavor.txt"]
    """

    @Test func acceptanceFixtureShape() async throws {
        let p = try await plan(Self.fixture, args: ["BASE": "reg:5000/base/busybox:latest"])
        #expect(p.stages.map(\.displayName) == ["builder", "assets", "final"])
        let builder = p.stages[0]
        #expect(builder.base == .image("reg:5000/base/busybox:latest", platform: nil))
        #expect(builder.fromName == "[builder 1/6] FROM reg:5000/base/busybox:latest")
        #expect(builder.steps.compactMap(\.vertexName) == [
            "[builder 2/6] WORKDIR /src", "[builder 3/6] COPY src/ ./",
            "[builder 4/6] RUN m=builder-1; echo \"EXEC[$m]\"", "[builder 5/6] RUN m=builder-2; echo \"EXEC[$m]\"",
            "[builder 6/6] RUN m=builder-3; echo \"flavor=$FLAVOR\"",
        ])
        // Build args reach only the RUNs after their ARG.
        guard case .run(let r2) = builder.steps[3].kind, case .run(let r3) = builder.steps[5].kind else {
            Issue.record("expected RUN steps"); return
        }
        #expect(r2.buildArgs.isEmpty)
        #expect(r3.buildArgs.map { "\($0.0)=\($0.1)" } == ["FLAVOR=plain"])
        let final = p.target
        guard case .copy(let c) = final.steps[0].kind else { Issue.record("expected COPY"); return }
        #expect(c.from == .stage(0))
        #expect(final.env.map { "\($0.0)=\($0.1)" } == ["APP_HOME=/app", "APP_MODE=acceptance"])
        guard case .cmd(.exec(let cmd)) = final.steps[4].kind else { Issue.record("expected CMD"); return }
        #expect(cmd == ["/bin/sh", "-c", "cat /app/flavor.txt"])
    }

    @Test func buildArgChangesOnlyLaterSteps() async throws {
        let p = try await plan(Self.fixture, args: ["FLAVOR": "spicy"])
        guard case .run(let r3) = p.stages[0].steps[5].kind else { Issue.record("expected RUN"); return }
        #expect(r3.buildArgs.map(\.1) == ["spicy"])
        #expect(p.stages[0].base == .image("127.0.0.1:5000/base/busybox:latest", platform: nil))
    }

    @Test func targetSelectsStagesAndUnknownTargetFails() async throws {
        let p = try await plan(Self.fixture, target: "assets")
        #expect(p.stages.map(\.displayName) == ["assets"])
        await #expect(throws: DockerfileError(line: 0, "target stage \"nope\" could not be found")) {
            try await plan(Self.fixture, target: "nope")
        }
    }

    @Test func envArgScopingAndImageEnv() async throws {
        let p = try await plan("""
        ARG V=global
        ARG TAG=busybox
        FROM $TAG
        ARG V
        ARG TARGETARCH
        ENV P=$PATH:/opt/bin B=${BASEVAR}-x V2=${V}
        ENV legacy value with spaces
        ARG LATE=${V:+set}
        LABEL a=$LATE "b c"=d
        WORKDIR app
        WORKDIR sub
        USER ${UNSET:-nobody}
        EXPOSE 80 53/udp 8000-8010
        VOLUME ["/data", "/logs"]
        STOPSIGNAL SIGTERM
        SHELL ["/bin/bash", "-c"]
        RUN echo $TARGETARCH
        HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost/
        ONBUILD RUN echo triggered
        MAINTAINER someone
        ENTRYPOINT ["/app"]
        """)
        let s = p.target
        #expect(s.env.first { $0.0 == "P" }?.1 == "/usr/local/bin:/usr/bin:/bin:/opt/bin")
        #expect(s.env.first { $0.0 == "B" }?.1 == "base-x")
        #expect(s.env.first { $0.0 == "V2" }?.1 == "global")
        #expect(s.env.first { $0.0 == "legacy" }?.1 == "value with spaces")
        var seen: [String] = []
        for step in s.steps {
            switch step.kind {
            case .label(let kv): seen.append("label " + kv.map { "\($0.0)=\($0.1)" }.joined(separator: ","))
            case .workdir(let w): seen.append("workdir \(w)")
            case .user(let u): seen.append("user \(u)")
            case .expose(let ports): seen.append("expose " + ports.joined(separator: ","))
            case .volume(let v): seen.append("volume " + v.joined(separator: ","))
            case .stopSignal(let sig): seen.append("stopsignal \(sig)")
            case .shell(let sh): seen.append("shell " + sh.joined(separator: " "))
            case .run(let r): seen.append("run shell=" + r.shell.joined(separator: " ") + " args=" + r.buildArgs.map { "\($0.0)=\($0.1)" }.joined(separator: ","))
            case .healthcheck(let h): seen.append("health \(h["Interval"]?.intValue ?? 0) \(h["Retries"]?.intValue ?? 0) \(h["Test"]?.stringArray ?? [])")
            case .onbuild(let t): seen.append("onbuild \(t)")
            case .maintainer(let m): seen.append("maintainer \(m)")
            case .entrypoint(let e): seen.append("entrypoint \(e)")
            default: break
            }
        }
        #expect(seen == [
            "label a=set,b c=d", "workdir /app", "workdir /app/sub", "user nobody", "expose 80/tcp,53/udp," + (8000...8010).map { "\($0)/tcp" }.joined(separator: ","),
            "volume /data,/logs", "stopsignal SIGTERM", "shell /bin/bash -c", "run shell=/bin/bash -c args=V=global,TARGETARCH=amd64,LATE=set",
            "health 30000000000 3 [\"CMD-SHELL\", \"curl -f http://localhost/\"]", "onbuild RUN echo triggered", "maintainer someone",
            "entrypoint exec([\"/app\"])",
        ])
    }

    @Test func copyHeredocBodiesTakeVariablesUnlessTheDelimiterIsQuoted() async throws {
        let p = try await plan("""
        FROM scratch
        ARG NAME=world
        ENV GREETING=hello
        COPY <<EOF /a
        $GREETING "${NAME}" \\$HOME 'q' ${MISSING:-dflt}
        EOF
        COPY <<'EOF' /b
        $GREETING
        EOF
        """, args: ["NAME": "kiln"])
        let copies = p.target.steps.compactMap { s -> CopyStep? in if case .copy(let c) = s.kind { return c } else { return nil } }
        #expect(copies[0].heredocs.first?.content == "hello \"kiln\" $HOME 'q' dflt\n")
        #expect(copies[1].heredocs.first?.content == "$GREETING\n")
    }

    @Test func copyVariants() async throws {
        let p = try await plan("""
        FROM busybox AS one
        FROM scratch
        COPY --from=0 /a /b
        COPY --from=one --chown=app:app --chmod=0640 --exclude=*.tmp ["x y", "/dest/"]
        COPY --from=alpine:3 /etc/os-release /
        ADD --link files.tar.gz /opt/
        COPY <<EOF /etc/motd
        hello
        EOF
        """)
        #expect(p.stages.count == 2)
        #expect(p.target.base == .scratch)
        let copies = p.target.steps.compactMap { s -> CopyStep? in if case .copy(let c) = s.kind { return c } else { return nil } }
        #expect(copies[0].from == .stage(0))
        #expect(copies[1].from == .stage(0) && copies[1].chown == "app:app" && copies[1].chmod?.octal == 0o640)
        #expect(copies[1].sources == ["x y"] && copies[1].destination == "/dest/" && copies[1].exclude == ["*.tmp"])
        #expect(copies[2].from == .image("alpine:3"))
        #expect(copies[3].isAdd && copies[3].link && copies[3].sources == ["files.tar.gz"])
        #expect(copies[4].sources.isEmpty && copies[4].heredocs.first?.content == "hello\n" && copies[4].destination == "/etc/motd")
    }

    @Test(arguments: [
        ("FROM a\nCOPY onlyone", 2, "COPY requires at least two arguments"),
        ("FROM a\nCOPY --chmod=999 a b", 2, "invalid mode"),
        ("FROM a\nRUN --bogus x", 2, "unknown flag --bogus"),
        ("FROM a\nCOPY --from=later a b\nFROM b AS later\nCOPY --from=0 x y", 2, "not an earlier stage"),
        ("RUN x\nFROM a", 1, "before the first FROM"),
        ("FROM a\nEXPOSE 99999", 2, "invalid port"),
        ("FROM a\nSHELL /bin/sh", 2, "JSON form"),
        ("FROM a\nENV K", 2, "ENV must have two arguments"),
        ("FROM a\nARG 9bad", 2, "invalid name"),
        ("FROM a b c d", 1, "FROM requires"),
        ("FROM a\nADD --from=x a b", 2, "ADD does not support --from"),
        ("FROM a\nHEALTHCHECK --interval=abc CMD x", 2, "invalid duration"),
        ("FROM a\nONBUILD FROM b", 2, "isn't allowed as an ONBUILD trigger"),
        ("FROM a\nUSER ${X:?user_required}", 2, "user_required"),
    ])
    func errorsNameTheLine(_ c: (String, Int, String)) async {
        do {
            _ = try await plan(c.0)
            Issue.record("expected an error for \(c.0)")
        } catch let e as DockerfileError {
            #expect(e.line == c.1, "\(e)")
            #expect(e.description.contains(c.2), "\(e)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func unusedBuildArgsWarn() async throws {
        let p = try await plan("FROM busybox\nARG USED\nRUN echo", args: ["USED": "1", "UNUSED": "2"])
        #expect(p.warnings.contains { $0.contains("UNUSED") })
        #expect(!p.warnings.contains { $0.contains("USED is") && !$0.contains("UNUSED") })
    }
}

/// "Did you mean …?" in errors for mistyped instructions, flags, mount keys and targets.
@Suite struct NamedContextTests {
    @Test func layoutSpecsNameTheirImageByTagOrDigest() {
        #expect(NamedContext.layoutParts("/srv/layouts/app:v1") == ("/srv/layouts/app", "v1"))
        #expect(NamedContext.layoutParts("/srv/layouts/app@sha256:ab") == ("/srv/layouts/app", "sha256:ab"))
        #expect(NamedContext.layoutParts("/srv/lay:outs/app") == ("/srv/lay:outs/app", nil))
        #expect(NamedContext.layoutParts("rel") == ("rel", nil))
    }

    @Test func aContextReplacesItsStageAndServesFromAndCopyFrom() async throws {
        var options = PlanOptions()
        options.namedContexts = ["base": .image("reg/other:1"), "files": .directory("/ctx/files"), "alpine": .ociLayout("/l:v1")]
        let text = "FROM busybox AS base\nRUN never\nFROM alpine AS a\nFROM base\nCOPY --from=files x /x\nCOPY --from=a /y /y\n"
        let parsed = try DockerfileParser().parse(text)
        let plan = try await BuildPlanner(options: options).plan(parsed) { _, _ in nil }
        let replaced = try #require(plan.stage(index: 0))
        #expect(replaced.base == .image("reg/other:1", platform: nil) && replaced.steps.isEmpty)
        #expect(plan.stage(index: 1)?.base == .image("oci-layout:///l:v1", platform: nil))
        let copies = plan.target.steps.compactMap { step -> CopyFrom? in if case .copy(let c) = step.kind { c.from } else { nil } }
        #expect(copies == [.named("files"), .stage(1)])
    }
}

@Suite struct SuggestionTests {
    func failure(_ dockerfile: String, target: String? = nil) async -> String {
        do {
            let parsed = try DockerfileParser().parse(dockerfile)
            _ = try await BuildPlanner(options: PlanOptions(target: target)).plan(parsed) { _, _ in nil }
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test func typosNameTheWordMeant() async {
        #expect(await failure("FROM scratch\nFNTRYPOINT [\"a\"]").contains("did you mean ENTRYPOINT?"))
        #expect(await failure("FROM scratch\nRUN --mont=type=tmpfs,target=/t true").contains("did you mean mount?"))
        #expect(await failure("FROM scratch\nRUN --mount=typ=tmpfs,target=/t true").contains("did you mean type?"))
        #expect(await failure("FROM scratch AS build\nFROM scratch", target: "bulid").contains("did you mean build?"))
        #expect(!(await failure("FROM scratch\nXYZZY a").contains("did you mean")))
    }
}

/// ONBUILD triggers run first in the stage built on them, from an image or an earlier stage.
@Suite struct OnBuildTests {
    func plan(_ text: String, onBuild: [String] = []) async throws -> BuildPlan {
        let parsed = try DockerfileParser().parse(text)
        return try await BuildPlanner().plan(parsed) { _, _ in
            var c = ImageConfig()
            var rt = c.runtime
            rt.onBuild = onBuild
            c.runtime = rt
            return c
        }
    }

    func runs(_ stage: PlannedStage) -> [String] {
        stage.steps.compactMap { s -> String? in if case .run(let r) = s.kind, case .shell(let c) = r.command { return c } else { return nil } }
    }

    @Test func triggersOfAnImageRunBeforeTheStagesOwnSteps() async throws {
        let p = try await plan("FROM base\nRUN own\n", onBuild: ["RUN first", "RUN <<EOF\nsecond\nEOF"])
        #expect(runs(p.target) == ["first", "<<EOF", "own"])
        #expect(p.target.steps[1].instruction.heredocs.first?.content == "second\n")
        #expect(p.target.steps.map(\.instruction.line) == [1, 1, 2])
    }

    @Test func triggersOfAnEarlierStageRunInTheStageBuiltOnIt() async throws {
        let p = try await plan("FROM scratch AS base\nONBUILD RUN <<EOF\nhello\nEOF\nFROM base\nRUN after\n")
        #expect(runs(p.target) == ["<<EOF", "after"])
        let base = try #require(p.stage(index: 0))
        #expect(runs(base).isEmpty)
    }
}

/// `--chmod` values, octal and symbolic, as chmod(1) applies them.
@Suite struct ChmodSpecTests {
    @Test func symbolicModesApplyToEachEntrysOwnMode() throws {
        func mode(_ spec: String, _ from: UInt32, dir: Bool = false) throws -> UInt32 {
            try #require(ChmodSpec(spec)).mode(from: from, isDirectory: dir)
        }
        #expect(try mode("0755", 0o600) == 0o755)
        #expect(try mode("go-w", 0o666) == 0o644)
        #expect(try mode("u=rw,g=r,o=r", 0o777) == 0o644)
        #expect(try mode("a+X", 0o666) == 0o666)
        #expect(try mode("a+X", 0o124, dir: true) == 0o135)
        #expect(try mode("u+rw,g+r,o-x,o+w", 0o124, dir: true) == 0o766)
        #expect(try mode("+x", 0o600) == 0o711)
        for bad in ["", "9", "u+q", "z=r", "u", "10000"] { #expect(ChmodSpec(bad) == nil, "\(bad)") }
    }
}
