import Foundation
import Glibc

import Executor

/// A real OpenSSH server on 127.0.0.1 for one test: its own host key, a generated client key,
/// key-only login for the current user. Stopped by the PID it wrote, never by name.
public final class SSHServer {
    public let dir: String
    public let port: Int
    public let clientKey: String
    public let hostKey: String

    private init(dir: String, port: Int, clientKey: String, hostKey: String) {
        self.dir = dir
        self.port = port
        self.clientKey = clientKey
        self.hostKey = hostKey
    }

    public enum Failure: Error { case setup(String) }

    /// Starts sshd; `hostKey` reuses a key (same identity), nil makes a new one. `forceCommand` runs
    /// instead of every requested command (which it finds in `SSH_ORIGINAL_COMMAND`).
    public static func start(in dir: String, port: Int? = nil, newHostKey: Bool = true, forceCommand: String? = nil) async throws -> SSHServer {
        let port = port ?? Support.freePort()
        mkdir("/run/sshd", 0o755)
        let hostKey = dir + "/host_ed25519"
        let clientKey = dir + "/client_ed25519"
        if newHostKey {
            unlink(hostKey)
            unlink(hostKey + ".pub")
            try await check(Support.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey]), "host key")
        }
        if !FileManager.default.fileExists(atPath: clientKey) {
            try await check(Support.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", clientKey]), "client key")
        }
        try FileManager.default.copyItem(atPath: clientKey + ".pub", toPath: dir + "/authorized_keys.tmp")
        rename(dir + "/authorized_keys.tmp", dir + "/authorized_keys")
        Support.write("""
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(hostKey)
            PidFile \(dir)/sshd.pid
            AuthorizedKeysFile \(dir)/authorized_keys
            StrictModes no
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PubkeyAuthentication yes
            PermitRootLogin prohibit-password
            UsePAM no
            LogLevel ERROR
            \(forceCommand.map { "ForceCommand \($0)" } ?? "")

            """, to: dir + "/sshd_config")
        unlink(dir + "/sshd.pid")
        try await check(Support.run(["/usr/sbin/sshd", "-f", dir + "/sshd_config", "-E", dir + "/sshd.log"]), "sshd")
        let server = SSHServer(dir: dir, port: port, clientKey: clientKey, hostKey: hostKey)
        guard await Support.waitUntil(.seconds(10), { server.pid != nil && Support.canConnect(port: port) }) else {
            throw Failure.setup("sshd did not come up: \(Support.read(dir + "/sshd.log"))")
        }
        return server
    }

    static func check(_ outcome: TransportOutcome, _ what: String) throws {
        guard outcome.termination == .exited(code: 0) else {
            throw Failure.setup("\(what): \(outcome.termination) \(outcome.stderr.text)")
        }
    }

    public var pid: pid_t? {
        Int32(Support.read(dir + "/sshd.pid").trimmingCharacters(in: .whitespacesAndNewlines))
    }

    public var destination: SSHDestination {
        try! SSHDestination(user: Support.userName, host: HostName("127.0.0.1"), port: port)
    }

    /// The host key's fingerprint as ssh-keygen prints it for the public key file.
    public func hostFingerprint() async -> String {
        let out = await Support.run(["ssh-keygen", "-l", "-f", hostKey + ".pub"])
        return String(out.stdout.text.split(separator: " ")[1])
    }

    /// Drops every client connection as a network failure would (SIGKILL to each session process; the
    /// listener stays). Returns how many were dropped.
    @discardableResult
    public func dropConnections() -> Int {
        guard let pid else { return 0 }
        let sessions = Support.children(of: pid)
        for session in sessions { kill(session, SIGKILL) }
        return sessions.count
    }

    /// SIGTERM to the recorded pid, then wait until the port is closed.
    public func stop() async {
        guard let pid else { return }
        kill(pid, SIGTERM)
        _ = await Support.waitUntil { kill(pid, 0) != 0 && !Support.canConnect(port: self.port) }
    }
}
