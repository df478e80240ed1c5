import ChildProcess
import Foundation
import InstagramEmulator
import TestSupport

/// Certificates made with the openssl command for this test run, in a temporary folder:
/// a test CA, a certificate from it for 127.0.0.1, one from it for another name, and a self-signed one for 127.0.0.1.
struct TestCertificates: Sendable {
    let folder: URL
    /// The test CA: a client that trusts it accepts `good` and, but for the name, `otherName`.
    let authority: String
    /// Issued by the test CA for IP 127.0.0.1: verifies for a client that trusts the CA.
    let good: EmulatorServer.TLSFiles
    /// Issued by the test CA for `other.example`: a trusted chain, the wrong name.
    let otherName: EmulatorServer.TLSFiles
    /// Self-signed for 127.0.0.1: no client trusts it.
    let selfSigned: EmulatorServer.TLSFiles

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Made once per test process, in a folder removed when the process exits.
    private static let shared: Result<TestCertificates, Failure> = Result { try TestCertificates() }.mapError {
        ($0 as? Failure) ?? Failure(description: "\($0)")
    }

    /// The certificates, made on a thread of their own the first time: openssl runs take a while,
    /// and waiting for them on the cooperative pool would stall every other test in the process.
    static func load() async throws -> TestCertificates {
        try await offPool { try shared.get() }
    }

    private static let place = FileManager.default.temporaryDirectory.appendingPathComponent(
        "instagram-auth-certs-\(ProcessInfo.processInfo.processIdentifier)")

    private init() throws {
        let folder = Self.place
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: TestCertificates.place) }
        self.folder = folder
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

        try Self.openssl(
            ["req", "-x509"] + key + [
                "-keyout", path("ca.key"), "-out", path("ca.pem"), "-days", "2", "-subj", "/CN=instagram-auth test CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ])
        for (name, subjectAltName) in [("good", "IP:127.0.0.1"), ("other", "DNS:other.example")] {
            try Self.openssl(["req"] + key + ["-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", "/CN=\(name)"])
            try "subjectAltName=\(subjectAltName)\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                .write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
            try Self.openssl([
                "x509", "-req", "-in", path("\(name).csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
                "-CAcreateserial", "-out", path("\(name).pem"), "-days", "2", "-extfile", path("\(name).ext"),
            ])
        }
        try Self.openssl(
            ["req", "-x509"] + key + [
                "-keyout", path("self.key"), "-out", path("self.pem"), "-days", "2", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ])
        authority = path("ca.pem")
        good = .init(certificateFile: path("good.pem"), privateKeyFile: path("good.key"))
        otherName = .init(certificateFile: path("other.pem"), privateKeyFile: path("other.key"))
        selfSigned = .init(certificateFile: path("self.pem"), privateKeyFile: path("self.key"))
    }

    private static func openssl(_ arguments: [String]) throws {
        guard let binary = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first(where: FileManager.default.isExecutableFile(atPath:))
        else {
            throw Failure(description: "the openssl command is needed to make test certificates")
        }
        let finished = try ChildProcess.run(binary, arguments)
        guard finished.status == 0 else {
            throw Failure(description: "openssl \(arguments.joined(separator: " ")): \(finished.errorText)")
        }
    }
}
