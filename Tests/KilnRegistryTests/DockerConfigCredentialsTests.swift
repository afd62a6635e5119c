import Foundation
import KilnRegistry
import KilnTestSupport
import Testing

/// Credentials as `docker login` stores them: inline `auths`, `credHelpers`, `credsStore`.
@Suite struct DockerConfigCredentialsTests {
    func write(_ json: String, in dir: TemporaryDirectory) throws {
        try json.write(toFile: dir.file("config.json"), atomically: true, encoding: .utf8)
    }

    /// A `docker-credential-NAME` helper script answering for `host` only.
    func helper(_ name: String, host: String, user: String, secret: String, in dir: TemporaryDirectory) throws {
        let path = dir.file("docker-credential-\(name)")
        let script = """
        #!/bin/sh
        [ "$1" = get ] || exit 2
        read server
        if [ "$server" = "\(host)" ]; then
          printf '{"ServerURL":"%s","Username":"\(user)","Secret":"\(secret)"}' "$server"
        else
          echo "credentials not found in native keychain"; exit 1
        fi
        """
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    }

    @Test func inlineAuthsMatchHostWithOrWithoutScheme() async throws {
        let dir = try TemporaryDirectory()
        let token = Data("bob:pa:ss".utf8).base64EncodedString()
        try write(#"{"auths":{"https://reg.example:5000/v1/":{"auth":"\#(token)"},"other.example":{"username":"u","password":"p"},"https://index.docker.io/v1/":{"auth":"\#(Data("hub:pw".utf8).base64EncodedString())"}}}"#, in: dir)
        let creds = DockerConfigCredentials(directory: dir.path, helperSearchPath: dir.path)
        #expect(try await creds.credential(for: "reg.example:5000") == Credential(username: "bob", password: "pa:ss"))
        #expect(try await creds.credential(for: "other.example") == Credential(username: "u", password: "p"))
        #expect(try await creds.credential(for: "registry-1.docker.io") == Credential(username: "hub", password: "pw"))
        #expect(try await creds.credential(for: "unknown.example") == nil)
    }

    @Test func perHostHelperThenDefaultStore() async throws {
        let dir = try TemporaryDirectory()
        try helper("special", host: "special.example", user: "sp", secret: "sp-secret", in: dir)
        try helper("store", host: "stored.example", user: "st", secret: "st-secret", in: dir)
        try write(#"{"credHelpers":{"special.example":"special"},"credsStore":"store","auths":{"inline.example":{"auth":"\#(Data("in:line".utf8).base64EncodedString())"}}}"#, in: dir)
        let creds = DockerConfigCredentials(directory: dir.path, helperSearchPath: dir.path)
        #expect(try await creds.credential(for: "special.example") == Credential(username: "sp", password: "sp-secret"))
        #expect(try await creds.credential(for: "stored.example") == Credential(username: "st", password: "st-secret"))
        #expect(try await creds.credential(for: "inline.example") == Credential(username: "in", password: "line"))
        #expect(try await creds.credential(for: "nobody.example") == nil)
    }

    @Test func missingHelperAndBadConfigAreClearErrors() async throws {
        let dir = try TemporaryDirectory()
        try write(#"{"credHelpers":{"x.example":"absent"}}"#, in: dir)
        let creds = DockerConfigCredentials(directory: dir.path, helperSearchPath: dir.path)
        await #expect {
            _ = try await creds.credential(for: "x.example")
        } throws: { error in
            "\(error)".contains("docker-credential-absent")
        }
        try write("{not json", in: dir)
        await #expect(throws: RegistryError.self) { _ = try await creds.credential(for: "x.example") }
        try write(#"{"auths":{"y.example":{"auth":"!!!"}}}"#, in: dir)
        await #expect(throws: RegistryError.self) { _ = try await creds.credential(for: "y.example") }
    }

    @Test func noConfigFileMeansAnonymous() async throws {
        let dir = try TemporaryDirectory()
        let creds = DockerConfigCredentials(directory: dir.path)
        #expect(try await creds.credential(for: "any.example") == nil)
    }
}
