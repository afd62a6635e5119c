import KilnOCI

extension BuildPlanner {
    /// The ONBUILD triggers a stage inherits, parsed as instructions to run first in it: its
    /// base image's `OnBuild`, or the ONBUILD instructions of the earlier stage it starts from.
    /// They carry the FROM's line. Running them consumes them: the stage's image does not
    /// inherit them (see the image assembler).
    func triggers(of stage: RawStage, in raw: [RawStage], escape: Character,
                  imageConfig: ImageConfigLookup) async throws -> [Instruction] {
        let texts: [String]
        if stage.image.lowercased() == "scratch" || stage.localContext != nil {
            return []
        } else if let parent = stageIndex(stage.image, before: stage.index, in: raw) {
            texts = raw[parent].body.filter { $0.keyword == "ONBUILD" }.map(Self.triggerText)
        } else {
            texts = try await config(of: stage.image, stage.platform ?? options.platform, line: stage.from.line, imageConfig)?.runtime.onBuild ?? []
        }
        guard !texts.isEmpty else { return [] }
        let escapeLine = escape == "\\" ? "" : "# escape=\(escape)\n"
        let parsed: ParsedDockerfile
        do {
            parsed = try DockerfileParser(fileName: options.fileName).parse(escapeLine + texts.joined(separator: "\n"))
        } catch {
            throw self.error(stage.from.line, "ONBUILD trigger of \(stage.image): \(error.message)")
        }
        return parsed.instructions.map { ins in
            var trigger = ins
            trigger.line = stage.from.line
            return trigger
        }
    }

    /// A base image's config; a failure to resolve it names the Dockerfile line that uses it.
    func config(of ref: String, _ platform: Platform, line: Int, _ imageConfig: ImageConfigLookup) async throws -> ImageConfig? {
        do {
            return try await imageConfig(ref, platform)
        } catch let e as DockerfileError {
            throw e
        } catch {
            throw self.error(line, "\(ref): \(error)")
        }
    }

    /// An ONBUILD instruction's trigger as the image config stores it: the instruction, then
    /// the bodies of its heredocs, each closed by its delimiter.
    static func triggerText(_ ins: Instruction) -> String {
        var text = ins.arguments.trimmingCharacters(in: .whitespaces)
        for h in ins.heredocs { text += "\n" + h.content + h.name }
        return text
    }
}
