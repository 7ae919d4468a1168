import CTLS
import Foundation

/// Certificates and private keys in PEM, as RabbitMQ's `ssl_options` takes them, read and checked on the jump
/// host with the system's OpenSSL (`CTLS`) before anything is written to a server: the key belongs to the
/// certificate, the certificate chains to the CA as a TLS server's, names what clients connect to, and is valid
/// at the given time. No cryptography of its own: every check is OpenSSL's.
public enum TLSFiles {
    /// One certificate as OpenSSL reads it.
    public struct Certificate: Sendable, Equatable {
        /// The subject, as RFC 2253 writes it (`CN=node-a,O=Example`).
        public var subject: String
        public var notBefore: Date
        public var notAfter: Date
        /// The subjectAltName's entries, `DNS:name` or `IP:address`.
        public var altNames: [String]
    }

    /// What is wrong with one of the three inputs, in words, with the fix.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public enum Input: String, Sendable { case ca, certificate, key }
        public var input: Input
        public var message: String
        public var fix: String

        public var description: String { "\(input.rawValue): \(message). Fix: \(fix)" }
    }

    /// The certificates in `pem`, in their order; empty when it holds none OpenSSL can read.
    public static func certificates(pem: [UInt8]) -> [Certificate] {
        let x509s = read(pem)
        defer { x509s.forEach { X509_free($0) } }
        return x509s.map(describe)
    }

    /// Every problem of a node's certificate file (the node's certificate first, then any intermediates),
    /// its key and the CA file, for clients that connect to `name` at `now`; empty: RabbitMQ can use them and
    /// a client that trusts the CA accepts them. `passphrase`: the key's, when it is encrypted.
    public static func check(ca caPEM: [UInt8], certificate certificatePEM: [UInt8], key keyPEM: [UInt8], passphrase: [UInt8]?,
                             name: String, at now: Date) -> [Problem]
    {
        var problems: [Problem] = []
        let cas = read(caPEM), chain = read(certificatePEM)
        defer { (cas + chain).forEach { X509_free($0) } }
        if cas.isEmpty {
            problems.append(Problem(input: .ca, message: "no PEM certificate in it" + opensslSays(caPEM, "CERTIFICATE"),
                                    fix: "give the CA's certificate in PEM, the text that begins -----BEGIN CERTIFICATE----- "
                                        + "(from DER: openssl x509 -inform der -in CA.cer -out CA.pem)"))
        }
        for ca in cas.map(describe) { problems += timeProblems(ca, .ca, at: now) }
        guard let leaf = chain.first else {
            problems.append(Problem(input: .certificate, message: "no PEM certificate in it" + opensslSays(certificatePEM, "CERTIFICATE"),
                                    fix: "give the node's certificate in PEM, the text that begins -----BEGIN CERTIFICATE----- "
                                        + "(from a .pfx: openssl pkcs12 -in NODE.pfx -clcerts -nokeys -out NODE.pem)"))
            return problems + keyProblems(keyPEM, passphrase: passphrase, leaf: nil)
        }
        let node = describe(leaf)
        for c in chain.map(describe) { problems += timeProblems(c, .certificate, at: now) }
        if !cas.isEmpty {
            let untrusted = rw_x509_stack(), trusted = rw_x509_stack()
            defer { rw_x509_stack_free(untrusted); rw_x509_stack_free(trusted) }
            chain.dropFirst().forEach { _ = rw_x509_stack_push(untrusted, $0) }
            cas.forEach { _ = rw_x509_stack_push(trusted, $0) }
            var error: Int32 = 0
            if rw_verify_server(leaf, untrusted, trusted, &error) != 1 {
                let says = X509_verify_cert_error_string(Int(error)).map { String(cString: $0) } ?? "error \(error)"
                if error == X509_V_ERR_INVALID_PURPOSE {
                    problems.append(Problem(input: .certificate, message: "\(node.subject) is not for a TLS server: OpenSSL says \"\(says)\"",
                                            fix: "issue it again with extendedKeyUsage serverAuth (or without extendedKeyUsage)"))
                } else {
                    problems.append(Problem(input: .certificate,
                                            message: "\(node.subject) does not chain to the CA (\(cas.map(describe).map(\.subject).joined(separator: "; "))): "
                                                + "OpenSSL says \"\(says)\"",
                                            fix: "give the CA that issued it, or put the intermediate certificates after the node's certificate in its file"))
                }
            }
        }
        if !covers(leaf, name) {
            let names = node.altNames.isEmpty ? "no subjectAltName" : "its names: " + node.altNames.joined(separator: ", ")
            let kind = isAddress(name) ? "IP" : "DNS"
            problems.append(Problem(input: .certificate, message: "\(node.subject) does not name \(name) (\(names))",
                                    fix: "issue it with subjectAltName \(kind):\(name): clients connect to that name through the load balancer and check it"))
        }
        return problems + keyProblems(keyPEM, passphrase: passphrase, leaf: leaf)
    }

    // MARK: OpenSSL

    static func read(_ pem: [UInt8]) -> [OpaquePointer] {
        pem.withUnsafeBytes { raw -> [OpaquePointer] in
            guard raw.count > 0, raw.count < Int(Int32.max), let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return [] }
            defer { BIO_free(bio) }
            var out: [OpaquePointer] = []
            while let x = rw_read_x509(bio) { out.append(x) }
            ERR_clear_error()
            return out
        }
    }

    static func describe(_ x: OpaquePointer) -> Certificate {
        var subject = [CChar](repeating: 0, count: 1024)
        rw_subject(x, &subject, subject.count)
        var names = [CChar](repeating: 0, count: 8192)
        _ = rw_alt_names(x, &names, names.count)
        func date(_ t: UnsafePointer<ASN1_TIME>?) -> Date {
            var ok: Int32 = 0
            guard let t else { return .distantPast }
            let seconds = rw_asn1_epoch(t, &ok)
            return ok == 1 ? Date(timeIntervalSince1970: TimeInterval(seconds)) : .distantPast
        }
        return Certificate(subject: text(subject), notBefore: date(X509_get0_notBefore(x)), notAfter: date(X509_get0_notAfter(x)),
                           altNames: text(names).split(separator: "\n").map(String.init))
    }

    /// A C string written into `buffer`, up to its NUL.
    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func timeProblems(_ c: Certificate, _ input: Problem.Input, at now: Date) -> [Problem] {
        let what = input == .ca ? "the CA certificate \(c.subject)" : c.subject
        if now > c.notAfter {
            return [Problem(input: input, message: "\(what) expired on \(day(c.notAfter))", fix: "issue a new certificate and give that")]
        }
        if now < c.notBefore {
            return [Problem(input: input, message: "\(what) is valid only from \(day(c.notBefore))",
                            fix: "wait until then, or check the clock of the machine that issued it")]
        }
        return []
    }

    static func keyProblems(_ pem: [UInt8], passphrase: [UInt8]?, leaf: OpaquePointer?) -> [Problem] {
        let text = String(decoding: pem, as: UTF8.self)
        let encrypted = text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || text.contains("Proc-Type: 4,ENCRYPTED")
        if encrypted && passphrase == nil {
            return [Problem(input: .key, message: "the key is encrypted and no passphrase is given",
                            fix: "give its passphrase, or write the key unencrypted (openssl pkey -in KEY -out PLAIN) into a file only the service user reads")]
        }
        var secret = (passphrase ?? []).map { CChar(bitPattern: $0) } + [0]
        defer { for i in secret.indices { secret[i] = 0 } }
        let key: OpaquePointer? = pem.withUnsafeBytes { raw in
            guard raw.count > 0, raw.count < Int(Int32.max), let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return passphrase == nil ? rw_read_key(bio, nil) : rw_read_key(bio, &secret)
        }
        ERR_clear_error()
        guard let key else {
            if encrypted {
                return [Problem(input: .key, message: "the passphrase given does not decrypt the key", fix: "give the key's own passphrase")]
            }
            return [Problem(input: .key, message: "no PEM private key in it" + opensslSays(pem, "PRIVATE KEY"),
                            fix: "give the node's private key in PEM, the text that begins -----BEGIN PRIVATE KEY----- "
                                + "(from a .pfx: openssl pkcs12 -in NODE.pfx -nocerts -nodes -out NODE.key)")]
        }
        defer { EVP_PKEY_free(key) }
        guard let leaf else { return [] }
        let matches = X509_check_private_key(leaf, key) == 1
        ERR_clear_error()
        if !matches {
            return [Problem(input: .key, message: "the key does not belong to the certificate \(describe(leaf).subject)",
                            fix: "give the key the certificate was issued for (openssl x509 -noout -pubkey -in CERT and openssl pkey -pubout -in KEY "
                                + "print the same public key when they belong together)")]
        }
        return []
    }

    /// Whether the certificate's subjectAltName names `name`: OpenSSL's own host or address match (wildcards
    /// as RFC 6125), never the subject's common name, which clients that follow RFC 6125 ignore.
    static func covers(_ x: OpaquePointer, _ name: String) -> Bool {
        let matched = isAddress(name) ? X509_check_ip_asc(x, name, 0)
            : X509_check_host(x, name, 0, UInt32(X509_CHECK_FLAG_NEVER_CHECK_SUBJECT), nil)
        ERR_clear_error()
        return matched == 1
    }

    static func isAddress(_ name: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, name, &v4) == 1 || inet_pton(AF_INET6, name, &v6) == 1
    }

    /// Why nothing was read, when the text looks like something else: DER, or another PEM block.
    static func opensslSays(_ data: [UInt8], _ wanted: String) -> String {
        if data.isEmpty { return " (the file is empty)" }
        let text = String(decoding: data.prefix(4096), as: UTF8.self)
        if let begin = text.range(of: "-----BEGIN ") {
            let label = text[begin.upperBound...].prefix { $0 != "-" && $0 != "\n" }
            if !label.hasSuffix(wanted) { return " (it holds a PEM block \(label.debugDescription))" }
            return " (its \(wanted) block could not be read)"
        }
        return data.first == 0x30 ? " (it looks like DER, binary)" : ""
    }

    static func day(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
        return f.string(from: d)
    }
}
