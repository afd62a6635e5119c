import KilnDockerfile
import KilnSystem

/// The build context: its directory and the rules that leave files out of it
/// (`.dockerignore`, or `NAME.dockerignore` beside the Dockerfile `NAME`).
public struct BuildContext: Sendable {
    /// The context directory (absolute).
    public let directory: String
    /// What `.dockerignore` leaves out.
    public let ignore: DockerIgnore

    /// The context in `directory`, with the ignore file for the Dockerfile `dockerfileName`.
    public init(directory: String, dockerfileName: String = "Dockerfile") {
        self.init(directory: directory, ignore: DockerIgnore(contextDirectory: directory, dockerfileName: dockerfileName))
    }

    /// The context in `directory` with `ignore`'s rules.
    public init(directory: String, ignore: DockerIgnore) {
        self.directory = directory
        self.ignore = ignore
    }
}
