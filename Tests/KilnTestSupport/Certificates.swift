import Foundation

/// Test PKI made with the openssl command line: a CA, a server certificate for 127.0.0.1 and
/// localhost signed by it, and a self-signed EC P-256 certificate for signing registry tokens.
public struct TestCertificates: Sendable {
    /// CA certificate (PEM).
    public var caCert: String
    /// Server certificate (PEM), valid for 127.0.0.1 and localhost.
    public var serverCert: String
    /// Server private key (PEM).
    public var serverKey: String
    /// Token-signing certificate (PEM, EC P-256, self-signed).
    public var tokenCert: String
    /// Token-signing private key (PEM, PKCS#8).
    public var tokenKey: String

    /// Generates everything in `directory`.
    public static func make(in directory: String) async throws -> TestCertificates {
        func f(_ n: String) -> String { (directory as NSString).appendingPathComponent(n) }
        try await ProcessRunner.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f("ca.key"),
                                     "-out", f("ca.crt"), "-days", "2", "-subj", "/CN=Kiln Test CA"])
        try await ProcessRunner.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f("server.key"),
                                     "-out", f("server.csr"), "-subj", "/CN=localhost"])
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            .write(toFile: f("ext.cnf"), atomically: true, encoding: .utf8)
        try await ProcessRunner.run(["openssl", "x509", "-req", "-in", f("server.csr"), "-CA", f("ca.crt"), "-CAkey", f("ca.key"),
                                     "-CAcreateserial", "-out", f("server.crt"), "-days", "2", "-extfile", f("ext.cnf")])
        try await ProcessRunner.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                     "-nodes", "-keyout", f("token.key"), "-out", f("token.crt"), "-days", "2",
                                     "-subj", "/CN=Kiln Test Token Signer"])
        return TestCertificates(caCert: f("ca.crt"), serverCert: f("server.crt"), serverKey: f("server.key"),
                                tokenCert: f("token.crt"), tokenKey: f("token.key"))
    }
}
