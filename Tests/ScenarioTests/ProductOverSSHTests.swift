import Foundation
import Glibc
import Testing
@testable import Executor
import TestKit
import Workflow

/// The product against a real `sshd` on loopback (an unknown host key, the canary under strace) and a
/// silent host in a network namespace: the CLI's words for what an operator meets over ssh.
@Suite(.serialized) struct ProductOverSSHTests {
    @Test func unknownHostKeyMessageShowsFingerprintAndEnrolment() async throws {
        let root = Support.temporaryDirectory()
        let server = try await SSHServer.start(in: root)
        let target = server.destination.description
        let out = await Support.run([Support.productBinary, "exec", "--state-dir", root + "/s", "--identity", server.clientKey,
                                     "--target", target, "--", "true"])
        let fingerprint = await server.hostFingerprint()
        #expect(out.termination == .exited(code: 4))
        #expect(out.stderr.text.contains(fingerprint))
        #expect(out.stderr.text.contains("rabbit-wizard known-hosts add \(target) --fingerprint \(fingerprint)"))
        // The enrolment path the message names, then the command goes through.
        let wrong = await Support.run([Support.productBinary, "known-hosts", "add", target, "--state-dir", root + "/s",
                                       "--fingerprint", "SHA256:not-it"])
        #expect(wrong.termination == .exited(code: 4))
        let noConfirm = await Support.run([Support.productBinary, "known-hosts", "add", target, "--state-dir", root + "/s"])
        #expect(noConfirm.termination == .exited(code: 3))
        let add = await Support.run([Support.productBinary, "known-hosts", "add", target, "--state-dir", root + "/s",
                                     "--fingerprint", fingerprint])
        #expect(add.termination == .exited(code: 0), "\(add.stderr.text)")
        let again = await Support.run([Support.productBinary, "exec", "--state-dir", root + "/s", "--identity", server.clientKey,
                                       "--target", target, "--", "echo", "reached"])
        #expect(again.stdout.text == "reached\n")
        await server.stop()
        Support.remove(root)
    }

    /// The canary travels on stdin to a local and a remote command; strace records every execve with
    /// its full argv and environment. The canary must be in none of them, nor in the log or the output.
    @Test func canarySecretIsInNoArgvEnvironmentLogOrOutput() async throws {
        let root = Support.temporaryDirectory()
        let server = try await SSHServer.start(in: root)
        let state = root + "/s"
        let canary = Support.canary()
        Support.write(canary + "\n", to: root + "/secret")
        let add = await Support.run([Support.productBinary, "known-hosts", "add", server.destination.description, "--state-dir", state,
                                     "--fingerprint", await server.hostFingerprint()])
        #expect(add.termination == .exited(code: 0))
        // The remote side too: trace sshd and everything it spawns for the remote run.
        let sshdTrace = root + "/trace-sshd"
        let tracer = await Support.run(["sh", "-c", "strace -f -e trace=execve -v -s 4096 -o \"$0\" -p \"$1\" >/dev/null 2>&1 & echo $!",
                                        sshdTrace, String(try #require(server.pid))])
        let tracerPid = try #require(Int32(tracer.stdout.text.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(await Support.waitUntil { FileManager.default.fileExists(atPath: sshdTrace) })
        var outputs = ""
        for target in ["local", server.destination.description] {
            let trace = root + "/trace-\(outputs.count)"
            let out = await Support.run(
                ["strace", "-f", "-e", "trace=execve", "-v", "-s", "4096", "-o", trace, "--",
                 Support.productBinary, "exec", "--state-dir", state, "--identity", server.clientKey, "--target", target,
                 "--secret-stdin-file", root + "/secret", "--", "sh", "-c", "cat; cat \"$0\" >&2", root + "/secret"],
                timeout: .seconds(60))
            #expect(out.termination == .exited(code: 0), "\(target): \(out.stderr.text)")
            let traced = Support.read(trace)
            #expect(traced.contains("execve("), "strace recorded nothing for \(target)")
            #expect(Support.lacks(traced, canary), "canary in an execve argv or environment (\(target))")
            #expect(out.stdout.text == "<redacted>\n")
            #expect(out.stderr.text == "<redacted>\n")
            outputs += out.stdout.text + out.stderr.text
        }
        kill(tracerPid, SIGINT)
        #expect(await Support.waitUntil { kill(tracerPid, 0) != 0 })
        let remote = Support.read(sshdTrace)
        #expect(remote.contains("\"-c\", \"d=$1;"), "the remote sh -c script was traced")
        #expect(Support.lacks(remote, canary), "canary in a remote execve argv or environment")
        #expect(Support.lacks(outputs, canary))
        #expect(Support.lacks(Support.read(state + "/commands.jsonl"), canary))
        #expect(Support.read(state + "/commands.jsonl").contains("<secret, \(canary.utf8.count + 1) bytes>"))
        await server.stop()
        Support.remove(root)
    }

    /// A host that drops packets (no RST, no ICMP): ssh's connect time-out ends the attempt and the words say
    /// unreachable, not a hang. The silent address lives in a network namespace this test makes: a veth pair
    /// whose neighbour entry for 10.233.9.2 names a MAC nobody has, so every SYN is dropped.
    @Test func aSilentHostIsUnreachableWithinTheConnectTimeout() async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        let ns = "rwt-drop-\(getpid())"
        let made = await Support.run(["sh", "-c", """
            ip netns add "$0" && ip netns exec "$0" sh -c 'ip link set lo up && ip link add va type veth peer name vb && \\
              ip addr add 10.233.9.1/24 dev va && ip link set va up && ip link set vb up && \\
              ip neigh replace 10.233.9.2 lladdr 02:00:00:00:00:01 nud permanent dev va'
            """, ns])
        #expect(made.termination == .exited(code: 0), "\(made.stderr.text)")
        let out = await Support.run(["ip", "netns", "exec", ns, Support.productBinary, "exec", "--state-dir", root + "/s",
                                     "--target", "ssh://root@10.233.9.2:22", "--", "true"], timeout: .seconds(60))
        #expect(out.termination == .exited(code: 4), "\(out.termination): \(out.stderr.text)")
        #expect(out.stderr.text.contains("ssh://root@10.233.9.2 is unreachable") && out.stderr.text.contains("Connection timed out"),
                "\(out.stderr.text)")
        // Nothing above throws: the namespace is always removed here.
        _ = await Support.run(["ip", "netns", "del", ns])
    }
}
