import Foundation
import Glibc

/// One host key as offered by a server: the known_hosts line and its SHA-256 fingerprint.
public struct HostKey: Sendable, Equatable {
    public let line: String
    public let type: String
    public let fingerprint: String
    public var fingerprintLabel: String { "\(type) \(fingerprint)" }
}

/// Why host keys could not be read or enrolled.
public enum HostKeyProblem: Error, Equatable, Sendable {
    case scanFailed(String, Termination, stderr: String)
    case noKeys(String)
    case alreadyEnrolledDifferently(String)
    case fingerprintMismatch(expected: String, offered: [String])
    case cannotWrite(String, errno: Int32)
}

extension Executor {
    /// Asks the server for its host keys with `ssh-keyscan` and fingerprints them with `ssh-keygen`.
    /// Read-only; both commands are logged like any other.
    public func scanHostKeys(of destination: SSHDestination, step: StepID? = nil) async -> Result<[HostKey], HostKeyProblem> {
        let scan = await run(CommandSpec(
            ["ssh-keyscan", "-T", "5", "-p", String(destination.port), "--", destination.host.value],
            timeout: .seconds(15), mutates: false, step: step))
        let lines = scan.stdout.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.hasPrefix("#") && !$0.isEmpty }
        guard scan.succeeded || !lines.isEmpty else {
            return .failure(.scanFailed(destination.description, scan.termination, stderr: scan.stderr))
        }
        guard !lines.isEmpty else { return .failure(.noKeys(destination.description)) }
        let prints = await run(CommandSpec(["ssh-keygen", "-l", "-f", "-"], stdin: .bytes(Array((lines.joined(separator: "\n") + "\n").utf8)),
                                           timeout: .seconds(10), mutates: false, step: step))
        let fingerprints = prints.stdout.split(whereSeparator: \.isNewline)
        guard prints.succeeded, fingerprints.count == lines.count else {
            return .failure(.scanFailed(destination.description, prints.termination, stderr: prints.stderr))
        }
        return .success(zip(lines, fingerprints).map { line, fp in
            // "256 SHA256:abc [127.0.0.1]:2222 (ED25519)"
            let words = fp.split(separator: " ")
            let type = words.last.map { String($0.dropFirst().dropLast()) } ?? "?"
            return HostKey(line: line, type: type, fingerprint: words.count > 1 ? String(words[1]) : "?")
        })
    }

    /// Adds `keys` for `destination` to the tool's known_hosts (0600, never through a symlink).
    ///
    /// With `expectedFingerprint`, one offered key must carry it, else nothing is written. A host that is
    /// already enrolled with other keys is refused: a changed key is never replaced automatically.
    public func enrol(_ keys: [HostKey], for destination: SSHDestination, expectedFingerprint: String?,
                      knownHostsPath: String) -> Result<Void, HostKeyProblem>
    {
        if let expected = expectedFingerprint, !keys.contains(where: { $0.fingerprint == expected }) {
            return .failure(.fingerprintMismatch(expected: expected, offered: keys.map(\.fingerprintLabel)))
        }
        let name = destination.knownHostsName
        let existing = (try? String(contentsOfFile: knownHostsPath, encoding: .utf8)) ?? ""
        let enrolled = existing.split(whereSeparator: \.isNewline).filter {
            $0.split(separator: " ").first.map { $0.split(separator: ",").contains(Substring(name)) } ?? false
        }
        if !enrolled.isEmpty {
            let offered = Set(keys.map { $0.line.split(separator: " ").dropFirst().joined(separator: " ") })
            let have = Set(enrolled.map { $0.split(separator: " ").dropFirst().joined(separator: " ") })
            return have.isSubset(of: offered) ? .success(()) : .failure(.alreadyEnrolledDifferently(name))
        }
        let fd = open(knownHostsPath, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return .failure(.cannotWrite(knownHostsPath, errno: errno)) }
        defer { close(fd) }
        let text = keys.map { $0.line + "\n" }.joined()
        let written = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        guard written == text.utf8.count else { return .failure(.cannotWrite(knownHostsPath, errno: errno)) }
        return .success(())
    }
}
