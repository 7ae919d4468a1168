import Foundation
import Testing
import TestKit

@testable import RabbitSetup

/// The checks of a node's certificate, key and CA before anything is written, against certificates the
/// `openssl` command makes here: a CA, an intermediate, node certificates with and without the name, for
/// client use only, another CA's, an encrypted key, DER.
@Suite struct TLSFilesTests {
    static let name = "rabbit.example.internal"

    /// A private PKI in a folder of its own.
    struct PKI {
        let dir: String

        static func make() async throws -> PKI {
            let pki = PKI(dir: Support.temporaryDirectory("tls"))
            try await pki.ca("ca", "Test CA")
            try await pki.ca("other-ca", "Other CA")
            return pki
        }

        func path(_ name: String) -> String { dir + "/" + name }
        func bytes(_ name: String) -> [UInt8] { Array((FileManager.default.contents(atPath: path(name)) ?? Data())) }

        func openssl(_ args: [String]) async throws {
            let r = await Support.run(["openssl"] + args)
            try #require(r.termination == .exited(code: 0), "openssl \(args.joined(separator: " ")): \(r.stderr.text)")
        }

        func ca(_ name: String, _ cn: String) async throws {
            try await openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path(name + ".key"),
                               "-out", path(name + ".pem"), "-days", "3650", "-subj", "/CN=\(cn)"])
        }

        /// A certificate for `cn` issued by `issuer` with the given extensions, and its key.
        func issue(_ name: String, cn: String, by issuer: String = "ca", extensions: String) async throws {
            try await openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path(name + ".key"),
                               "-out", path(name + ".csr"), "-subj", "/CN=\(cn)"])
            Support.write(extensions + "\n", to: path(name + ".ext"))
            try await openssl(["x509", "-req", "-in", path(name + ".csr"), "-CA", path(issuer + ".pem"), "-CAkey", path(issuer + ".key"),
                               "-CAcreateserial", "-out", path(name + ".pem"), "-days", "30", "-extfile", path(name + ".ext")])
        }

        func check(ca: String = "ca", certificate: String = "node", key: String = "node", passphrase: String? = nil, name: String = TLSFilesTests.name,
                   at now: Date = Date()) -> [TLSFiles.Problem]
        {
            TLSFiles.check(ca: bytes(ca + ".pem"), certificate: bytes(certificate + ".pem"), key: bytes(key + ".key"),
                           passphrase: passphrase.map { Array($0.utf8) }, name: name, at: now)
        }
    }

    static let server = "subjectAltName=DNS:\(name),DNS:node-a.example.internal,IP:127.0.0.1\nextendedKeyUsage=serverAuth"

    @Test func aCertificateThatChainsNamesAndMatchesPasses() async throws {
        let pki = try await PKI.make()
        try await pki.issue("node", cn: "node-a", extensions: Self.server)
        #expect(pki.check().isEmpty, "\(pki.check())")
        #expect(pki.check(name: "127.0.0.1").isEmpty, "an address in the certificate's names")
        let read = TLSFiles.certificates(pem: pki.bytes("node.pem"))
        #expect(read.count == 1)
        #expect(read.first?.subject == "CN=node-a")
        #expect(read.first?.altNames == ["DNS:\(Self.name)", "DNS:node-a.example.internal", "IP:127.0.0.1"])
        let days = (read.first?.notAfter.timeIntervalSinceNow ?? 0) / 86_400
        #expect(days > 29 && days <= 30, "\(days)")
    }

    @Test func anotherCAsCertificateIsRefused() async throws {
        let pki = try await PKI.make()
        try await pki.issue("node", cn: "node-a", by: "other-ca", extensions: Self.server)
        let problems = pki.check()
        #expect(problems.count == 1 && problems.first?.input == .certificate, "\(problems)")
        #expect(problems.first?.message == "CN=node-a does not chain to the CA (CN=Test CA): OpenSSL says \"unable to get local issuer certificate\"",
                "\(problems)")
    }

    @Test func aCertificateThatDoesNotNameTheCanonicalNameIsRefused() async throws {
        let pki = try await PKI.make()
        try await pki.issue("node", cn: "node-a", extensions: Self.server)
        let other = pki.check(name: "cache.example.internal")
        #expect(other.map(\.message) == ["CN=node-a does not name cache.example.internal (its names: DNS:\(Self.name), DNS:node-a.example.internal, IP:127.0.0.1)"])
        #expect(other.first?.fix.hasPrefix("issue it with subjectAltName DNS:cache.example.internal") == true)
        let address = pki.check(name: "10.0.0.1")
        #expect(address.first?.fix.hasPrefix("issue it with subjectAltName IP:10.0.0.1") == true, "\(address)")
        // The common name alone is not a name clients accept.
        try await pki.issue("bare", cn: Self.name, extensions: "extendedKeyUsage=serverAuth")
        #expect(pki.check(certificate: "bare", key: "bare").map(\.message) == ["CN=\(Self.name) does not name \(Self.name) (no subjectAltName)"])
    }

    @Test func anExpiredOrNotYetValidCertificateIsRefused() async throws {
        let pki = try await PKI.make()
        try await pki.issue("node", cn: "node-a", extensions: Self.server)
        let later = pki.check(at: Date().addingTimeInterval(40 * 86_400))
        #expect(later.count == 1 && later.first?.message.hasPrefix("CN=node-a expired on ") == true, "\(later)")
        let earlier = pki.check(at: Date().addingTimeInterval(-86_400))
        #expect(earlier.map(\.input) == [.ca, .certificate], "the CA was made a moment before it: \(earlier)")
        #expect(earlier.last?.message.hasPrefix("CN=node-a is valid only from ") == true, "\(earlier)")
        let ca = pki.check(at: Date().addingTimeInterval(4000 * 86_400)).filter { $0.input == .ca }
        #expect(ca.first?.message.hasPrefix("the CA certificate CN=Test CA expired on ") == true, "\(ca)")
    }

    @Test func aKeyThatIsNotTheCertificatesIsRefused() async throws {
        let pki = try await PKI.make()
        try await pki.issue("node", cn: "node-a", extensions: Self.server)
        try await pki.issue("other", cn: "node-b", extensions: Self.server)
        let problems = pki.check(key: "other")
        #expect(problems.map(\.message) == ["the key does not belong to the certificate CN=node-a"], "\(problems)")
        #expect(problems.first?.input == .key)
    }

    @Test func anEncryptedKeyNeedsItsPassphrase() async throws {
        let pki = try await PKI.make()
        try await pki.issue("node", cn: "node-a", extensions: Self.server)
        try await pki.openssl(["pkey", "-in", pki.path("node.key"), "-aes256", "-passout", "pass:fixture-passphrase", "-out", pki.path("sealed.key")])
        #expect(pki.check(key: "sealed").map(\.message) == ["the key is encrypted and no passphrase is given"])
        #expect(pki.check(key: "sealed", passphrase: "wrong").map(\.message) == ["the passphrase given does not decrypt the key"])
        #expect(pki.check(key: "sealed", passphrase: "fixture-passphrase").isEmpty)
    }

    @Test func aCertificateForClientsOnlyIsRefused() async throws {
        let pki = try await PKI.make()
        try await pki.issue("node", cn: "node-a", extensions: "subjectAltName=DNS:\(Self.name)\nextendedKeyUsage=clientAuth")
        let problems = pki.check()
        #expect(problems.map(\.message) == ["CN=node-a is not for a TLS server: OpenSSL says \"unsuitable certificate purpose\""], "\(problems)")
        #expect(problems.first?.fix.hasPrefix("issue it again with extendedKeyUsage serverAuth") == true)
    }

    /// An intermediate CA: the node's file carries it after the node's certificate; without it the chain breaks.
    @Test func intermediatesFollowTheNodesCertificate() async throws {
        let pki = try await PKI.make()
        try await pki.issue("intermediate", cn: "Test Intermediate", extensions: "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign")
        try await pki.issue("leaf", cn: "node-a", by: "intermediate", extensions: Self.server)
        Support.write(Support.read(pki.path("leaf.pem")) + Support.read(pki.path("intermediate.pem")), to: pki.path("node.pem"))
        Support.write(Support.read(pki.path("leaf.key")), to: pki.path("node.key"))
        #expect(pki.check().isEmpty, "\(pki.check())")
        #expect(pki.check(certificate: "leaf", key: "leaf").first?.message.contains("unable to get local issuer certificate") == true)
    }

    /// Files that hold something else are named for what they hold: DER, a key where a certificate belongs, nothing.
    @Test func whatIsNotPEMIsNamed() async throws {
        let pki = try await PKI.make()
        try await pki.issue("node", cn: "node-a", extensions: Self.server)
        try await pki.openssl(["x509", "-in", pki.path("ca.pem"), "-outform", "der", "-out", pki.path("der.pem")])
        #expect(pki.check(ca: "der").map(\.message) == ["no PEM certificate in it (it looks like DER, binary)"])
        Support.write(Support.read(pki.path("node.key")), to: pki.path("keyed.pem"))
        let keyed = pki.check(certificate: "keyed")
        #expect(keyed.first?.message == "no PEM certificate in it (it holds a PEM block \"PRIVATE KEY\")", "\(keyed)")
        Support.write("", to: pki.path("empty.key"))
        #expect(pki.check(key: "empty").map(\.message) == ["no PEM private key in it (the file is empty)"])
        #expect(pki.check(key: "empty").first?.input == .key)
    }
}
